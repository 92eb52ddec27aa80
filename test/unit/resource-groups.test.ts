import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCE_GROUP_CATALOGUE, RESOURCE_GROUPS, SCOPE_PREFIX } from '../../functions/core/resource-groups.js';
import { withGeneratedParts } from '../../infra/local/readme-tables.js';
import { GOOD_TOKEN, startApiOnFakes } from '../fixtures/api-server.js';

/** Issue 14: the resource-group catalogue, served, used by the connect validation, and in the README. */
let server: Awaited<ReturnType<typeof startApiOnFakes>>;
beforeAll(async () => {
  server = await startApiOnFakes();
});
afterAll(() => server.close());

const post = (path: string, body: unknown) =>
  fetch(server.base + path, { method: 'POST', headers: { Authorization: `Bearer ${GOOD_TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

describe('resource-group catalogue', () => {
  it('lists every advertised group once, with a title, its scope and what it supports', () => {
    expect(RESOURCE_GROUP_CATALOGUE.map((g) => g.name)).toEqual([...RESOURCE_GROUPS]);
    for (const g of RESOURCE_GROUP_CATALOGUE) {
      expect(g.title.length, g.name).toBeGreaterThan(3);
      expect(g.scopes).toEqual([SCOPE_PREFIX + g.name]);
      expect(g.timeFilter, g.name).toBe(/^myactivity\.|^play\.|^chrome\.history$/.test(g.name));
    }
    expect(new Set(RESOURCE_GROUP_CATALOGUE.map((g) => g.title)).size).toBe(RESOURCE_GROUP_CATALOGUE.length);
  });

  it('GET /v1/resourceGroups answers the catalogue (authenticated like every route)', async () => {
    const res = await fetch(`${server.base}/v1/resourceGroups`, { headers: { Authorization: `Bearer ${GOOD_TOKEN}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { resourceGroups: unknown[] };
    expect(body.resourceGroups).toEqual(JSON.parse(JSON.stringify(RESOURCE_GROUP_CATALOGUE)));
    expect(body.resourceGroups).toContainEqual({
      name: 'myactivity.search',
      title: 'My Activity: Search',
      scopes: ['https://www.googleapis.com/auth/dataportability.myactivity.search'],
      timeBased: true,
      timeFilter: true,
    });
    expect((await fetch(`${server.base}/v1/resourceGroups`)).status).toBe(401);
  });

  it('a connect session names only catalogue groups (or a legacy one); the refusal points to the catalogue', async () => {
    const session = { appUserId: 'user-1', returnUrl: 'https://app.example.com/connected' };
    const refused = await post('/v1/connectSessions', { ...session, resources: ['myactivity.search', 'gmail.messages'] });
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as { error: { details: { fieldViolations?: { field: string; description: string }[] }[] } };
    expect(body.error.details.flatMap((d) => d.fieldViolations ?? [])).toEqual([
      { field: 'resources[1]', description: '"gmail.messages" is not a Data Portability resource group (GET /v1/resourceGroups lists them)' },
    ]);
    expect((await post('/v1/connectSessions', { ...session, resources: ['maps.post_trip_feedback'] })).status).toBe(200);
  });

  it('the README table is generated from the catalogue, and differs from it in nothing', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(withGeneratedParts(readme), 'README.md is out of date: run npm run readme').toBe(readme);
    for (const g of RESOURCE_GROUP_CATALOGUE) expect(readme).toContain(`| \`${g.name}\` | ${g.title} |`);
    // The check can fail: a README with a row dropped or a title changed is rewritten.
    const row = readme.split('\n').find((l) => l.startsWith('| `myactivity.search`'))!;
    expect(withGeneratedParts(readme.replace(`${row}\n`, ''))).toBe(readme);
    expect(withGeneratedParts(readme.replace('My Activity: Search', 'Search history'))).not.toBe(readme.replace('My Activity: Search', 'Search history'));
  });
});
