// The sandbox's Mews Connector API exports over HTTP: tenants, exports/add and exports/getAll
// shapes, statuses on the sandbox clock, the one-running-export-per-entity-type rule, JSON Lines
// files (sizes, valid lines, Range, determinism), 10-minute file URLs, ExpiresUtc, the 1000-id
// limit, token checks, fault rules (Failed/Expired exports, 5xx/429, cut and paced downloads),
// the call log and the control views.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { advance, call, startTestSandbox } from './helpers.js';
import type { Json, TestSandbox } from './helpers.js';

let sb: TestSandbox;
let platform: string;

const ENTITY_TYPES = ['OrderItem', 'Payment', 'Reservation', 'Customer', 'Company', 'Bill', 'AvailabilityAdjustment', 'AvailabilityBlock', 'ResourceBlock'];
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface ExportFile {
  Url: string;
  SizeInBytes: number;
}
interface MewsExport {
  Id: string;
  Status: string;
  EntityType: string;
  Files: ExportFile[];
  ExpiresUtc: string;
  Scope?: { EnterpriseIds: string[]; ChainIds: null };
}

interface Tenant {
  clientToken: string;
  accessToken: string;
  enterpriseId: string;
}

let tenantCounter = 0;

async function registerTenant(extra: Record<string, unknown> = {}, clientToken?: string): Promise<Tenant> {
  tenantCounter += 1;
  const tokens = {
    clientToken: clientToken ?? `E0D439EE522F44368DC78E1BFB03710C-CLIENT${tenantCounter}`,
    accessToken: `C66EF7B239D24632943D115EDE9CB810-ACCESS${tenantCounter}-${Date.now()}`,
  };
  const res = await call(sb.baseUrl, 'POST', '/sandbox/v1/mews/tenants', { ...tokens, ...extra });
  expect(res.status).toBe(200);
  return { ...tokens, enterpriseId: String(res.body.enterpriseId) };
}

function mews(t: Pick<Tenant, 'clientToken' | 'accessToken'>) {
  const creds = { ClientToken: t.clientToken, AccessToken: t.accessToken, Client: 'Sandbox tests 1.0.0' };
  return {
    add: (entityType: unknown, over: Record<string, unknown> = {}) => call(platform, 'POST', '/api/connector/v1/exports/add', { ...creds, EntityType: entityType, ...over }),
    getAll: (ids: unknown, over: Record<string, unknown> = {}) => call(platform, 'POST', '/api/connector/v1/exports/getAll', { ...creds, ExportIds: ids, ...over }),
  };
}

const exportOf = (res: Json): MewsExport => res.body.Export as MewsExport;
const exportsOf = (res: Json): MewsExport[] => res.body.Exports as MewsExport[];

