import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NodeRsCrc32c } from '../../../functions/adapters/node-rs-crc32c.js';
import { buildBundle } from '../../../functions/core/bundles/build.js';
import { composeBundle } from '../../../functions/core/bundles/compose.js';
import { partialObject } from '../../../functions/core/bundles/model.js';
import type { AppError } from '../../../functions/core/errors.js';
import { disconnect } from '../../../functions/core/exports/disconnect.js';
import { initiateExport } from '../../../functions/core/exports/initiate.js';
import { cancelExport } from '../../../functions/core/exports/manage.js';
import { pollExport } from '../../../functions/core/exports/poll.js';
import { requestExports } from '../../../functions/core/exports/request.js';
import { transferFile } from '../../../functions/core/exports/transfer.js';
import { createBundleBody } from '../../../functions/entrypoints/schemas.js';
import { parseWith } from '../../../functions/platform/validation.js';
import { consentDepsWithFakes } from '../../fakes/consent-deps.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';
import { untar } from '../../fixtures/tar.js';

// POST /v1/bundles (issue 15): a bundle of exports already requested, of several grants.

type Env = Awaited<ReturnType<typeof exportDepsWithFakes>>;

const crcOf = (data: Buffer) => {
  const c = new NodeRsCrc32c().start();
  c.update(data);
  return c.value();
};
const errorOf = async (p: Promise<unknown>) => p.then(() => null).catch((e: unknown) => e as AppError);

/** A second ACTIVE consent of another app user, granting the same two groups as `c1`. */
async function withSecondConsent(env: Env) {
  const c1 = (await env.consents.get('c1'))!;
  await env.consents.create('c2', { ...c1, appUserId: 'user 2', token: await env.deps.vault.seal('1//refresh2', 'c2') });
}

/** Requests `resources` of `consent` and delivers each with one file `part-0.zip` of `size` random bytes; returns the job ids. */
async function delivered(env: Env, consent: string, resources: string[], size: number) {
  const { exports } = await requestExports(env.deps, { consentId: consent, resources, slot: `compose-${consent}` });
  const ids = exports.map((e) => e.name.split('/')[1]!);
  for (const id of ids) {
    await initiateExport(env.deps, id);
    const job = (await env.jobs.get(id))!;
    const url = `https://signed/${id}`;
    env.downloader.archives.set(url, randomBytes(size));
    env.source.complete(job.upstreamId!, [{ name: 'part-0.zip', url }]);
    env.clock.advance(10_000);
    await pollExport(env.deps, id);
    await transferFile(env.deps, id, 0);
    expect((await env.jobs.get(id))!.state).toBe('DELIVERED');
  }
  return ids;
}

interface Manifest {
  subject: string;
  exports: { export: string; grant: string | null; state: string; files: { path: string; object: string; bytes: number; crc32c: string }[] }[];
  failedExports: string[];
}

