import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notYet, waitUntil } from '../fixtures/wait.js';
import { drainEvents, tapEvents } from './events.js';
import { bucketObjects, callsTo, jobIdOf, storageOf, TERMINAL } from './exports.js';
import { startE2EStack, type E2EStack } from './stack.js';

/**
 * Issue 15 on the local stack: a Mews tenant (the sandbox's Mews Connector API) exports three
 * entity types through the unchanged core. Every file is delivered with the size Mews states
 * (`SizeInBytes`), every line of every file is JSON, each export has its manifest under the
 * tenant's folder; a file URL that lapsed before the transfer used it is replaced by a fresh one
 * from `exports/getAll` and the copy goes on; an export that ends `Failed` is replaced by a new one.
 * Short sandbox timings (URLs live 2 s, exports finish in 3 s) and small files keep it quick.
 */
const ENTITY_TYPES = ['Reservation', 'Customer', 'Payment'];
const FAILING = 'Payment';
const FILE_URL_TTL_SECONDS = 2;
const FILES = /^\/mews-exports\//;

interface TenantExport {
  name: string;
  tenant?: string;
  consent?: string;
  source: string;
  resource: string;
  state: string;
  upstreamJobId?: string;
  upstreamJobHistory: string[];
  files: { name: string; object: string; state: string; bytes?: number; crc32c?: string }[];
  manifest?: string;
  exportTime?: string;
}

interface SandboxExport {
  id: string;
  status: string;
  entityType: string;
  fileSizes: number[];
}