async function download(url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(url, { headers });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

function jsonLines(bytes: Buffer): Array<Record<string, unknown>> {
  const text = bytes.toString('utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const faults = (rules: unknown[]) => call(sb.baseUrl, 'POST', '/sandbox/v1/faults', { rules });

beforeAll(async () => {
  sb = await startTestSandbox();
  platform = `${sb.baseUrl}/mews`;
});
afterAll(async () => {
  await sb.stop();
});
afterEach(async () => {
  await call(sb.baseUrl, 'DELETE', '/sandbox/v1/faults');
  await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { mewsExportBytes: 150_000, mewsFilePartBytes: 65_536, mewsExportBytesByEntityType: {} });
});

describe('tenants', () => {
  it('registration answers the platform address and a stable enterprise id, and never the tokens', async () => {
    const tokens = { clientToken: 'CT-stable', accessToken: 'AT-stable' };
    const first = await call(sb.baseUrl, 'POST', '/sandbox/v1/mews/tenants', { ...tokens, enterpriseName: 'Hotel Ünïcode' });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ enterpriseId: expect.stringMatching(GUID), enterpriseName: 'Hotel Ünïcode', platformAddress: `${sb.baseUrl}/mews`, exportsEnabled: true });
    const again = await call(sb.baseUrl, 'POST', '/sandbox/v1/mews/tenants', tokens);
    expect(again.body.enterpriseId).toBe(first.body.enterpriseId);
    expect(again.body.enterpriseName).toBe('Hotel Ünïcode');
    const listed = await call(sb.baseUrl, 'GET', '/sandbox/v1/mews/tenants');
    expect(JSON.stringify(listed.body)).not.toContain('AT-stable');
    expect(JSON.stringify(listed.body)).not.toContain('CT-stable');
    expect((listed.body.tenants as Array<{ enterpriseId: string }>).map((t) => t.enterpriseId)).toContain(first.body.enterpriseId);
  });

  it('refuses malformed registrations with a 400 naming the field', async () => {
    const noAccess = await call(sb.baseUrl, 'POST', '/sandbox/v1/mews/tenants', { clientToken: 'x' });
    expect(noAccess.status).toBe(400);
    expect(JSON.stringify(noAccess.body)).toContain('accessToken');
    const spaced = await call(sb.baseUrl, 'POST', '/sandbox/v1/mews/tenants', { clientToken: 'a b', accessToken: 'y' });
    expect(spaced.status).toBe(400);
    expect(JSON.stringify(spaced.body)).toContain('clientToken');
    expect((await call(sb.baseUrl, 'POST', '/sandbox/v1/mews/tenants', { clientToken: 'x', accessToken: 'y', extra: 1 })).status).toBe(400);
  });
});

