import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FUNCTION_NAMES, variablesFor } from '../../functions/platform/config.js';

const README = join(import.meta.dirname, '..', '..', 'README.md');
const BEGIN = '<!-- variables-per-function: generated from variablesFor (functions/platform/config.ts); UPDATE_README=1 npx vitest run test/unit/readme-config.test.ts -->';
const END = '<!-- /variables-per-function -->';

/** The README's table of each function's variables, from the same tables that parse them. */
function table(): string {
  const code = (names: readonly string[]) => (names.length === 0 ? '–' : names.map((n) => `\`${n}\``).join(', '));
  const rows = FUNCTION_NAMES.map((fn) => {
    const { required, optional, secrets } = variablesFor(fn);
    return `| \`${fn}\` | ${code(required)} | ${code(optional)} | ${code(secrets)} |`;
  });
  return [BEGIN, '| function | required | optional | from Secret Manager |', '|---|---|---|---|', ...rows, END].join('\n');
}

describe('README configuration section', () => {
  it('lists the variables each function needs, as variablesFor does', () => {
    const readme = readFileSync(README, 'utf8');
    const start = readme.indexOf(BEGIN);
    const end = readme.indexOf(END);
    if (process.env['UPDATE_README'] === '1' && start >= 0 && end > start) {
      writeFileSync(README, readme.slice(0, start) + table() + readme.slice(end + END.length));
      return;
    }
    expect(start, 'the README has the generated table').toBeGreaterThanOrEqual(0);
    expect(readme.slice(start, end + END.length)).toBe(table());
  });
});
