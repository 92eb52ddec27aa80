import { describe, expect, it } from 'vitest';
import { ConsentCredentials } from '../../../functions/core/consent/credentials.js';
import type { AppError } from '../../../functions/core/errors.js';
import { initiateExport } from '../../../functions/core/exports/initiate.js';
import { cancelExport, listExports } from '../../../functions/core/exports/manage.js';
import { jobId } from '../../../functions/core/exports/model.js';
import { pollExport } from '../../../functions/core/exports/poll.js';
import { requestExports, requestTenantExports } from '../../../functions/core/exports/request.js';
import { transferFile } from '../../../functions/core/exports/transfer.js';
import { Upstream } from '../../../functions/core/sources/upstream.js';
import { TenantCredentials } from '../../../functions/core/tenants/credentials.js';
import { tenantSecretId, type Tenant } from '../../../functions/core/tenants/model.js';
import { createExportsBody, listExportsQuery } from '../../../functions/entrypoints/schemas.js';
import { parseWith } from '../../../functions/platform/validation.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';
import { FakeConsentTokens } from '../../fakes/fake-consent-tokens.js';
import { FakeExportSource, fakeAccessToken } from '../../fakes/fake-export-source.js';

// A tenant's exports (issue 15) through the unchanged core: one job per entity type on the
// tenant's source, objects under the tenant's folder, events and resources naming the tenant, and
// nothing of a consent's one-time grant logic applied to them.

const TENANT = 'a'.repeat(32);
const UNITS = ['Reservation', 'Customer', 'Payment'];

async function tenantEnv(status: Tenant['status'] = 'ACTIVE') {
  const env = await exportDepsWithFakes();
  const { deps, clock, consents, tenants, queue } = env;
  const tenantSource = new FakeExportSource();
  await tenants.create(TENANT, {
    source: 'mews',
    displayName: 'Hotel',
    platformAddress: 'https://api.example.test',
    tokens: await deps.vault.seal(JSON.stringify({ clientToken: 'ct', accessToken: fakeAccessToken(TENANT) }), tenantSecretId(TENANT)),
    status,
    createdAt: clock.now(),
    updatedAt: clock.now(),
  });
  const upstream = new Upstream({
    google: { source: env.source, credentials: new ConsentCredentials({ consents, tokens: new FakeConsentTokens({ clock, consents, queue }) }) },
    mews: { source: tenantSource, credentials: new TenantCredentials({ tenants, vault: deps.vault, clock }), units: UNITS },
  });
  return { ...env, deps: { ...deps, upstream }, tenantSource };
}
type Env = Awaited<ReturnType<typeof tenantEnv>>;

const ask = (env: Env, entityTypes: string[], slot = 'request:r1') => requestTenantExports(env.deps, { tenantId: TENANT, entityTypes, slot });
const errorOf = async (p: Promise<unknown>) => p.then(() => null).catch((e: unknown) => e as AppError);
const events = (env: Env) => env.queue.on('export-events').map((m) => m.data as { type: string; subject: string; data: Record<string, unknown> });

/** One job of the tenant started, complete upstream with the given JSON Lines files, and polled. */
async function transferring(env: Env, files: string[]) {
  const { exports } = await ask(env, ['Reservation']);
  const id = exports[0]!.name.split('/')[1]!;
  expect(await initiateExport(env.deps, id)).toBe('started');
  const upstreamId = (await env.jobs.get(id))!.upstreamId!;
  const named = files.map((body, i) => {
    const url = `https://files.example.test/${upstreamId}/${i}?token=t`;
    env.downloader.archives.set(url, Buffer.from(body));
    return { name: `Reservation-${String(i + 1).padStart(3, '0')}.jsonl`, url };
  });
  env.tenantSource.complete(upstreamId, named);
  env.clock.advance(10_000);
  expect(await pollExport(env.deps, id)).toBe('complete');
  return id;
}