describe('exports/add and exports/getAll', () => {
  it('an export goes Pending → Processing → Success on the sandbox clock, with files only in Success', async () => {
    const t = await registerTenant();
    const api = mews(t);
    const added = await api.add('Reservation');
    expect(added.status).toBe(200);
    expect(added.headers.get('request-id')).toMatch(GUID);
    expect(added.headers.get('content-type')).toContain('application/json');
    const exp = exportOf(added);
    expect(exp).toEqual({ Id: expect.stringMatching(GUID), Status: 'Pending', EntityType: 'Reservation', Files: [], ExpiresUtc: expect.stringMatching(ISO_UTC) });

    const pending = exportsOf(await api.getAll([exp.Id]));
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ Id: exp.Id, Status: 'Pending', Files: [], Scope: { EnterpriseIds: [t.enterpriseId], ChainIds: null } });
    await advance(sb.baseUrl, 1);
    expect(exportsOf(await api.getAll([exp.Id]))[0]).toMatchObject({ Status: 'Processing', Files: [] });
    await advance(sb.baseUrl, 2);
    const done = exportsOf(await api.getAll([exp.Id]))[0];
    expect(done?.Status).toBe('Success');
    expect(done?.ExpiresUtc).toBe(exp.ExpiresUtc);
    // 150,000 bytes in files of at most 65,536: three files of 50,000 bytes.
    expect(done?.Files.map((f) => f.SizeInBytes)).toEqual([50_000, 50_000, 50_000]);
    // ExpiresUtc = completion (3 s after add) + 7 days.
    const created = Date.parse((await call(sb.baseUrl, 'GET', `/sandbox/v1/mews/exports/${exp.Id}`)).body.createdUtc as string);
    expect(Date.parse(exp.ExpiresUtc) - created).toBe(3_000 + 7 * 86_400_000);
  });

  it('files of every entity type are JSON Lines of real-looking records, exactly SizeInBytes long', async () => {
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { mewsExportBytesByEntityType: { Customer: 300_000 } });
    const t = await registerTenant();
    const api = mews(t);
    const ids: string[] = [];
    for (const type of ENTITY_TYPES) {
      const res = await api.add(type);
      expect(res.status).toBe(200);
      ids.push(exportOf(res).Id);
    }
    await advance(sb.baseUrl, 3);
    const all = exportsOf(await api.getAll(ids));
    expect(all.map((e) => e.Id)).toEqual(ids);
    expect(all.map((e) => e.EntityType)).toEqual(ENTITY_TYPES);
    for (const exp of all) {
      expect(exp.Status).toBe('Success');
      const expected = exp.EntityType === 'Customer' ? 300_000 : 150_000;
      expect(exp.Files.reduce((n, f) => n + f.SizeInBytes, 0)).toBe(expected);
      for (const file of exp.Files) {
        const got = await download(file.Url);
        expect(got.status).toBe(200);
        expect(got.headers.get('content-length')).toBe(String(file.SizeInBytes));
        expect(got.bytes.length).toBe(file.SizeInBytes);
        const records = jsonLines(got.bytes);
        expect(records.length).toBeGreaterThan(20);
        for (const record of records) expect(record.Id).toMatch(GUID);
        expect(new Set(records.map((r) => r.Id)).size).toBe(records.length);
      }
    }
    const first = async (type: string) => jsonLines((await download(all[ENTITY_TYPES.indexOf(type)]?.Files[0]?.Url ?? '')).bytes)[0] ?? {};
    expect(await first('OrderItem')).toMatchObject({ EnterpriseId: t.enterpriseId, Amount: { Currency: expect.any(String), GrossValue: expect.any(Number) } });
    expect(await first('Customer')).toMatchObject({ FirstName: expect.any(String), LastName: expect.any(String), Email: expect.stringContaining('@') });
    expect(await first('Reservation')).toMatchObject({ State: expect.any(String), ScheduledStartUtc: expect.stringMatching(ISO_UTC) });
    expect(await first('Payment')).toMatchObject({ EnterpriseId: t.enterpriseId, Kind: 'Payment' });
    expect(await first('Bill')).toMatchObject({ EnterpriseId: t.enterpriseId, State: expect.stringMatching(/^(Open|Closed)$/) });
    expect(await first('ResourceBlock')).toMatchObject({ Type: expect.stringMatching(/^(OutOfOrder|InternalUse)$/) });
  });

  it('file content is deterministic, Range and HEAD answer like a blob store', async () => {
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { mewsExportBytes: 200_000, mewsFilePartBytes: 1_000_000 });
    const t = await registerTenant();
    const api = mews(t);
    const id = exportOf(await api.add('OrderItem')).Id;
    await advance(sb.baseUrl, 3);
    const file = exportsOf(await api.getAll([id]))[0]?.Files[0] as ExportFile;
    expect(file.SizeInBytes).toBe(200_000);
    const whole = await download(file.Url);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('content-type')).toBe('application/jsonl');
    const again = await download(exportsOf(await api.getAll([id]))[0]?.Files[0]?.Url ?? '');
    expect(again.bytes.equals(whole.bytes)).toBe(true);
    expect(again.headers.get('etag')).toBe(whole.headers.get('etag'));

    const mid = await download(file.Url, { Range: 'bytes=65000-140000' });
    expect(mid.status).toBe(206);
    expect(mid.headers.get('content-range')).toBe('bytes 65000-140000/200000');
    expect(mid.bytes.equals(whole.bytes.subarray(65_000, 140_001))).toBe(true);
    const tail = await download(file.Url, { Range: 'bytes=-100' });
    expect(tail.bytes.equals(whole.bytes.subarray(199_900))).toBe(true);
    const open = await download(file.Url, { Range: 'bytes=150000-' });
    expect(open.bytes.equals(whole.bytes.subarray(150_000))).toBe(true);
    const beyond = await download(file.Url, { Range: 'bytes=200000-' });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe('bytes */200000');
    const head = await fetch(file.Url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('200000');
  });

  it('getAll returns only this enterprise’s exports, in the order asked, each once', async () => {
    const a = await registerTenant();
    const b = await registerTenant();
    const aId = exportOf(await mews(a).add('Bill')).Id;
    const aId2 = exportOf(await mews(a).add('Company')).Id;
    const bId = exportOf(await mews(b).add('Bill')).Id;
    const res = await mews(a).getAll([aId2, bId, aId, aId2, '00000000-0000-4000-8000-000000000000']);
    expect(res.status).toBe(200);
    expect(exportsOf(res).map((e) => e.Id)).toEqual([aId2, aId]);
    expect(exportsOf(await mews(a).getAll([])).length).toBe(0);
  });

  it('the 1000-id limit: 1000 ids are read in one call, 1001 are a 400 in Mews’s shape', async () => {
    const t = await registerTenant();
    const seeded = await call(sb.baseUrl, 'POST', '/sandbox/v1/mews/exports:seed', { enterpriseId: t.enterpriseId, entityType: 'OrderItem', count: 1000, status: 'Processing' });
    const ids = seeded.body.exportIds as string[];
    expect(ids).toHaveLength(1000);
    const ok = await mews(t).getAll(ids);
    expect(ok.status).toBe(200);
    expect(exportsOf(ok)).toHaveLength(1000);
    expect(exportsOf(ok).every((e) => e.Status === 'Processing')).toBe(true);
    const tooMany = await mews(t).getAll([...ids, '00000000-0000-4000-8000-000000000001']);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body).toEqual({ Message: 'Invalid ExportIds: at most 1000 items are allowed, 1001 were given.' });
    expect(tooMany.headers.get('request-id')).toMatch(GUID);
  });

  it('malformed bodies and fields are 400 {Message}', async () => {
    const t = await registerTenant();
    const api = mews(t);
    expect(await call(platform, 'POST', '/api/connector/v1/exports/add', '{"ClientToken": ')).toMatchObject({ status: 400, body: { Message: 'Invalid JSON.' } });
    expect(await api.add('Room')).toMatchObject({ status: 400, body: { Message: 'Invalid EntityType.' } });
    expect(await api.add(undefined)).toMatchObject({ status: 400, body: { Message: 'Invalid EntityType.' } });
    expect(await api.getAll(['not-a-guid'])).toMatchObject({ status: 400, body: { Message: 'Invalid ExportIds.' } });
    expect(await api.getAll('00000000-0000-4000-8000-000000000000')).toMatchObject({ status: 400, body: { Message: 'Invalid ExportIds.' } });
    expect(await api.getAll(undefined)).toMatchObject({ status: 400, body: { Message: 'Invalid ExportIds.' } });
    const unknownOperation = await call(platform, 'POST', '/api/connector/v1/exports/delete', {});
    expect(unknownOperation.status).toBe(404);
    expect(typeof unknownOperation.body.Message).toBe('string');
    expect((await call(platform, 'GET', '/api/connector/v1/exports/getAll')).status).toBe(404);
  });
});