let stack: E2EStack;
beforeAll(async () => {
  stack = await startE2EStack('mews', {
    mewsPendingSeconds: 1,
    mewsProcessingSeconds: 2,
    mewsExportBytes: 100_000,
    mewsFilePartBytes: 40_000,
    mewsFileUrlTtlSeconds: FILE_URL_TTL_SECONDS,
  });
  await tapEvents(stack, 'mews-events');
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

async function json<T>(res: Response, what: string): Promise<T> {
  if (res.status !== 200) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function tenantExports(tenant: string): Promise<TenantExport[]> {
  const page = await json<{ exports: TenantExport[] }>(await stack.api(`/v1/exports?tenant=${encodeURIComponent(tenant)}&pageSize=100`), 'GET /v1/exports');
  return page.exports;
}

const sandboxExport = async (id: string) => json<SandboxExport>(await stack.sandbox(`/sandbox/v1/mews/exports/${id}`), `sandbox export ${id}`);

describe('Mews tenant exports on the local stack', () => {
  it('three entity types exported, delivered and verified; a lapsed file URL refreshed mid-transfer; a Failed export replaced', async () => {
    // The tenant: registered at the sandbox's Mews, then with the pipeline (keys sealed there).
    const keys = { clientToken: `ct-${randomBytes(12).toString('hex')}`, accessToken: `at-${randomBytes(12).toString('hex')}` };
    const registered = await json<{ platformAddress: string; enterpriseId: string }>(await stack.sandbox('/sandbox/v1/mews/tenants', { body: keys }), 'sandbox tenant');
    const created = await json<{ name: string; state: string }>(
      await stack.api('/v1/tenants', { body: { source: 'mews', displayName: 'Hotel e2e', platformAddress: registered.platformAddress, ...keys } }),
      'POST /v1/tenants',
    );
    expect(created.state).toBe('ACTIVE');
    const tenant = created.name;
    const tenantId = tenant.split('/')[1]!;

    // The first Payment export ends Failed; the first file download is cut part-way and the next
    // one is held past the URLs' lifetime, so the URL it carries has lapsed when the sandbox reads it.
    const faults = await stack.sandbox('/sandbox/v1/faults', {
      body: {
        rules: [
          { path: 'exports/add$', action: 'exportStatus:Failed', entityType: FAILING, times: 1 },
          { path: FILES.source, method: 'GET', action: 'dropAfterBytes:15000', times: 1 },
          { path: FILES.source, method: 'GET', action: `delayMs:${(FILE_URL_TTL_SECONDS + 1.5) * 1000}`, times: 1 },
        ],
      },
    });
    expect(faults.status).toBe(200);

    const requested = await json<{ exports: TenantExport[] }>(
      await stack.api('/v1/exports', { body: { tenant, entityTypes: [...ENTITY_TYPES, 'Customer'], requestId: 'e2e-mews' } }),
      'POST /v1/exports',
    );
    expect(requested.exports.map((e) => e.resource)).toEqual(ENTITY_TYPES);
    for (const e of requested.exports) expect(e).toMatchObject({ source: 'mews', tenant });
    // The same request again finds the same exports.
    const again = await json<{ exports: TenantExport[] }>(
      await stack.api('/v1/exports', { body: { tenant, entityTypes: ENTITY_TYPES, requestId: 'e2e-mews' } }),
      'POST /v1/exports (again)',
    );
    expect(again.exports.map((e) => e.name)).toEqual(requested.exports.map((e) => e.name));

    const jobs = await waitUntil(
      async () => {
        const all = await tenantExports(tenant);
        return all.length === ENTITY_TYPES.length && all.every((j) => TERMINAL.has(j.state)) ? all : notYet(all.map((j) => `${j.resource} ${j.state}`));
      },
      { what: `${ENTITY_TYPES.length} terminal exports of ${tenant}`, timeoutMs: 150_000, intervalMs: 500 },
    );
    expect(jobs.map((j) => [j.resource, j.state]).sort()).toEqual(ENTITY_TYPES.map((t) => [t, 'DELIVERED']).sort());

    // Delivered and verified: each file has the size Mews states for it, is JSON Lines, and lies
    // under the tenant's folder beside its export's manifest.
    const objects = new Map((await bucketObjects(stack)).map((o) => [o.name, o]));
    const bucket = storageOf(stack).bucket(stack.info.bucket);
    for (const job of jobs) {
      expect(job).toMatchObject({ source: 'mews', tenant });
      expect(job.consent).toBeUndefined();
      const upstream = await sandboxExport(job.upstreamJobId!);
      expect(upstream).toMatchObject({ status: 'Success', entityType: job.resource });
      expect(job.files.map((f) => f.bytes)).toEqual(upstream.fileSizes);
      const folder = `tenants/${tenantId}/${job.resource}/`;
      for (const file of job.files) {
        expect(file.object.startsWith(folder) || file.object.includes(`/${folder}`), file.object).toBe(true);
        expect(objects.get(file.object)?.size).toBe(file.bytes);
        const [data] = await bucket.file(file.object).download({ validation: false });
        expect(data.length).toBe(file.bytes);
        const lines = data.toString('utf8').split('\n');
        expect(lines.pop()).toBe('');
        expect(lines.length).toBeGreaterThan(0);
        for (const line of lines) expect(() => JSON.parse(line) as unknown, `${file.object}: ${line.slice(0, 80)}`).not.toThrow();
      }
      expect(job.manifest).toBeDefined();
      const [manifest] = await bucket.file(job.manifest!).download({ validation: false });
      const parsed = JSON.parse(manifest.toString('utf8')) as { tenant?: string; consent?: string; resource: string; files: { object: string; bytes: number }[] };
      expect(parsed).toMatchObject({ tenant, resource: job.resource });
      expect(parsed.consent).toBeUndefined();
      expect(parsed.files.map((f) => [f.object, f.bytes])).toEqual(job.files.map((f) => [f.object, f.bytes]));
    }
    const fileCount = jobs.reduce((n, j) => n + j.files.length, 0);
    expect(fileCount).toBeGreaterThanOrEqual(ENTITY_TYPES.length * 3);

    // The Failed export was replaced by a new one (kept in the job's history).
    const payment = jobs.find((j) => j.resource === FAILING)!;
    expect(payment.upstreamJobHistory).toHaveLength(1);
    expect((await sandboxExport(payment.upstreamJobHistory[0]!)).status).toBe('Failed');
    expect(payment.upstreamJobId).not.toBe(payment.upstreamJobHistory[0]);
    for (const other of jobs.filter((j) => j !== payment)) expect(other.upstreamJobHistory).toEqual([]);

    // The lapsed URL: refused (403) when used, then the same file fetched with a fresh one.
    const calls = await stack.calls();
    const downloads = calls.filter((c) => c.method === 'GET' && FILES.test(c.path));
    const lapsed = downloads.findIndex((c) => c.status === 403);
    expect(lapsed, JSON.stringify(downloads.map((c) => [c.path, c.status, c.fault ?? '']))).toBeGreaterThanOrEqual(0);
    const lapsedFile = downloads[lapsed]!.path.split('?')[0];
    const after = downloads.slice(lapsed + 1).filter((c) => c.path.split('?')[0] === lapsedFile);
    expect(after.some((c) => c.status === 200 || c.status === 206)).toBe(true);
    expect(downloads.filter((c) => c.fault).length).toBe(2);
    // Fresh URLs came from exports/getAll, after the refusal.
    const refusedAt = Date.parse(downloads[lapsed]!.time);
    expect(callsTo(calls, 'POST', /\/exports\/getAll$/).some((c) => Date.parse(c.time) >= refusedAt)).toBe(true);
    expect(callsTo(calls, 'POST', /\/exports\/add$/)).toHaveLength(ENTITY_TYPES.length + 1);

    // Events name the export as subject and the tenant in their data (no consent).
    const events = (await drainEvents(stack, 'mews-events')).filter((e) => e.data.type === 'export.delivered');
    expect(events.map((e) => e.data.subject).sort()).toEqual(jobs.map((j) => j.name).sort());
    for (const e of events) {
      expect(e.data.data).toMatchObject({ tenant });
      expect(e.data.data).not.toHaveProperty('consent');
    }
    expect(jobs.map((j) => jobIdOf(j.name)).every((id) => /^[0-9a-f]{32}$/.test(id))).toBe(true);
  }, 200_000);
});
