import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const CORE = join(import.meta.dirname, '../../functions/core');
const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));

/** Where a source is named in the core: the closed list of names, and the source of records written before there were two. */
const ALLOWED: Record<string, number> = { 'ports/export-source.ts': 2, 'sources/upstream.ts': 1 };

describe('the core serves every export source alike', () => {
  it('names a source only in the list of names and the legacy default: no branch on a particular source', () => {
    const found: Record<string, number> = {};
    for (const file of files(CORE).filter((f) => f.endsWith('.ts'))) {
      const hits = readFileSync(file, 'utf8').match(/(['"`])(google|mews)\1/gi) ?? [];
      if (hits.length > 0) found[relative(CORE, file)] = hits.length;
    }
    expect(found).toEqual(ALLOWED);
  });
});