describe('one running export per entity type', () => {
  it('a second add of a Pending or Processing type is a 400 naming the export to adopt; other types and later adds pass', async () => {
    const t = await registerTenant();
    const api = mews(t);
    const first = exportOf(await api.add('Payment')).Id;
    const blocked = await api.add('Payment');
    expect(blocked.status).toBe(400);
    expect(blocked.body).toEqual({ Message: 'An export of entity type Payment with status Pending already exists.', ExportId: first });
    expect((await api.add('Customer')).status).toBe(200);
    // Another enterprise is not blocked.
    expect((await mews(await registerTenant()).add('Payment')).status).toBe(200);
    await advance(sb.baseUrl, 1.5);
    expect(await api.add('Payment')).toMatchObject({ status: 400, body: { Message: expect.stringContaining('status Processing'), ExportId: first } });
    await advance(sb.baseUrl, 2);
    const next = await api.add('Payment');
    expect(next.status).toBe(200);
    expect(exportOf(next).Id).not.toBe(first);
  });

  it('a Failed export does not block a new one', async () => {
    const t = await registerTenant();
    const api = mews(t);
    const id = exportOf(await api.add('Company')).Id;
    expect((await call(sb.baseUrl, 'POST', `/sandbox/v1/mews/exports/${id}:fail`, {})).body.status).toBe('Failed');
    expect(exportsOf(await api.getAll([id]))[0]).toMatchObject({ Status: 'Failed', Files: [] });
    expect((await api.add('Company')).status).toBe(200);
  });
});

