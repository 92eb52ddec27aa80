import { readFileSync, writeFileSync } from 'node:fs';
import { withGeneratedParts } from './readme-tables.js';

// `npm run readme`: rewrites the generated parts of README.md (see readme-tables.ts).
const path = new URL('../../README.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withGeneratedParts(before);
if (after !== before) writeFileSync(path, after);
console.log(after === before ? 'README.md is up to date' : 'README.md rewritten');
