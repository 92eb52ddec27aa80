import { Writable } from 'node:stream';
import type { Request } from '@google-cloud/functions-framework';
import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../functions/core/consent/model.js';
import { newJob, jobId, type ExportJob } from '../../functions/core/exports/model.js';
import type { RecordStore } from '../../functions/core/ports/record-store.js';
import { tenantSecretId, type Tenant } from '../../functions/core/tenants/model.js';
import { checkPlatformAddress } from '../../functions/core/tenants/tenants.js';
import { api } from '../../functions/entrypoints/api.js';
import { parseConfig } from '../../functions/platform/config.js';
import { createLogger } from '../../functions/platform/logger.js';
import { Runtime } from '../../functions/platform/runtime.js';
import { FakeExportSource } from '../fakes/fake-export-source.js';
import { ManualClock } from '../fakes/fake-oauth.js';
import { MemoryRecordStore } from '../fakes/memory-record-store.js';
import { MemoryWorkQueue } from '../fakes/memory-work-queue.js';
import { developmentEnv } from '../fixtures/env.js';

const ALLOWED = 'https://api.mews-demo.com';
const CLIENT_TOKEN = 'E0D439EE522F44368DC78E1BFB03710C-D24FB11DBE31D4621C4817E028D9E1D';
const ACCESS_TOKEN = 'C66EF7B239D24632943D115EDE9CB810-EA00F8FD8294692C940F6B5A8F9453D';

function apiWithFakes(env: Record<string, string> = {}) {
  const clock = new ManualClock();
  const stores = new Map<string, MemoryRecordStore<unknown>>();
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString('utf8')), done()) });
  const rt = new Runtime(parseConfig(developmentEnv({ MEWS_PLATFORM_ALLOWLIST: ALLOWED, ...env })), createLogger({ log: { level: 'debug', format: 'json' } }, sink), {
    clock,
    queue: new MemoryWorkQueue(),
    source: new FakeExportSource(),
    callers: { verify: async () => ({ email: 'backend@my-project-1.iam.gserviceaccount.com' }) },
    store: <T>(name: string) => {
      if (!stores.has(name)) stores.set(name, new MemoryRecordStore<unknown>());
      return stores.get(name) as unknown as RecordStore<T>;
    },
  });
  const fn = api(rt);
  const call = async (method: string, path: string, body?: unknown, query: Record<string, string> = {}) => {
    const res = { statusCode: 0, body: undefined as unknown };
    const response = {
      status: (code: number) => ((res.statusCode = code), response),
      set: () => response,
      type: () => response,
      json: (b: unknown) => ((res.body = b), response),
      send: (b: unknown) => ((res.body = b), response),
      end: () => response,
    };
    await fn({ method, path, url: path, headers: { authorization: 'Bearer x' }, query, body } as unknown as Request, response as never);
    return res as { statusCode: number; body: Record<string, unknown> & { error?: { details: { fieldViolations?: { field: string }[] }[] } } };
  };
  return { call, rt, lines, tenants: () => rt.store<Tenant>('tenants'), audit: () => rt.store<AuditEntry>('audit'), jobs: () => rt.store<ExportJob>('jobs') };
}

const register = { source: 'mews', displayName: 'Hotel Ambiance', platformAddress: `${ALLOWED}/`, clientToken: CLIENT_TOKEN, accessToken: ACCESS_TOKEN };