describe('token checks', () => {
  it('wrong ClientToken or AccessToken → 401, missing Client → 400, export feature off → 403', async () => {
    const t = await registerTenant();
    const other = await registerTenant({}, 'another-client-token');
    expect(await mews({ ...t, clientToken: 'nope' }).add('Bill')).toMatchObject({ status: 401, body: { Message: 'Invalid ClientToken.' } });
    expect(await mews({ ...t, accessToken: 'nope' }).add('Bill')).toMatchObject({ status: 401, body: { Message: 'Invalid AccessToken.' } });
    // An access token only works with the client token it was issued for.
    expect(await mews({ clientToken: t.clientToken, accessToken: other.accessToken }).getAll([])).toMatchObject({ status: 401, body: { Message: 'Invalid AccessToken.' } });
    expect(await call(platform, 'POST', '/api/connector/v1/exports/getAll', { ExportIds: [] })).toMatchObject({ status: 401, body: { Message: 'Invalid ClientToken.' } });
    expect(await mews(t).add('Bill', { Client: '' })).toMatchObject({ status: 400, body: { Message: 'Invalid Client.' } });
    expect(await mews(t).add('Bill', { Client: undefined })).toMatchObject({ status: 400, body: { Message: 'Invalid Client.' } });
    const off = await registerTenant({ exportsEnabled: false });
    const refused = await mews(off).add('Bill');
    expect(refused.status).toBe(403);
    expect(refused.body.Message).toContain('not enabled');
  });

  it('a deleted tenant’s tokens answer 401; its exports are not readable by others', async () => {
    const t = await registerTenant();
    const id = exportOf(await mews(t).add('Reservation')).Id;
    expect((await call(sb.baseUrl, 'DELETE', `/sandbox/v1/mews/tenants/${t.enterpriseId}`)).status).toBe(200);
    expect(await mews(t).getAll([id])).toMatchObject({ status: 401, body: { Message: 'Invalid ClientToken.' } });
    expect((await call(sb.baseUrl, 'DELETE', `/sandbox/v1/mews/tenants/${t.enterpriseId}`)).status).toBe(404);
    expect(exportsOf(await mews(await registerTenant()).getAll([id]))).toEqual([]);
  });
});

describe('file URLs and ExpiresUtc', () => {
  it('a file URL works for 10 minutes of sandbox time; getAll hands out a fresh one', async () => {
    const t = await registerTenant();
    const api = mews(t);
    const id = exportOf(await api.add('Customer')).Id;
    await advance(sb.baseUrl, 3);
    const url = exportsOf(await api.getAll([id]))[0]?.Files[0]?.Url ?? '';
    const se = new URL(url).searchParams.get('se');
    const served = await call(sb.baseUrl, 'GET', '/sandbox/v1/clock');
    expect(Date.parse(se ?? '') - Math.floor(Date.parse(served.body.now as string) / 1000) * 1000).toBeLessThanOrEqual(600_000);
    await advance(sb.baseUrl, 590);
    expect((await download(url)).status).toBe(200);
    await advance(sb.baseUrl, 11);
    const expired = await download(url);
    expect(expired.status).toBe(403);
    expect(expired.bytes.toString()).toContain('<Code>AuthenticationFailed</Code>');
    expect(expired.bytes.toString()).toContain('Signature not valid in the specified time frame');
    const fresh = exportsOf(await api.getAll([id]))[0]?.Files[0];
    expect(fresh?.Url).not.toBe(url);
    const again = await download(fresh?.Url ?? '');
    expect(again.status).toBe(200);
    expect(again.bytes.length).toBe(fresh?.SizeInBytes);
  });

  it('an altered or unsigned file URL is 403 AuthenticationFailed', async () => {
    const t = await registerTenant();
    const id = exportOf(await mews(t).add('Bill')).Id;
    await advance(sb.baseUrl, 3);
    const url = new URL(exportsOf(await mews(t).getAll([id]))[0]?.Files[0]?.Url ?? '');
    const longer = new URL(url);
    longer.searchParams.set('se', '2099-01-01T00:00:00Z');
    const other = new URL(url.toString().replace('-1.jsonl', '-2.jsonl'));
    const unsigned = new URL(url.origin + url.pathname);
    for (const bad of [longer, other, unsigned]) {
      const res = await download(bad.toString());
      expect(res.status).toBe(403);
      expect(res.bytes.toString()).toContain('AuthenticationFailed');
    }
  });

  it('after ExpiresUtc a Success export reads Expired, with no files, and its URLs answer 404', async () => {
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { mewsExportRetentionSeconds: 3600 });
    try {
      const t = await registerTenant();
      const api = mews(t);
      const exp = exportOf(await api.add('AvailabilityBlock'));
      await advance(sb.baseUrl, 3);
      await advance(sb.baseUrl, 3590);
      const last = exportsOf(await api.getAll([exp.Id]))[0];
      expect(last?.Status).toBe('Success');
      await advance(sb.baseUrl, 15);
      expect(Date.now() + Number((await call(sb.baseUrl, 'GET', '/sandbox/v1/clock')).body.offsetSeconds) * 1000).toBeGreaterThan(Date.parse(exp.ExpiresUtc));
      expect(exportsOf(await api.getAll([exp.Id]))[0]).toMatchObject({ Status: 'Expired', Files: [], ExpiresUtc: exp.ExpiresUtc });
      const gone = await download(last?.Files[0]?.Url ?? '');
      expect(gone.status).toBe(404);
      expect(gone.bytes.toString()).toContain('<Code>BlobNotFound</Code>');
      expect((await api.add('AvailabilityBlock')).status).toBe(200);
    } finally {
      await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { mewsExportRetentionSeconds: 7 * 86400 });
    }
  });
});

