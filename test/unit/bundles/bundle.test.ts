import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NodeRsCrc32c } from '../../../functions/adapters/node-rs-crc32c.js';
import { buildBundle } from '../../../functions/core/bundles/build.js';
import { partialObject } from '../../../functions/core/bundles/model.js';
import { sweepBundles } from '../../../functions/core/bundles/trigger.js';
import { AppError } from '../../../functions/core/errors.js';
import type { ExportDeps } from '../../../functions/core/exports/deps.js';
import { initiateExport } from '../../../functions/core/exports/initiate.js';
import { cancelExport } from '../../../functions/core/exports/manage.js';
import { pollExport } from '../../../functions/core/exports/poll.js';
import { requestExports } from '../../../functions/core/exports/request.js';
import { transferFile } from '../../../functions/core/exports/transfer.js';
import type { Clock } from '../../../functions/core/ports/clock.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';
import { untar } from '../../fixtures/tar.js';

type Env = Awaited<ReturnType<typeof exportDepsWithFakes>>;

const crcOf = (data: Buffer) => {
  const c = new NodeRsCrc32c().start();
  c.update(data);
  return c.value();
};

/** Requests both groups with a bundle; `myactivity.search` gets files of these sizes, `chrome.history` is cancelled. */
async function requestWithBundle(env: Env, sizes: number[], format: 'zip' | 'tar.gz' = 'tar.gz') {
  const out = await requestExports(env.deps, { consentId: 'c1', slot: 'bundle-test', bundle: format });
  const [a, b] = out.exports.map((e) => e.name.split('/')[1]!);
  const bundle = out.bundle!.name.split('/')[1]!;
  await initiateExport(env.deps, a!);
  const job = (await env.jobs.get(a!))!;
  const files = sizes.map((size, i) => {
    const url = `https://signed/${i}`;
    env.downloader.archives.set(url, randomBytes(size));
    return { name: `part-${i}.zip`, url };
  });
  env.source.complete(job.upstreamId!, files);
  env.clock.advance(10_000);
  await pollExport(env.deps, a!);
  return { delivered: a!, other: b!, bundle, out };
}

async function deliverAll(env: Env, id: string, files: number) {
  for (let i = 0; i < files; i++) await transferFile(env.deps, id, i);
}

function bundleMessages(env: Env) {
  return env.queue.on('bundle-requested').map((m) => m.data);
}

