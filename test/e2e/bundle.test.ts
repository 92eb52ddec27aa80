import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../fixtures/wait.js';
import { drainEvents, tapEvents } from './events.js';
import {
  bucketObjects,
  openBundleFile,
  crc32cBase64,
  downloadDigest,
  jobIdOf,
  oneTimeConsent,
  storageOf,
  waitTerminal,
  type BundleJson,
  type BundleManifestJson,
  type ExportJson,
} from './exports.js';
import { startE2EStack, type E2EStack } from './stack.js';

/**
 * The bundle of a Google export of three groups on the local stack: two delivered (three archive
 * parts each), one cancelled. The same request asked as tar.gz and as zip gives two bundles; each
 * opens with the standard tools (`tar -tzf`, `unzip -t`), holds every delivered file byte for
 * byte, and its manifest lists every file with the size and CRC32C of the individual object and
 * the cancelled export as failed.
 */
const GROUPS = ['myactivity.search', 'chrome.history', 'youtube.subscriptions'];
const PART_BYTES = 1024 * 1024;

let stack: E2EStack;
beforeAll(async () => {
  stack = await startE2EStack('bundle', { archiveBytes: 3 * PART_BYTES, archivePartBytes: PART_BYTES });
  await tapEvents(stack, 'bundle-events');
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

async function post(body: Record<string, unknown>): Promise<{ exports: ExportJson[]; bundle: BundleJson }> {
  const res = await stack.api('/v1/exports', { body });
  if (res.status !== 200) throw new Error(`POST /v1/exports: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as { exports: ExportJson[]; bundle: BundleJson };
}

async function bundleOf(name: string): Promise<BundleJson> {
  const res = await stack.api(`/v1/${name}`, { method: 'GET' });
  if (res.status !== 200) throw new Error(`GET /v1/${name}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as BundleJson;
}

async function download(object: string, file: string): Promise<void> {
  const [data] = await storageOf(stack).bucket(stack.info.bucket).file(object).download();
  writeFileSync(file, data);
}

describe('bundles on the local stack', () => {
  it('packs a Google export of two delivered groups and a cancelled one into a tar.gz and a zip that standard tools open', async () => {
    const consent = await oneTimeConsent(stack, 'bundle-user', GROUPS);
    const asTar = await post({ consent, requestId: 'bundle-1', bundle: 'tar.gz' });
    const asZip = await post({ consent, requestId: 'bundle-1', bundle: 'zip' });
    expect(asZip.exports.map((e) => e.name)).toEqual(asTar.exports.map((e) => e.name));
    expect(asTar.bundle).toMatchObject({ state: 'WAITING', format: 'tar.gz', exports: asTar.exports.map((e) => e.name) });
    expect(asZip.bundle.name).not.toBe(asTar.bundle.name);
    const cancelled = asTar.exports.find((e) => e.resource === 'youtube.subscriptions')!;
    const res = await stack.api(`/v1/${cancelled.name}:cancel`, { body: {} });
    expect(res.status).toBe(200);

    const jobs = await waitTerminal(stack, consent, GROUPS.length, 120_000);
    expect(jobs.map((j) => `${j.resource} ${j.state}`).sort()).toEqual(['chrome.history DELIVERED', 'myactivity.search DELIVERED', 'youtube.subscriptions CANCELLED']);
    const delivered = jobs.filter((j) => j.state === 'DELIVERED');
    const files = delivered.flatMap((j) => j.files.map((f) => ({ job: j, file: f })));
    expect(files).toHaveLength(6);

    const dir = join(stack.dir, 'bundles');
    mkdirSync(dir, { recursive: true });
    for (const requested of [asTar.bundle, asZip.bundle]) {
      const bundle = await waitUntil(
        async () => {
          const b = await bundleOf(requested.name);
          return b.state === 'DELIVERED' || b.state === 'FAILED' ? b : undefined;
        },
        { what: `${requested.name} delivered`, timeoutMs: 120_000, intervalMs: 500 },
      );
      expect(bundle).toMatchObject({ state: 'DELIVERED', failedExports: [cancelled.name] });
      // The recorded size and CRC32C are the object's.
      const digest = await downloadDigest(stack, bundle.object);
      expect({ bytes: bundle.bytes, crc32c: bundle.crc32c }).toEqual({ bytes: digest.size, crc32c: digest.crc32c });

      const file = join(dir, bundle.format === 'zip' ? 'bundle.zip' : 'bundle.tar.gz');
      await download(bundle.object, file);
      const out = join(dir, bundle.format);
      const listed = openBundleFile(file, bundle.format, out);
      if (!listed) continue;
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as BundleManifestJson;
      expect(listed).toEqual(['manifest.json', ...manifest.exports.flatMap((e) => e.files.map((f) => f.path))]);
      expect(manifest).toMatchObject({ bundle: bundle.name, format: bundle.format, failedExports: [cancelled.name] });
      expect(manifest.exports.map((e) => `${e.resource} ${e.state}`)).toEqual(
        asTar.exports.map((e) => `${e.resource} ${e.resource === 'youtube.subscriptions' ? 'CANCELLED' : 'DELIVERED'}`),
      );
      // Every delivered file is listed once, with the size and CRC32C of its object, and packed byte for byte.
      const entries = manifest.exports.flatMap((e) => e.files);
      expect(entries.map((f) => f.object).sort()).toEqual(files.map((f) => f.file.object).sort());
      for (const entry of entries) {
        const object = await downloadDigest(stack, entry.object);
        expect({ bytes: entry.bytes, crc32c: entry.crc32c }).toEqual({ bytes: object.size, crc32c: object.crc32c });
        const packed = readFileSync(join(out, entry.path));
        expect({ bytes: packed.length, crc32c: crc32cBase64(packed) }).toEqual({ bytes: object.size, crc32c: object.crc32c });
      }
    }

    // One object per bundle, nothing left under a temporary name.
    const consentId = consent.slice('consents/'.length);
    const bundleObjects = (await bucketObjects(stack)).filter((o) => o.name.includes(`/${consentId}/bundles/`)).map((o) => o.name);
    expect(bundleObjects.sort()).toEqual([asTar.bundle.object, asZip.bundle.object].sort());
    const events = (await drainEvents(stack, 'bundle-events')).filter((e) => e.data.type === 'bundle.delivered');
    expect(events.map((e) => e.data.subject).sort()).toEqual([asTar.bundle.name, asZip.bundle.name].sort());
    // The same request asked again answers the delivered bundle.
    expect((await post({ consent, requestId: 'bundle-1', bundle: 'tar.gz' })).bundle).toMatchObject({ name: asTar.bundle.name, state: 'DELIVERED' });
    expect(jobIdOf(cancelled.name)).toHaveLength(32);
  }, 300_000);

  it('refuses an unknown bundle format with 400 naming the field', async () => {
    const res = await stack.api('/v1/exports', { body: { consent: 'consents/abc', bundle: 'rar' } });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('bundle');
  });
});