describe('faults', () => {
  it('exportStatus:Failed and exportStatus:Expired make the next export of a type end that way', async () => {
    const t = await registerTenant();
    const api = mews(t);
    const rules = await faults([
      { path: 'exports/add$', action: 'exportStatus:Failed', entityType: 'Payment' },
      { path: 'exports/add$', action: 'exportStatus:Expired', entityType: 'Bill' },
    ]);
    expect(rules.status).toBe(200);
    const customer = exportOf(await api.add('Customer')).Id;
    const payment = exportOf(await api.add('Payment')).Id;
    const bill = exportOf(await api.add('Bill')).Id;
    expect((await call(sb.baseUrl, 'GET', '/sandbox/v1/faults')).body).toEqual({ rules: [] });
    await advance(sb.baseUrl, 1);
    expect(exportsOf(await api.getAll([payment, bill])).map((e) => e.Status)).toEqual(['Processing', 'Processing']);
    await advance(sb.baseUrl, 2);
    const ended = exportsOf(await api.getAll([customer, payment, bill]));
    expect(ended.map((e) => [e.EntityType, e.Status, e.Files.length])).toEqual([
      ['Customer', 'Success', 3],
      ['Payment', 'Failed', 0],
      ['Bill', 'Expired', 0],
    ]);
    // The replacements end normally.
    const payment2 = exportOf(await api.add('Payment')).Id;
    await advance(sb.baseUrl, 3);
    expect(exportsOf(await api.getAll([payment2]))[0]?.Status).toBe('Success');
    const calls = (await call(sb.baseUrl, 'GET', '/sandbox/v1/calls')).body.calls as Array<{ path: string; fault?: string; mews?: { entityType?: string } }>;
    const faulted = calls.filter((c) => c.path.endsWith('/exports/add') && c.fault !== undefined).map((c) => [c.mews?.entityType, c.fault]);
    expect(faulted).toEqual(
      expect.arrayContaining([
        ['Payment', 'exportStatus:Failed'],
        ['Bill', 'exportStatus:Expired'],
      ]),
    );
  });

  it('entityType is refused on other actions', async () => {
    const res = await faults([{ path: 'exports/add$', action: 'status:503', entityType: 'Payment' }]);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('entityType');
  });

  it('status:503 and status:429 with Retry-After answer in Mews’s shape, then calls pass again', async () => {
    const t = await registerTenant();
    const api = mews(t);
    await faults([
      { path: '^/mews/api/connector/v1/exports/getAll$', action: 'status:429', retryAfterSeconds: 5, times: 1 },
      { path: '^/mews/api/connector/v1/exports/add$', action: 'status:503', times: 2 },
    ]);
    const limited = await api.getAll([]);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('5');
    expect(limited.body).toEqual({ Message: expect.stringContaining('status:429') });
    expect(limited.headers.get('request-id')).toMatch(GUID);
    expect((await api.getAll([])).status).toBe(200);
    expect((await api.add('Reservation')).status).toBe(503);
    const second = await api.add('Reservation');
    expect(second.status).toBe(503);
    expect(Object.keys(second.body)).toEqual(['Message']);
    expect((await api.add('Reservation')).status).toBe(200);
  });

  it('dropAfterBytes cuts a file download; a Range request resumes it', async () => {
    const t = await registerTenant();
    const api = mews(t);
    const id = exportOf(await api.add('OrderItem')).Id;
    await advance(sb.baseUrl, 3);
    const file = exportsOf(await api.getAll([id]))[0]?.Files[0] as ExportFile;
    await faults([{ path: '^/mews-exports/', action: 'dropAfterBytes:20000' }]);
    const res = await fetch(file.Url);
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
    const whole = await download(file.Url);
    const rest = await download(file.Url, { Range: 'bytes=20000-' });
    expect(Buffer.concat([whole.bytes.subarray(0, 20_000), rest.bytes]).equals(whole.bytes)).toBe(true);
    expect(jsonLines(whole.bytes).length).toBeGreaterThan(10);
  });

  it('bytesPerSecond paces a file download (slow download)', async () => {
    const t = await registerTenant();
    const api = mews(t);
    const id = exportOf(await api.add('Company')).Id;
    await advance(sb.baseUrl, 3);
    const file = exportsOf(await api.getAll([id]))[0]?.Files[0] as ExportFile;
    await faults([{ path: '^/mews-exports/', action: 'bytesPerSecond:50000' }]);
    const started = Date.now();
    const slow = await download(file.Url);
    const took = Date.now() - started;
    expect(slow.bytes.length).toBe(50_000);
    // 50,000 bytes at 50,000 B/s: about one second (the last 50 ms slice may go out early).
    expect(took).toBeGreaterThanOrEqual(900);
    const fast = await download(file.Url);
    expect(fast.bytes.equals(slow.bytes)).toBe(true);
  });
});