describe('tenants API (Mews tenants authorised by API keys)', () => {
  it('registers a tenant: keys sealed for that tenant, never returned nor logged; get, list (paged) and audit', async () => {
    const t = apiWithFakes();
    const created = await t.call('POST', '/v1/tenants', register);
    expect(created.statusCode).toBe(200);
    expect(created.body).toMatchObject({ source: 'mews', displayName: 'Hotel Ambiance', platformAddress: ALLOWED, state: 'ACTIVE' });
    const id = String(created.body['name']).split('/')[1]!;
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    const stored = (await t.tenants().get(id))!;
    expect(JSON.stringify(stored)).not.toContain(CLIENT_TOKEN);
    expect(JSON.stringify(stored)).not.toContain(ACCESS_TOKEN);
    const opened = JSON.parse(await t.rt.consentDeps().vault.open(stored.tokens!, tenantSecretId(id))) as Record<string, string>;
    expect(opened).toEqual({ clientToken: CLIENT_TOKEN, accessToken: ACCESS_TOKEN });
    // Bound to this tenant: the ciphertext does not open as another record's.
    await expect(t.rt.consentDeps().vault.open(stored.tokens!, tenantSecretId('other'))).rejects.toMatchObject({ code: 'INTERNAL' });

    expect(await t.call('GET', `/v1/tenants/${id}`)).toMatchObject({ statusCode: 200, body: { name: `tenants/${id}`, state: 'ACTIVE' } });
    await t.call('POST', '/v1/tenants', { ...register, displayName: 'Second' });
    await t.call('POST', '/v1/tenants', { ...register, displayName: 'Third' });
    const first = await t.call('GET', '/v1/tenants', undefined, { pageSize: '2' });
    expect((first.body['tenants'] as unknown[]).length).toBe(2);
    const rest = await t.call('GET', '/v1/tenants', undefined, { pageSize: '2', pageToken: String(first.body['nextPageToken']) });
    expect((rest.body['tenants'] as unknown[]).length).toBe(1);
    expect(rest.body['nextPageToken']).toBeUndefined();
    for (const answer of [created, first, rest]) expect(JSON.stringify(answer.body)).not.toMatch(/E0D439EE|C66EF7B2|clientToken|accessToken/);
    expect(t.lines.join('\n')).not.toMatch(/E0D439EE|C66EF7B2/);
    expect(await t.audit().get(`tenant.created~${id}`)).toMatchObject({
      action: 'tenant.created',
      subject: `tenants/${id}`,
      actor: 'backend@my-project-1.iam.gserviceaccount.com',
    });
  });

  it('refuses a platform address off the allow-list, one that is not https in production, and bad fields, naming the field', async () => {
    const t = apiWithFakes();
    const field = async (body: unknown) => {
      const res = await t.call('POST', '/v1/tenants', body);
      expect(res.statusCode).toBe(400);
      expect(JSON.stringify(res.body)).not.toMatch(/E0D439EE|C66EF7B2/);
      return res.body.error?.details.flatMap((d) => d.fieldViolations ?? []).map((v) => v.field);
    };
    expect(await field({ ...register, platformAddress: 'https://api.mews-demo.com.evil.example' })).toEqual(['platformAddress']);
    expect(await field({ ...register, platformAddress: 'https://user:pw@api.mews-demo.com' })).toEqual(['platformAddress']);
    expect(await field({ ...register, source: 'google' })).toEqual(['source']);
    expect(await field({ ...register, clientToken: '' })).toEqual(['clientToken']);
    expect(await field({ ...register, extra: 1 })).toHaveLength(1);
    const { accessToken: _omitted, ...noAccess } = register;
    expect(await field(noAccess)).toEqual(['accessToken']);
    expect(t.lines.join('\n')).not.toMatch(/E0D439EE|C66EF7B2/);

    const http = apiWithFakes({ MEWS_PLATFORM_ALLOWLIST: 'http://127.0.0.1:9000/mews' });
    expect((await http.call('POST', '/v1/tenants', { ...register, platformAddress: 'http://127.0.0.1:9000/mews' })).statusCode).toBe(200);
    // Production requires https even for an allow-listed address.
    const production = { platformAllowlist: ['http://127.0.0.1:9000/mews'], requireHttps: true };
    expect(() => checkPlatformAddress(production, 'http://127.0.0.1:9000/mews')).toThrow(/platformAddress: must be an https URL/);
    expect(checkPlatformAddress({ platformAllowlist: [ALLOWED], requireHttps: true }, `${ALLOWED}/`)).toBe(ALLOWED);
  });

  it('deletes a tenant: its running exports end, its sealed keys are deleted, the deletion is audited; again is harmless', async () => {
    const t = apiWithFakes();
    const id = String((await t.call('POST', '/v1/tenants', register)).body['name']).split('/')[1]!;
    const now = t.rt.clock.now();
    const running = jobId(id, 'Reservation', 's');
    await t.jobs().create(running, { ...newJob({ source: 'mews', consentId: id, appUserId: '', resource: 'Reservation', slot: 's', startTime: null, endTime: null }, now) });
    const deleted = await t.call('DELETE', `/v1/tenants/${id}`);
    expect(deleted).toMatchObject({ statusCode: 200, body: { state: 'DELETED' } });
    expect((await t.tenants().get(id))?.tokens).toBeNull();
    expect(await t.jobs().get(running)).toMatchObject({ state: 'ABORTED', endReason: 'CONSENT_ENDED', detail: 'tenant deleted' });
    expect(await t.audit().get(`tenant.deleted~${id}`)).toMatchObject({ action: 'tenant.deleted', subject: `tenants/${id}` });
    expect(await t.call('DELETE', `/v1/tenants/${id}`)).toMatchObject({ statusCode: 200, body: { state: 'DELETED' } });
    expect((await t.call('GET', `/v1/tenants/${'0'.repeat(32)}`)).statusCode).toBe(404);
    expect((await t.call('GET', '/v1/tenants/not-an-id')).statusCode).toBe(400);
  });
});