describe("a tenant's export request (core, on fakes)", () => {
  it('makes one job per entity type (duplicates dropped) on the tenant source, with ids a repeated request finds again', async () => {
    const env = await tenantEnv();
    const first = await ask(env, ['Reservation', 'Customer', 'Reservation']);
    expect(first.exports.map((e) => e.resource)).toEqual(['Reservation', 'Customer']);
    for (const e of first.exports) {
      expect(e).toMatchObject({ source: 'mews', tenant: `tenants/${TENANT}`, state: 'PENDING' });
      expect(e).not.toHaveProperty('consent');
    }
    expect(env.queue.on('export-requested')).toHaveLength(2);
    const again = await ask(env, ['Reservation', 'Customer']);
    expect(again.exports.map((e) => e.name)).toEqual(first.exports.map((e) => e.name));
    expect(env.jobs.size()).toBe(2);
    expect(first.exports[0]!.name).toBe(`exports/${jobId(TENANT, 'Reservation', 'request:r1')}`);
  });

  it("a bundle of a tenant's request names the tenant and is written under the tenant's folder", async () => {
    const env = await tenantEnv();
    const { bundle } = await requestTenantExports(env.deps, { tenantId: TENANT, entityTypes: ['Reservation', 'Customer'], slot: 'request:b', bundle: 'zip' });
    expect(bundle).toMatchObject({ subject: `tenants/${TENANT}`, format: 'zip', state: 'WAITING' });
    expect(bundle?.exports).toHaveLength(2);
    expect(bundle?.object.startsWith(`exports/tenants/${TENANT}/bundles/`)).toBe(true);
  });

  it('while an export of an entity type runs, another request gets that one back (one lane per tenant and type)', async () => {
    const env = await tenantEnv();
    const first = await ask(env, ['Reservation'], 'request:a');
    const second = await ask(env, ['Reservation', 'Payment'], 'request:b');
    expect(second.exports[0]!.name).toBe(first.exports[0]!.name);
    expect(env.jobs.size()).toBe(2);
  });

  it('refuses entity types its source does not export and an empty list, naming each; an unknown tenant is NOT_FOUND, a parked one FAILED_PRECONDITION', async () => {
    const env = await tenantEnv();
    const bad = await errorOf(ask(env, ['Reservation', 'Spaceship', 'customer']));
    expect(bad?.code).toBe('INVALID_ARGUMENT');
    expect(bad?.violations.map((v) => v.field)).toEqual(['entityTypes[1]', 'entityTypes[2]']);
    expect((await errorOf(ask(env, [])))?.violations.map((v) => v.field)).toEqual(['entityTypes']);
    const unknown = await errorOf(requestTenantExports(env.deps, { tenantId: 'b'.repeat(32), entityTypes: ['Reservation'], slot: 's' }));
    expect(unknown).toMatchObject({ code: 'NOT_FOUND' });
    expect(unknown?.violations.map((v) => v.field)).toEqual(['tenant']);
    expect(env.jobs.size()).toBe(0);
    const parked = await tenantEnv('NEEDS_CREDENTIALS');
    expect(await errorOf(ask(parked, ['Reservation']))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'TENANT_NEEDS_CREDENTIALS' });
  });

  it("runs through initiate, poll and transfer: objects under the tenant's folder, a manifest and events naming the tenant; no grant release", async () => {
    const env = await tenantEnv();
    const lines = ['{"Id":"r1"}\n{"Id":"r2"}\n', '{"Id":"r3"}\n'];
    const id = await transferring(env, lines);
    expect(await transferFile(env.deps, id, 0)).toBe('file_done');
    expect(await transferFile(env.deps, id, 1)).toBe('delivered');
    const job = (await env.jobs.get(id))!;
    expect(job).toMatchObject({ state: 'DELIVERED', grantKind: 'tenant', source: 'mews' });
    expect(env.tenantSource.calls.start).toBe(1);
    expect(env.source.calls.start).toBe(0);
    const folder = `exports/tenants/${TENANT}/Reservation/2026-11-23T12:00:00Z/`;
    expect(job.files.map((f) => f.object)).toEqual([`${folder}Reservation-001.jsonl`, `${folder}Reservation-002.jsonl`]);
    job.files.forEach((f, i) => expect(env.archive.objects.get(f.object)?.data.toString()).toBe(lines[i]));
    expect(job.manifestObject).toBe(`${folder}manifest.json`);
    const manifest = JSON.parse(env.archive.objects.get(job.manifestObject!)!.data.toString()) as Record<string, unknown>;
    expect(manifest).toMatchObject({ tenant: `tenants/${TENANT}`, resource: 'Reservation' });
    expect(manifest).not.toHaveProperty('consent');
    const delivered = events(env).filter((e) => e.type === 'export.delivered');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ subject: `exports/${id}`, data: { tenant: `tenants/${TENANT}`, resource: 'Reservation' } });
    expect(delivered[0]!.data).not.toHaveProperty('consent');
    // Nothing of a consent's one-time grant: no release, the consent c1 untouched.
    expect(env.tenantSource.calls.release + env.source.calls.release).toBe(0);
    expect((await env.consents.get('c1'))?.status).toBe('ACTIVE');
    expect(events(env).map((e) => e.type)).toEqual(['export.delivered']);
    // Listed as the tenant's, not as a consent's of the same id.
    expect((await listExports(env.deps, { consentId: TENANT, grantKind: 'tenant', pageSize: 10 })).exports.map((e) => e.name)).toEqual([`exports/${id}`]);
    expect((await listExports(env.deps, { consentId: TENANT, pageSize: 10 })).exports).toEqual([]);
  });

  it('a tenant deleted while its files are copied stops the copy: the job ends ABORTED, naming the tenant', async () => {
    const env = await tenantEnv();
    const id = await transferring(env, ['{"Id":"r1"}\n']);
    await env.tenants.update(TENANT, (t) => ({ kind: 'put', value: { ...t!, status: 'DELETED', tokens: null }, result: null }));
    expect(await transferFile(env.deps, id, 0)).toBe('ended');
    expect(await env.jobs.get(id)).toMatchObject({ state: 'ABORTED', endReason: 'CONSENT_ENDED', detail: 'tenant is DELETED' });
    expect([...env.archive.objects.keys()].filter((k) => k.includes('/tenants/'))).toEqual([]);
    const failed = events(env).find((e) => e.type === 'export.failed');
    expect(failed?.data).toMatchObject({ tenant: `tenants/${TENANT}`, state: 'ABORTED' });
  });

  it('a cancelled tenant job frees its lane; a consent request is untouched by tenant jobs', async () => {
    const env = await tenantEnv();
    const first = await ask(env, ['Customer'], 'request:a');
    await cancelExport(env.deps, first.exports[0]!.name.split('/')[1]!);
    const next = await ask(env, ['Customer'], 'request:b');
    expect(next.exports[0]!.name).not.toBe(first.exports[0]!.name);
    const consent = await requestExports(env.deps, { consentId: 'c1', slot: 'request:a' });
    for (const e of consent.exports) expect(e).toMatchObject({ consent: 'consents/c1' });
    expect(consent.exports.some((e) => 'tenant' in e)).toBe(false);
  });
});