describe('call log', () => {
  it('records each add with its entity type and each getAll with the ids asked for', async () => {
    const t = await registerTenant();
    const api = mews(t);
    await call(sb.baseUrl, 'DELETE', '/sandbox/v1/calls');
    const a = exportOf(await api.add('Customer')).Id;
    const b = exportOf(await api.add('Payment')).Id;
    await api.getAll([a, b]);
    await api.getAll([b]);
    await mews({ ...t, accessToken: 'wrong' }).getAll([a]);
    await advance(sb.baseUrl, 3);
    const url = exportsOf(await api.getAll([a]))[0]?.Files[0]?.Url ?? '';
    await download(url);
    const calls = (await call(sb.baseUrl, 'GET', '/sandbox/v1/calls')).body.calls as Array<Record<string, unknown>>;
    expect(calls.map((c) => [c.method, c.path, c.status, c.mews])).toEqual([
      ['POST', '/mews/api/connector/v1/exports/add', 200, { enterpriseId: t.enterpriseId, entityType: 'Customer' }],
      ['POST', '/mews/api/connector/v1/exports/add', 200, { enterpriseId: t.enterpriseId, entityType: 'Payment' }],
      ['POST', '/mews/api/connector/v1/exports/getAll', 200, { enterpriseId: t.enterpriseId, exportIds: [a, b] }],
      ['POST', '/mews/api/connector/v1/exports/getAll', 200, { enterpriseId: t.enterpriseId, exportIds: [b] }],
      ['POST', '/mews/api/connector/v1/exports/getAll', 401, undefined],
      ['POST', '/mews/api/connector/v1/exports/getAll', 200, { enterpriseId: t.enterpriseId, exportIds: [a] }],
      ['GET', url.split('?')[0]?.slice(sb.baseUrl.length), 200, { enterpriseId: t.enterpriseId, exportId: a }],
    ]);
    expect(JSON.stringify(calls)).not.toContain(t.accessToken);
    expect(JSON.stringify(calls)).not.toContain('sig=');
  });
});

