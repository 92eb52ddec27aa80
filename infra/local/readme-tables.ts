import { RESOURCE_GROUP_CATALOGUE } from '../../functions/core/resource-groups.js';

/**
 * The README's generated parts: each lives between a start and an end marker, and
 * `npm run readme` rewrites it from the code (test/unit/readme-tables.test.ts fails when the
 * README and the code differ).
 */
interface Generated {
  readonly name: string;
  readonly render: () => string;
}

const GENERATED: readonly Generated[] = [{ name: 'resource-groups', render: resourceGroupTable }];

/** The resource-group catalogue (`GET /v1/resourceGroups`) as a Markdown table. */
function resourceGroupTable(): string {
  const rows = RESOURCE_GROUP_CATALOGUE.map((g) => `| \`${g.name}\` | ${g.title} | ${g.timeBased ? 'yes' : 'no'} | ${g.timeFilter ? 'yes' : 'no'} |`);
  return ['| group | title | 30/180 days | time filter |', '|---|---|---|---|', ...rows].join('\n');
}

const start = (name: string) => `<!-- generated:${name} (npm run readme rewrites this part; do not edit it by hand) -->`;
const end = (name: string) => `<!-- /generated:${name} -->`;

/** The README with every generated part rewritten; throws when a part's markers are missing. */
export function withGeneratedParts(readme: string): string {
  let out = readme;
  for (const { name, render } of GENERATED) {
    const from = out.indexOf(start(name));
    const to = out.indexOf(end(name));
    if (from < 0 || to < from) throw new Error(`README.md has no ${start(name)} … ${end(name)} markers`);
    out = `${out.slice(0, from)}${start(name)}\n${render()}\n${out.slice(to)}`;
  }
  return out;
}