describe('POST /v1/bundles: a bundle of exports of several grants (core, on fakes)', () => {
  it("packs two consents' exports of the same group without a name collision; the manifest names each export's grant", async () => {
    const env = await exportDepsWithFakes();
    await withSecondConsent(env);
    const [a] = await delivered(env, 'c1', ['chrome.history'], 300_000);
    const [b] = await delivered(env, 'c2', ['chrome.history'], 200_000);
    // A running export of c1 is waited for, then listed as failed.
    const { exports } = await requestExports(env.deps, { consentId: 'c1', resources: ['myactivity.search'], slot: 'compose-running' });
    const running = exports[0]!.name.split('/')[1]!;

    const bundle = await composeBundle(env.deps, { format: 'tar.gz', exports: [a!, b!, running] });
    const id = bundle.name.split('/')[1]!;
    expect(bundle).toMatchObject({
      state: 'WAITING',
      subject: `bundles/${id}`,
      object: `exports/bundles/${id}.tar.gz`,
      exports: [`exports/${a}`, `exports/${b}`, `exports/${running}`],
    });
    expect(env.queue.on('bundle-requested')).toHaveLength(0);
    // The same exports in another order: the same bundle, nothing new recorded.
    expect((await composeBundle(env.deps, { format: 'tar.gz', exports: [running, b!, a!] })).name).toBe(bundle.name);
    expect((await env.deps.bundles.list({ pageSize: 10 })).items).toHaveLength(1);
    // Another format is another bundle.
    expect((await composeBundle(env.deps, { format: 'zip', exports: [a!, b!, running] })).name).not.toBe(bundle.name);

    await cancelExport(env.deps, running);
    expect(env.queue.on('bundle-requested').map((m) => m.data)).toContainEqual({ bundle: id });
    expect(await buildBundle(env.deps, id)).toBe('delivered');
    const record = (await env.deps.bundles.get(id))!;
    expect(record.appUserId).toBe('');
    const data = env.archive.objects.get(record.object)!.data;
    expect(record).toMatchObject({ bytes: data.length, crc32c: crcOf(data) });

    const entries = await untar(data);
    expect([...entries.keys()]).toEqual(['manifest.json', 'consents/c1/chrome.history/part-0.zip', 'consents/c2/chrome.history/part-0.zip']);
    const manifest = JSON.parse(entries.get('manifest.json')!.toString()) as Manifest;
    expect(manifest.subject).toBe(`bundles/${id}`);
    expect(manifest.exports.map((e) => [e.export, e.grant, e.state])).toEqual([
      [`exports/${a}`, 'consents/c1', 'DELIVERED'],
      [`exports/${b}`, 'consents/c2', 'DELIVERED'],
      [`exports/${running}`, 'consents/c1', 'CANCELLED'],
    ]);
    expect(manifest.failedExports).toEqual([`exports/${running}`]);
    for (const f of manifest.exports.flatMap((e) => e.files)) {
      const stored = env.archive.objects.get(f.object)!.data;
      expect(f).toMatchObject({ bytes: stored.length, crc32c: crcOf(stored) });
      expect(entries.get(f.path)!.equals(stored)).toBe(true);
    }
  });

  it("exports of one grant give that grant's bundle, the one its export request with a bundle gives", async () => {
    const env = await exportDepsWithFakes();
    const out = await requestExports(env.deps, { consentId: 'c1', slot: 'one-grant', bundle: 'zip' });
    const ids = out.exports.map((e) => e.name.split('/')[1]!);
    const composed = await composeBundle(env.deps, { format: 'zip', exports: [...ids].reverse() });
    expect(composed).toMatchObject({ name: out.bundle!.name, subject: 'consents/c1', object: `exports/user%201/c1/bundles/${out.bundle!.name.split('/')[1]}.zip` });
    const single = await composeBundle(env.deps, { format: 'tar.gz', exports: [ids[0]!] });
    expect(single).toMatchObject({ subject: 'consents/c1' });
    expect((await env.deps.bundles.get(single.name.split('/')[1]!))!.appUserId).toBe('user 1');
  });

  it('refuses repeated and unknown exports, naming each as exports[i]', async () => {
    const env = await exportDepsWithFakes();
    const [a] = await delivered(env, 'c1', ['chrome.history'], 1000);
    const unknown = 'f'.repeat(32);
    const repeated = await errorOf(composeBundle(env.deps, { format: 'zip', exports: [a!, a!] }));
    expect(repeated).toMatchObject({ code: 'INVALID_ARGUMENT', violations: [{ field: 'exports[1]', description: 'repeats exports[0]' }] });
    const missing = await errorOf(composeBundle(env.deps, { format: 'zip', exports: [a!, unknown, 'e'.repeat(32)] }));
    expect(missing).toMatchObject({
      code: 'INVALID_ARGUMENT',
      violations: [
        { field: 'exports[1]', description: `exports/${unknown} does not exist` },
        { field: 'exports[2]', description: expect.stringContaining('does not exist') },
      ],
    });
    expect(await errorOf(composeBundle(env.deps, { format: 'zip', exports: [] }))).toMatchObject({ violations: [{ field: 'exports' }] });
    expect((await env.deps.bundles.list({ pageSize: 10 })).items).toHaveLength(0);
    // The body: names of the form exports/{id}, at most 100, a format.
    const fields = (body: unknown) => {
      try {
        parseWith(createBundleBody, body);
        return [];
      } catch (error) {
        return ((error as AppError).violations ?? []).map((v) => v.field);
      }
    };
    expect(fields({ exports: [`exports/${a}`], format: 'zip' })).toEqual([]);
    expect(fields({ exports: [`exports/${a}`, 'consents/c1'], format: 'zip' })).toEqual(['exports[1]']);
    expect(fields({ exports: [`exports/${a}`] })).toEqual(['format']);
    expect(fields({ exports: [`exports/${a}`], format: 'rar' })).toEqual(['format']);
    expect(fields({ exports: Array.from({ length: 101 }, () => `exports/${a}`), format: 'zip' })).toEqual(['exports']);
  });

  it("erasing one of the consents deletes the bundle of several grants (object and record), which lives outside the consent's folder", async () => {
    const env = await exportDepsWithFakes();
    await withSecondConsent(env);
    const [a] = await delivered(env, 'c1', ['chrome.history'], 100_000);
    const [b] = await delivered(env, 'c2', ['chrome.history'], 100_000);
    const bundle = await composeBundle(env.deps, { format: 'zip', exports: [a!, b!] });
    const id = bundle.name.split('/')[1]!;
    expect(await buildBundle(env.deps, id)).toBe('delivered');
    expect(env.archive.objects.has(bundle.object)).toBe(true);
    await env.consents.update('c1', (c) => ({ kind: 'put', value: { ...c!, token: null }, result: null }));
    const consent = { ...consentDepsWithFakes().deps, consents: env.consents };
    await disconnect({ consent, exports: env.deps }, 'c1', { erase: true, actor: 'app@p.iam.gserviceaccount.com' });
    expect(env.archive.objects.has(bundle.object)).toBe(false);
    expect(env.archive.objects.has(partialObject(bundle))).toBe(false);
    expect(await env.deps.bundles.get(id)).toBeUndefined();
    expect((await env.deps.bundleMembers.list({ pageSize: 10 })).items).toHaveLength(0);
    // c2's own objects and export stay.
    const other = (await env.jobs.get(b!))!;
    expect(other.state).toBe('DELIVERED');
    expect(env.archive.objects.has(other.files[0]!.object)).toBe(true);
  });
});