describe('control views', () => {
  it('complete, fail and expire end exports now; contradictions are 400, unknown 404', async () => {
    const t = await registerTenant();
    const api = mews(t);
    const a = exportOf(await api.add('ResourceBlock')).Id;
    const done = await call(sb.baseUrl, 'POST', `/sandbox/v1/mews/exports/${a}:complete`, {});
    expect(done.body).toMatchObject({ id: a, status: 'Success', entityType: 'ResourceBlock', enterpriseId: t.enterpriseId, fileSizes: [50_000, 50_000, 50_000] });
    expect(exportsOf(await api.getAll([a]))[0]?.Files).toHaveLength(3);
    expect((await call(sb.baseUrl, 'POST', `/sandbox/v1/mews/exports/${a}:fail`, {})).status).toBe(400);
    expect((await call(sb.baseUrl, 'POST', `/sandbox/v1/mews/exports/${a}:expire`, {})).body.status).toBe('Expired');
    expect(exportsOf(await api.getAll([a]))[0]).toMatchObject({ Status: 'Expired', Files: [] });
    const b = exportOf(await api.add('ResourceBlock')).Id;
    expect((await call(sb.baseUrl, 'POST', `/sandbox/v1/mews/exports/${b}:expire`, {})).body.status).toBe('Expired');
    expect((await call(sb.baseUrl, 'POST', '/sandbox/v1/mews/exports/00000000-0000-4000-8000-000000000000:complete', {})).status).toBe(404);
    const listed = await call(sb.baseUrl, 'GET', `/sandbox/v1/mews/exports?enterpriseId=${t.enterpriseId}`);
    expect((listed.body.exports as Array<{ id: string }>).map((e) => e.id)).toEqual([a, b]);
  });

  it('seed refuses an unknown enterprise and a count over 10,000', async () => {
    expect((await call(sb.baseUrl, 'POST', '/sandbox/v1/mews/exports:seed', { enterpriseId: 'x', entityType: 'Bill', count: 1 })).status).toBe(404);
    const t = await registerTenant();
    expect((await call(sb.baseUrl, 'POST', '/sandbox/v1/mews/exports:seed', { enterpriseId: t.enterpriseId, entityType: 'Bill', count: 10_001 })).status).toBe(400);
  });

  it('config refuses a Mews export of more than 1000 files', async () => {
    const res = await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { mewsExportBytes: 5_000_000, mewsFilePartBytes: 4096 });
    expect(res.status).toBe(400);
  });
});

describe('persistence', () => {
  it('tenants and exports survive a restart with a data folder', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-mews-data-'));
    try {
      const first = await startTestSandbox({ dataDir });
      const tokens = { clientToken: 'persist-client', accessToken: 'persist-access' };
      await call(first.baseUrl, 'POST', '/sandbox/v1/mews/tenants', tokens);
      const creds = { ClientToken: tokens.clientToken, AccessToken: tokens.accessToken, Client: 'tests 1.0' };
      const id = String(((await call(first.baseUrl, 'POST', '/mews/api/connector/v1/exports/add', { ...creds, EntityType: 'Customer' })).body.Export as MewsExport).Id);
      await advance(first.baseUrl, 3);
      const before = (await call(first.baseUrl, 'POST', '/mews/api/connector/v1/exports/getAll', { ...creds, ExportIds: [id] })).body.Exports as MewsExport[];
      const bytesBefore = (await download(before[0]?.Files[0]?.Url ?? '')).bytes;
      await first.stop();
      const second = await startTestSandbox({ dataDir });
      try {
        const after = (await call(second.baseUrl, 'POST', '/mews/api/connector/v1/exports/getAll', { ...creds, ExportIds: [id] })).body.Exports as MewsExport[];
        expect(after[0]).toMatchObject({ Id: id, Status: 'Success', ExpiresUtc: before[0]?.ExpiresUtc });
        expect((await download(after[0]?.Files[0]?.Url ?? '')).bytes.equals(bytesBefore)).toBe(true);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