describe("a tenant's schedule (POST /v1/tenants schedule, PATCH /v1/tenants/{id} with updateMask)", () => {
  const violations = (res: { body: { error?: { details: { fieldViolations?: { field: string }[] }[] } } }) =>
    res.body.error?.details.flatMap((d) => d.fieldViolations ?? []).map((v) => v.field);

  it('a schedule given at registration is shown and due at once (or at its nextExportTime); none given: no schedule, never due', async () => {
    const t = apiWithFakes();
    const now = t.rt.clock.now();
    const created = await t.call('POST', '/v1/tenants', { ...register, schedule: { entityTypes: ['Reservation', 'Customer', 'Reservation'] } });
    expect(created.statusCode).toBe(200);
    expect(created.body['schedule']).toEqual({ entityTypes: ['Reservation', 'Customer'], intervalHours: 24, paused: false, nextExportTime: now.toISOString() });
    const id = String(created.body['name']).split('/')[1]!;
    expect((await t.tenants().get(id))?.dueAt).toEqual(now);
    expect((await t.call('GET', `/v1/tenants/${id}`)).body['schedule']).toEqual(created.body['schedule']);

    const at = new Date(now.getTime() + 3_600_000).toISOString();
    const hourly = await t.call('POST', '/v1/tenants', { ...register, schedule: { entityTypes: ['Payment'], intervalHours: 1, paused: true, nextExportTime: at } });
    expect(hourly.body['schedule']).toEqual({ entityTypes: ['Payment'], intervalHours: 1, paused: true, nextExportTime: at });
    expect((await t.tenants().get(String(hourly.body['name']).split('/')[1]!))?.dueAt).toBeNull();

    const plain = await t.call('POST', '/v1/tenants', register);
    expect(plain.body['schedule']).toBeUndefined();
    expect((await t.tenants().get(String(plain.body['name']).split('/')[1]!))?.dueAt).toBeNull();
  });

  it('refuses a bad schedule at registration, naming the field', async () => {
    const t = apiWithFakes();
    const post = async (schedule: unknown) => {
      const res = await t.call('POST', '/v1/tenants', { ...register, schedule });
      expect(res.statusCode).toBe(400);
      return violations(res);
    };
    expect(await post({ entityTypes: ['Reservation', 'Nope'] })).toEqual(['schedule.entityTypes[1]']);
    expect(await post({ entityTypes: [] })).toEqual(['schedule.entityTypes']);
    expect(await post({ intervalHours: 24 })).toEqual(['schedule.entityTypes']);
    expect(await post({ entityTypes: ['Payment'], intervalHours: 0 })).toEqual(['schedule.intervalHours']);
    expect(await post({ entityTypes: ['Payment'], intervalHours: 1.5 })).toEqual(['schedule.intervalHours']);
    expect(await post({ entityTypes: ['Payment'], intervalHours: 24 * 367 })).toEqual(['schedule.intervalHours']);
    expect(await post({ entityTypes: ['Payment'], nextExportTime: 'tomorrow' })).toEqual(['schedule.nextExportTime']);
    expect(await post({ entityTypes: ['Payment'], nextExportTime: '2099-01-01T00:00:00Z' })).toEqual(['schedule.nextExportTime']);
    expect(await post({ entityTypes: ['Payment'], every: 'day' })).toEqual(['schedule.every']);
    expect((await t.tenants().list({ pageSize: 10 })).items).toHaveLength(0);
  });

  it('PATCH changes the fields the mask names: pause, resume, interval, entity types, next export time, display name; set and remove the whole schedule', async () => {
    const t = apiWithFakes();
    const now = t.rt.clock.now();
    const id = String((await t.call('POST', '/v1/tenants', { ...register, schedule: { entityTypes: ['Reservation'] } })).body['name']).split('/')[1]!;
    const patch = (updateMask: string, body: unknown) => t.call('PATCH', `/v1/tenants/${id}`, body, { updateMask });

    const paused = await patch('schedule.paused', { schedule: { paused: true, intervalHours: 2 } });
    expect(paused).toMatchObject({ statusCode: 200, body: { schedule: { paused: true, intervalHours: 24, nextExportTime: now.toISOString() } } });
    expect((await t.tenants().get(id))?.dueAt).toBeNull();
    const resumed = await patch('schedule.paused,schedule.intervalHours', { schedule: { paused: false, intervalHours: 2 } });
    expect(resumed.body['schedule']).toMatchObject({ paused: false, intervalHours: 2 });
    expect((await t.tenants().get(id))?.dueAt).toEqual(now);

    const at = new Date(now.getTime() + 86_400_000);
    const moved = await patch('schedule.nextExportTime, schedule.entityTypes,displayName', {
      displayName: 'Renamed',
      schedule: { nextExportTime: at.toISOString(), entityTypes: ['Payment', 'Customer'] },
    });
    expect(moved.body).toMatchObject({ displayName: 'Renamed', schedule: { entityTypes: ['Payment', 'Customer'], nextExportTime: at.toISOString(), intervalHours: 2 } });
    expect((await t.tenants().get(id))?.dueAt).toEqual(at);

    expect((await patch('schedule', { schedule: null })).body['schedule']).toBeUndefined();
    expect((await t.tenants().get(id))?.dueAt).toBeNull();
    // Without a schedule, a field of it cannot be changed; the whole schedule can be set.
    const missing = await patch('schedule.paused', { schedule: { paused: false } });
    expect(missing.statusCode).toBe(400);
    expect(missing.body.error).toMatchObject({ status: 'FAILED_PRECONDITION' });
    expect(violations(missing)).toEqual(['schedule']);
    const set = await patch('schedule', { schedule: { entityTypes: ['OrderItem'], intervalHours: 12 } });
    expect(set.body['schedule']).toEqual({ entityTypes: ['OrderItem'], intervalHours: 12, paused: false, nextExportTime: now.toISOString() });
    expect((await t.call('GET', `/v1/tenants/${id}`)).body['schedule']).toEqual(set.body['schedule']);
  });

  it('PATCH refuses unknown mask paths, fields named but not given, bad values, and a deleted tenant, naming the field', async () => {
    const t = apiWithFakes();
    const id = String((await t.call('POST', '/v1/tenants', { ...register, schedule: { entityTypes: ['Reservation'] } })).body['name']).split('/')[1]!;
    const before = await t.tenants().get(id);
    const refused = async (updateMask: string | undefined, body: unknown) => {
      const res = await t.call('PATCH', `/v1/tenants/${id}`, body, updateMask === undefined ? {} : { updateMask });
      expect(res.statusCode).toBe(400);
      return violations(res);
    };
    expect(await refused('schedule.cron', { schedule: { paused: true } })).toEqual(['updateMask']);
    expect(await refused('platformAddress', { schedule: { paused: true } })).toEqual(['updateMask']);
    expect(await refused(undefined, { schedule: { paused: true } })).toEqual(['updateMask']);
    expect(await refused(' , ', { schedule: { paused: true } })).toEqual(['updateMask']);
    expect(await refused('schedule,schedule.paused', { schedule: { entityTypes: ['Payment'], paused: true } })).toEqual(['updateMask']);
    expect(await refused('schedule.intervalHours', { schedule: { paused: true } })).toEqual(['schedule.intervalHours']);
    expect(await refused('displayName', {})).toEqual(['displayName']);
    expect(await refused('schedule', {})).toEqual(['schedule']);
    expect(await refused('schedule.intervalHours', { schedule: { intervalHours: 0 } })).toEqual(['schedule.intervalHours']);
    expect(await refused('schedule.paused', { schedule: { paused: 'yes' } })).toEqual(['schedule.paused']);
    expect(await refused('schedule.entityTypes', { schedule: { entityTypes: ['Reservation', 'Bogus'] } })).toEqual(['schedule.entityTypes[1]']);
    expect(await refused('schedule.nextExportTime', { schedule: { nextExportTime: '2026-13-01T00:00:00Z' } })).toEqual(['schedule.nextExportTime']);
    expect(await refused('schedule', { schedule: { intervalHours: 5 } })).toEqual(['schedule.entityTypes']);
    expect(await refused('schedule.paused', { schedule: { paused: true }, clientToken: 'x' })).toEqual(['clientToken']);
    expect(await t.tenants().get(id)).toEqual(before);

    expect((await t.call('PATCH', `/v1/tenants/${'0'.repeat(32)}`, { schedule: { paused: true } }, { updateMask: 'schedule.paused' })).statusCode).toBe(404);
    const deleted = await t.call('DELETE', `/v1/tenants/${id}`);
    expect(deleted.body['schedule']).toEqual({ entityTypes: ['Reservation'], intervalHours: 24, paused: false });
    expect((await t.tenants().get(id))?.dueAt).toBeNull();
    const late = await t.call('PATCH', `/v1/tenants/${id}`, { schedule: { paused: false } }, { updateMask: 'schedule.paused' });
    expect(late.statusCode).toBe(400);
    expect(late.body.error).toMatchObject({ status: 'FAILED_PRECONDITION' });
  });
});