describe('bundles (core, on fakes)', () => {
  it('waits for every job, then packs the delivered files and a manifest that lists the cancelled export', async () => {
    const env = await exportDepsWithFakes();
    const { delivered, other, bundle, out } = await requestWithBundle(env, [700_000, 300_000]);
    expect(out.bundle).toMatchObject({ state: 'WAITING', format: 'tar.gz', exports: [`exports/${delivered}`, `exports/${other}`] });
    await deliverAll(env, delivered, 2);
    // One job still runs: no build yet.
    expect(bundleMessages(env)).toEqual([]);
    expect(await buildBundle(env.deps, bundle)).toBe('waiting');
    await cancelExport(env.deps, other);
    expect(bundleMessages(env)).toEqual([{ bundle }]);

    expect(await buildBundle(env.deps, bundle)).toBe('delivered');
    const record = (await env.deps.bundles.get(bundle))!;
    expect(record.state).toBe('DELIVERED');
    const object = env.archive.objects.get(record.object)!.data;
    expect(record.object).toBe(`exports/user%201/c1/bundles/${bundle}.tar.gz`);
    expect(record).toMatchObject({ bytes: object.length, crc32c: crcOf(object) });
    expect(env.archive.objects.has(partialObject(record))).toBe(false);

    const entries = await untar(object);
    const job = (await env.jobs.get(delivered))!;
    expect([...entries.keys()]).toEqual(['manifest.json', 'myactivity.search/part-0.zip', 'myactivity.search/part-1.zip']);
    const manifest = JSON.parse(entries.get('manifest.json')!.toString()) as {
      exports: { export: string; state: string; endReason: string | null; files: { path: string; object: string; bytes: number; crc32c: string }[] }[];
      failedExports: string[];
    };
    expect(manifest.failedExports).toEqual([`exports/${other}`]);
    expect(manifest.exports.map((e) => [e.export, e.state])).toEqual([
      [`exports/${delivered}`, 'DELIVERED'],
      [`exports/${other}`, 'CANCELLED'],
    ]);
    for (const [i, f] of manifest.exports[0]!.files.entries()) {
      const stored = env.archive.objects.get(f.object)!.data;
      expect(f).toMatchObject({ object: job.files[i]!.object, bytes: stored.length, crc32c: crcOf(stored) });
      expect(entries.get(f.path)!.equals(stored)).toBe(true);
    }
    const events = env.queue.on('export-events').map((m) => m.data as { type: string; data: Record<string, unknown> });
    expect(events.filter((e) => e.type === 'bundle.delivered')).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ object: record.object, bytes: object.length, crc32c: crcOf(object), failedExports: [`exports/${other}`] }) }),
    ]);
    // Repeated messages after delivery change nothing.
    expect(await buildBundle(env.deps, bundle)).toBe('ignored');
  });

  it('concurrent and duplicated triggers produce one bundle object', async () => {
    const env = await exportDepsWithFakes();
    const { delivered, other, bundle } = await requestWithBundle(env, [1_500_000], 'zip');
    await deliverAll(env, delivered, 1);
    await cancelExport(env.deps, other);
    const results = await Promise.all(Array.from({ length: 4 }, () => buildBundle(env.deps, bundle)));
    expect(results.filter((r) => r === 'delivered')).toHaveLength(1);
    expect(results.filter((r) => r !== 'delivered').every((r) => r === 'busy' || r === 'ignored')).toBe(true);
    const bundles = [...env.archive.objects.keys()].filter((k) => k.includes('/bundles/'));
    expect(bundles).toEqual([`exports/user%201/c1/bundles/${bundle}.zip`]);
    // The same request asked again finds the same, delivered bundle.
    const again = await requestExports(env.deps, { consentId: 'c1', slot: 'bundle-test', bundle: 'zip' });
    expect(again.bundle).toMatchObject({ name: `bundles/${bundle}`, state: 'DELIVERED' });
  });

  it('resumes after a hand-over and after a crash mid-write, skipping what the upload holds; the result is whole and intact', async () => {
    const run = async (interrupt: boolean) => {
      const env = await exportDepsWithFakes();
      const { delivered, other, bundle } = await requestWithBundle(env, [1_200_000, 900_000]);
      await deliverAll(env, delivered, 2);
      await cancelExport(env.deps, other);
      if (!interrupt) {
        expect(await buildBundle(env.deps, bundle)).toBe('delivered');
        return { env, data: env.archive.objects.get((await env.deps.bundles.get(bundle))!.object)!.data };
      }
      // 1. The time budget runs out after the first checkpoint: the build hands over.
      const ticking: Clock = { now: () => (env.clock.advance(60_000), env.clock.now()) };
      expect(await buildBundle({ ...env.deps, clock: ticking, settings: { ...env.deps.settings, transferBudgetSeconds: 30 } }, bundle)).toBe('continued');
      const afterHandover = (await env.deps.bundles.get(bundle))!;
      expect(afterHandover.checkpoint!.marks.length).toBeGreaterThan(1);
      // 2. The next attempt breaks while reading the second file (a transient failure).
      const second = afterHandover.contents!.exports[0]!.files[1]!.object;
      const broken: ExportDeps = {
        ...env.deps,
        archive: Object.assign(Object.create(env.archive) as typeof env.archive, {
          read: async (object: string) => {
            if (object !== second) return env.archive.read(object);
            return new Readable({
              read() {
                this.push(randomBytes(64 * 1024));
                this.destroy(new AppError('UNAVAILABLE', 'connection reset'));
              },
            });
          },
        }),
      };
      await expect(buildBundle(broken, bundle)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      const session = [...env.archive.sessions.values()].find((s) => s.object.endsWith('.partial'))!;
      const held = session.data.length;
      expect(held).toBeGreaterThan(afterHandover.checkpoint!.marks.at(-1)!.offset);
      expect((await env.deps.bundles.get(bundle))!.attempts).toBe(1);
      // 3. A clean attempt finishes from where the upload stopped.
      expect(await buildBundle(env.deps, bundle)).toBe('delivered');
      // One upload session for the bundle all along (the others are the files' transfers).
      expect([...env.archive.sessions.values()].filter((s) => s.object.endsWith('.partial'))).toHaveLength(1);
      return { env, data: env.archive.objects.get((await env.deps.bundles.get(bundle))!.object)!.data };
    };
    for (const { env, data } of [await run(false), await run(true)]) {
      // gunzip checks the stream's own CRC32 and length; every entry equals its object byte for byte.
      const entries = await untar(data);
      expect([...entries.keys()]).toEqual(['manifest.json', 'myactivity.search/part-0.zip', 'myactivity.search/part-1.zip']);
      const manifest = JSON.parse(entries.get('manifest.json')!.toString()) as { exports: { files: { path: string; object: string; crc32c: string }[] }[] };
      for (const f of manifest.exports[0]!.files) {
        expect(entries.get(f.path)!.equals(env.archive.objects.get(f.object)!.data)).toBe(true);
        expect(crcOf(entries.get(f.path)!)).toBe(f.crc32c);
      }
    }
  }, 60_000);

  it('a stream that does not regenerate identically voids the upload and starts again from byte 0', async () => {
    const env = await exportDepsWithFakes();
    const { delivered, other, bundle } = await requestWithBundle(env, [1_200_000]);
    await deliverAll(env, delivered, 1);
    await cancelExport(env.deps, other);
    const ticking: Clock = { now: () => (env.clock.advance(60_000), env.clock.now()) };
    expect(await buildBundle({ ...env.deps, clock: ticking, settings: { ...env.deps.settings, transferBudgetSeconds: 30 } }, bundle)).toBe('continued');
    // Tamper with the recorded running checksum: the regenerated stream no longer matches it.
    await env.deps.bundles.update(bundle, (b) => ({
      kind: 'put',
      value: { ...b!, checkpoint: { ...b!.checkpoint!, marks: b!.checkpoint!.marks.map((m, i) => (i === 0 ? m : { ...m, crc32c: 'AAAAAA==' })) } },
      result: null,
    }));
    await expect(buildBundle(env.deps, bundle)).rejects.toMatchObject({ reason: 'BUNDLE_RESTART' });
    expect((await env.deps.bundles.get(bundle))!.checkpoint).toBeNull();
    expect(await buildBundle(env.deps, bundle)).toBe('delivered');
    const record = (await env.deps.bundles.get(bundle))!;
    expect(record.crc32c).toBe(crcOf(env.archive.objects.get(record.object)!.data));
  });

  it('a delivered file that no longer matches its record fails the bundle; nothing is written under the final name', async () => {
    const env = await exportDepsWithFakes();
    const { delivered, other, bundle } = await requestWithBundle(env, [500_000]);
    await deliverAll(env, delivered, 1);
    await cancelExport(env.deps, other);
    const job = (await env.jobs.get(delivered))!;
    env.archive.objects.get(job.files[0]!.object)!.data = randomBytes(500_000);
    expect(await buildBundle(env.deps, bundle)).toBe('failed');
    const record = (await env.deps.bundles.get(bundle))!;
    expect(record).toMatchObject({ state: 'FAILED' });
    expect(record.detail).toMatch(/no longer matches/);
    expect(env.archive.objects.has(record.object)).toBe(false);
    expect(env.archive.objects.has(partialObject(record))).toBe(false);
    expect(env.queue.on('export-events').map((m) => (m.data as { type: string }).type)).toContain('bundle.failed');
  });

  it('the sweep finds a bundle whose trigger was lost, and hands on one whose worker died', async () => {
    const env = await exportDepsWithFakes();
    const { delivered, other, bundle } = await requestWithBundle(env, [300_000]);
    await deliverAll(env, delivered, 1);
    await cancelExport(env.deps, other);
    env.queue.published.length = 0;
    expect(await sweepBundles(env.deps)).toBe(0);
    env.clock.advance(5 * 60_000);
    expect(await sweepBundles(env.deps)).toBe(1);
    expect(bundleMessages(env)).toEqual([{ bundle }]);
    // A worker took the lease and died before the first checkpoint: the sweep waits for the lease.
    const ticking: Clock = { now: () => (env.clock.advance(60_000), env.clock.now()) };
    await buildBundle({ ...env.deps, clock: ticking, settings: { ...env.deps.settings, transferBudgetSeconds: 1 } }, bundle);
    await env.deps.bundles.update(bundle, (b) => ({ kind: 'put', value: { ...b!, lease: { owner: 'dead', until: new Date(env.clock.now().getTime() + 600_000) } }, result: null }));
    env.queue.published.length = 0;
    expect(await sweepBundles(env.deps)).toBe(0);
    env.clock.advance(601_000);
    expect(await sweepBundles(env.deps)).toBe(1);
    expect(await buildBundle(env.deps, bundle)).toBe('delivered');
  });
});
