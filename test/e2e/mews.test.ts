import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notYet, waitUntil } from '../fixtures/wait.js';
import { drainEvents, tapEvents } from './events.js';
import {
  bucketObjects,
  openBundleFile,
  callsTo,
  crc32cBase64,
  downloadDigest,
  jobIdOf,
  oneTimeConsent,
  requestExports,
  storageOf,
  TERMINAL,
  waitTerminal,
  type AnyExportJson,
  type BundleJson,
  type BundleManifestJson,
} from './exports.js';
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

async function tenantExports(tenant: string): Promise<AnyExportJson[]> {
  const page = await json<{ exports: AnyExportJson[] }>(await stack.api(`/v1/exports?tenant=${encodeURIComponent(tenant)}&pageSize=100`), 'GET /v1/exports');
  return page.exports;
}

/** A tenant registered at the sandbox's Mews and with the pipeline; returns `tenants/{id}`. */
async function newTenant(displayName: string): Promise<string> {
  const keys = { clientToken: `ct-${randomBytes(12).toString('hex')}`, accessToken: `at-${randomBytes(12).toString('hex')}` };
  const registered = await json<{ platformAddress: string }>(await stack.sandbox('/sandbox/v1/mews/tenants', { body: keys }), 'sandbox tenant');
  const created = await json<{ name: string }>(
    await stack.api('/v1/tenants', { body: { source: 'mews', displayName, platformAddress: registered.platformAddress, ...keys } }),
    'POST /v1/tenants',
  );
  return created.name;
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

    const requested = await json<{ exports: AnyExportJson[] }>(
      await stack.api('/v1/exports', { body: { tenant, entityTypes: [...ENTITY_TYPES, 'Customer'], requestId: 'e2e-mews' } }),
      'POST /v1/exports',
    );
    expect(requested.exports.map((e) => e.resource)).toEqual(ENTITY_TYPES);
    for (const e of requested.exports) expect(e).toMatchObject({ source: 'mews', tenant });
    // The same request again finds the same exports.
    const again = await json<{ exports: AnyExportJson[] }>(
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

  it('a bundle of a Google export of two groups and a Mews export opens with tar and unzip; its manifest matches the objects and the packed bytes', async () => {
    // A Google one-time consent of two groups (the sandbox's default: one 256 KiB archive each)
    // and a Mews tenant's Customer export (three small JSON Lines files), both delivered.
    const consent = await oneTimeConsent(stack, 'bundle-mix-user', ['myactivity.search', 'chrome.history']);
    const tenant = await newTenant('Hotel bundle e2e');
    const google = await requestExports(stack, { consent, requestId: 'e2e-mix' });
    const mews = await json<{ exports: AnyExportJson[] }>(
      await stack.api('/v1/exports', { body: { tenant, entityTypes: ['Customer'], requestId: 'e2e-mix' } }),
      'POST /v1/exports (tenant)',
    );
    const googleJobs = await waitTerminal(stack, consent, 2, 120_000);
    const mewsJobs = await waitUntil(
      async () => {
        const all = await tenantExports(tenant);
        return all.length === 1 && all.every((j) => TERMINAL.has(j.state)) ? all : notYet(all.map((j) => `${j.resource} ${j.state}`));
      },
      { what: `the Customer export of ${tenant}`, timeoutMs: 120_000, intervalMs: 500 },
    );
    expect([...googleJobs, ...mewsJobs].map((j) => j.state)).toEqual(['DELIVERED', 'DELIVERED', 'DELIVERED']);
    const names = [...google.map((e) => e.name), ...mews.exports.map((e) => e.name)];
    const objects = [...googleJobs, ...mewsJobs].flatMap((j) => j.files.map((f) => f.object));
    expect(objects.length).toBeGreaterThanOrEqual(2 + 3);

    // Malformed, repeated and unknown exports are refused, each named.
    const refused = async (body: unknown) => {
      const res = await stack.api('/v1/bundles', { body });
      expect(res.status).toBe(400);
      const error = (await res.json()) as { error: { details?: { fieldViolations?: { field: string }[] }[] } };
      return (error.error.details ?? []).flatMap((d) => d.fieldViolations ?? []).map((v) => v.field);
    };
    expect(await refused({ exports: [names[0], names[0]], format: 'zip' })).toEqual(['exports[1]']);
    expect(await refused({ exports: [names[0], `exports/${'f'.repeat(32)}`], format: 'zip' })).toEqual(['exports[1]']);
    expect(await refused({ exports: [names[0], consent], format: 'zip' })).toEqual(['exports[1]']);
    expect(await refused({ exports: names })).toEqual(['format']);

    const consentId = consent.split('/')[1]!;
    const tenantId = tenant.split('/')[1]!;
    const dir = join(stack.dir, 'mixed-bundles');
    mkdirSync(dir, { recursive: true });
    const delivered: string[] = [];
    for (const format of ['tar.gz', 'zip'] as const) {
      const requested = await json<BundleJson>(await stack.api('/v1/bundles', { body: { exports: names, format } }), `POST /v1/bundles (${format})`);
      expect(requested).toMatchObject({ format, subject: requested.name, exports: names });
      // The same exports (in any order) and format: the same bundle.
      const again = await json<BundleJson>(await stack.api('/v1/bundles', { body: { exports: [...names].reverse(), format } }), 'POST /v1/bundles (again)');
      expect(again.name).toBe(requested.name);
      const bundle = await waitUntil(
        async () => {
          const b = await json<BundleJson>(await stack.api(`/v1/${requested.name}`), `GET /v1/${requested.name}`);
          return b.state === 'DELIVERED' || b.state === 'FAILED' ? b : notYet(b.state);
        },
        { what: `${requested.name} delivered`, timeoutMs: 120_000, intervalMs: 500 },
      );
      expect(bundle.state, bundle.detail).toBe('DELIVERED');
      delivered.push(bundle.name);
      const digest = await downloadDigest(stack, bundle.object);
      expect({ bytes: bundle.bytes, crc32c: bundle.crc32c }).toEqual({ bytes: digest.size, crc32c: digest.crc32c });

      const file = join(dir, `bundle.${format}`);
      const [data] = await storageOf(stack).bucket(stack.info.bucket).file(bundle.object).download({ validation: false });
      writeFileSync(file, data);
      const out = join(dir, format);
      const listed = openBundleFile(file, format, out);
      if (!listed) continue;
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as BundleManifestJson;
      expect(manifest).toMatchObject({ bundle: bundle.name, subject: bundle.name, format, failedExports: [] });
      // Each export names its grant; each file lies under its grant's folder in the archive.
      const grants = new Map([...google.map((e) => [e.name, consent] as const), ...mews.exports.map((e) => [e.name, tenant] as const)]);
      expect(manifest.exports.map((e) => [e.export, e.grant, e.state])).toEqual(names.map((n) => [n, grants.get(n), 'DELIVERED']));
      const entries = manifest.exports.flatMap((e) => e.files.map((f) => ({ ...f, grant: e.grant })));
      expect(listed).toEqual(['manifest.json', ...entries.map((f) => f.path)]);
      expect(entries.map((f) => f.object).sort()).toEqual([...objects].sort());
      for (const entry of entries) {
        expect(entry.path.startsWith(entry.grant === consent ? `consents/${consentId}/` : `tenants/${tenantId}/`), entry.path).toBe(true);
        const object = await downloadDigest(stack, entry.object);
        expect({ bytes: entry.bytes, crc32c: entry.crc32c }).toEqual({ bytes: object.size, crc32c: object.crc32c });
        const packed = readFileSync(join(out, entry.path));
        expect({ bytes: packed.length, crc32c: crc32cBase64(packed) }).toEqual({ bytes: object.size, crc32c: object.crc32c });
      }
    }
    const events = (await drainEvents(stack, 'mews-events')).filter((e) => e.data.type === 'bundle.delivered');
    expect(events.map((e) => e.data.subject).sort()).toEqual([...delivered].sort());
  }, 200_000);
});