describe('POST /v1/exports and GET /v1/exports: consent or tenant (request schemas)', () => {
  const fields = (schema: typeof createExportsBody | typeof listExportsQuery, value: unknown) => {
    try {
      parseWith(schema, value);
      return [];
    } catch (e) {
      return (e as AppError).violations.map((v) => `${v.field}: ${v.description}`);
    }
  };
  const tenant = `tenants/${TENANT}`;

  it('takes exactly one of consent and tenant, and only the fields of that kind', () => {
    expect(fields(createExportsBody, { tenant, entityTypes: ['Reservation'], requestId: 'r1', bundle: 'zip' })).toEqual([]);
    expect(fields(createExportsBody, { consent: 'consents/c1', resources: ['myactivity.search'] })).toEqual([]);
    expect(fields(createExportsBody, {})).toEqual(['consent: is required: name a consent or a tenant']);
    expect(fields(createExportsBody, { consent: 'consents/c1', tenant, entityTypes: ['Reservation'] })).toEqual([
      'tenant: must not be given with consent: name a consent or a tenant',
    ]);
    expect(fields(createExportsBody, { tenant })).toEqual(['entityTypes: is required with tenant']);
    expect(fields(createExportsBody, { tenant, entityTypes: ['Reservation'], resources: ['x'], startTime: '2026-01-01T00:00:00Z' })).toEqual([
      "resources: applies to a consent's export, not a tenant's (use entityTypes)",
      "startTime: applies to a consent's export, not a tenant's (use entityTypes)",
    ]);
    expect(fields(createExportsBody, { consent: 'consents/c1', entityTypes: ['Reservation'] })).toEqual([
      "entityTypes: applies to a tenant's export, not a consent's (use resources)",
    ]);
    expect(fields(createExportsBody, { tenant: 'tenants/../x', entityTypes: [] })).toEqual([
      'tenant: must be a tenant name: tenants/{id}',
      'entityTypes: must name at least one entity type',
    ]);
  });

  it('lists by consent or by tenant, one of them', () => {
    expect(fields(listExportsQuery, { tenant })).toEqual([]);
    expect(fields(listExportsQuery, { consent: 'consents/c1', tenant })).toEqual(['tenant: must not be given with consent: name a consent or a tenant']);
  });
});
