import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AppError } from '../../../functions/core/errors.js';
import { transient } from '../../../functions/core/errors.js';
import { initiateExport } from '../../../functions/core/exports/initiate.js';
import { cancelExport, retryExport } from '../../../functions/core/exports/manage.js';
import { MAX_UPSTREAM_RETRIES } from '../../../functions/core/exports/model.js';
import { pollExport } from '../../../functions/core/exports/poll.js';
import { apiSlot, requestExports } from '../../../functions/core/exports/request.js';
import { sweep } from '../../../functions/core/exports/sweep.js';
import { transferFile } from '../../../functions/core/exports/transfer.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';

type Env = Awaited<ReturnType<typeof exportDepsWithFakes>>;

async function requested(env: Env, resources?: string[]) {
  const out = await requestExports(env.deps, { consentId: 'c1', slot: 'test', ...(resources ? { resources } : {}) });
  return out.exports.map((e) => e.name.split('/')[1]!);
}

async function running(env: Env, resource = 'myactivity.search') {
  const [id] = await requested(env, [resource]);
  await initiateExport(env.deps, id!);
  const job = (await env.jobs.get(id!))!;
  return { id: id!, upstreamId: job.upstreamId! };
}

function typesOf(env: Env) {
  return env.queue.on('export-events').map((m) => (m.data as { type: string }).type);
}

describe('export request and initiate (core, on fakes)', () => {
  it('creates one job per granted group with deterministic ids; a repeated request finds the same jobs', async () => {
    const env = await exportDepsWithFakes();
    const first = await requested(env);
    const second = await requested(env);
    expect(first).toHaveLength(2);
    expect(second).toEqual(first);
    expect(env.jobs.size()).toBe(2);
  });

  it('derives the slot of an API request from its request id, else from the day and the window', () => {
    const now = new Date('2026-11-23T15:00:00Z');
    const start = new Date('2026-01-01T00:00:00Z');
    expect(apiSlot(now, { requestId: 'r-1' })).toBe('request:r-1');
    expect(apiSlot(now, {})).toBe('day:2026-11-23:/');
    expect(apiSlot(now, { startTime: start })).toBe('day:2026-11-23:2026-01-01T00:00:00.000Z/');
    expect(apiSlot(new Date('2026-11-24T00:00:00Z'), {})).not.toBe(apiSlot(now, {}));
  });

  it('refuses groups the consent does not grant and a time window that ends before it starts', async () => {
    const env = await exportDepsWithFakes();
    const error = await requestExports(env.deps, {
      consentId: 'c1',
      slot: 's',
      resources: ['youtube.subscriptions'],
      startTime: new Date('2026-02-01T00:00:00Z'),
      endTime: new Date('2026-01-01T00:00:00Z'),
    }).catch((e: unknown) => e as AppError);
    expect((error as AppError).violations.map((v) => v.field)).toEqual(['resources[0]', 'startTime']);
    expect(env.jobs.size()).toBe(0);
  });

  it('starts the upstream job exactly once however often initiate runs', async () => {
    const env = await exportDepsWithFakes();
    const [id] = await requested(env, ['myactivity.search']);
    const results = await Promise.all(Array.from({ length: 8 }, () => initiateExport(env.deps, id!)));
    expect(results.filter((r) => r === 'started')).toHaveLength(1);
    expect(env.source.calls.start).toBe(1);
    const job = await env.jobs.get(id!);
    expect(job).toMatchObject({ state: 'IN_PROGRESS', accessType: 'ONE_TIME' });
    expect(job?.nextPollAt?.getTime()).toBe(env.clock.now().getTime() + 10_000);
  });

  it('maps every documented refusal to a recorded state, and a transient failure back to PENDING', async () => {
    const env = await exportDepsWithFakes();
    const at = new Date(env.clock.now().getTime() + 86_400_000);
    env.source.scripted.set('myactivity.search', [{ kind: 'exhausted', detail: 'used', previousUpstreamIds: [] }]);
    env.source.scripted.set('chrome.history', [transient('503'), { kind: 'not_before', at, detail: '24h' }]);
    const [a, b] = await requested(env);
    expect(await initiateExport(env.deps, a!)).toBe('ended');
    expect((await env.jobs.get(a!))?.state).toBe('EXHAUSTED');
    await expect(initiateExport(env.deps, b!)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect((await env.jobs.get(b!))?.state).toBe('PENDING');
    expect(await initiateExport(env.deps, b!)).toBe('waiting');
    expect(await env.jobs.get(b!)).toMatchObject({ state: 'WAITING', notBefore: at });
    expect(typesOf(env)).toEqual(['export.failed']);
  });

  it('adopts a running upstream job and ends a job whose group is not granted', async () => {
    const env = await exportDepsWithFakes();
    env.source.scripted.set('myactivity.search', [{ kind: 'adopted', upstreamId: 'up-1' }]);
    env.source.scripted.set('chrome.history', [{ kind: 'not_granted', detail: '403' }]);
    const [a, b] = await requested(env);
    await initiateExport(env.deps, a!);
    await initiateExport(env.deps, b!);
    expect(await env.jobs.get(a!)).toMatchObject({ state: 'IN_PROGRESS', upstreamId: 'up-1' });
    expect(await env.jobs.get(b!)).toMatchObject({ state: 'NOT_GRANTED', detail: '403' });
  });
});

describe('poll (core, on fakes)', () => {
  it('ignores checks before they are due and moves the timer on by the policy', async () => {
    const env = await exportDepsWithFakes();
    const { id } = await running(env);
    expect(await pollExport(env.deps, id)).toBe('ignored');
    expect(env.source.calls.state).toBe(0);
    env.clock.advance(10_000);
    expect(await pollExport(env.deps, id)).toBe('in_progress');
    expect((await env.jobs.get(id))?.nextPollAt?.getTime()).toBe(env.clock.now().getTime() + 20_000);
  });

  it('on COMPLETE, hands each file to transfer once, whatever the number of duplicate checks', async () => {
    const env = await exportDepsWithFakes();
    const { id, upstreamId } = await running(env);
    env.source.complete(upstreamId, [
      { name: 'a.zip', url: 'https://signed/a?sig=1' },
      { name: 'b.zip', url: 'https://signed/b?sig=1' },
    ]);
    env.clock.advance(10_000);
    const results = await Promise.all(Array.from({ length: 5 }, () => pollExport(env.deps, id)));
    expect(results.filter((r) => r === 'complete')).toHaveLength(1);
    expect(env.queue.on('archive-transfer').map((m) => m.data)).toEqual([
      { job: id, file: 0 },
      { job: id, file: 1 },
    ]);
    const job = await env.jobs.get(id);
    expect(job?.state).toBe('TRANSFERRING');
    expect(job?.files.map((f) => f.object)).toEqual([
      `exports/user%201/c1/myactivity.search/2026-11-23T12:00:00Z/a.zip`,
      `exports/user%201/c1/myactivity.search/2026-11-23T12:00:00Z/b.zip`,
    ]);
    expect(JSON.stringify(job)).not.toContain('sig=');
  });

  it('retries a FAILED upstream job at most 3 times, keeping the history, then fails', async () => {
    const env = await exportDepsWithFakes();
    let { id, upstreamId } = await running(env);
    for (let i = 0; i < MAX_UPSTREAM_RETRIES; i++) {
      env.source.setState(upstreamId, 'FAILED');
      env.clock.advance(60_000);
      expect(await pollExport(env.deps, id)).toBe('retried');
      const job = (await env.jobs.get(id))!;
      expect(job.upstreamHistory).toHaveLength(i + 1);
      upstreamId = job.upstreamId!;
    }
    env.source.setState(upstreamId, 'FAILED');
    env.clock.advance(60_000);
    expect(await pollExport(env.deps, id)).toBe('ended');
    expect(await env.jobs.get(id)).toMatchObject({ state: 'FAILED', retries: 3 });
    expect(env.source.calls.retry).toBe(3);
    expect(typesOf(env)).toEqual(['export.failed']);
    ({ id } = { id });
  });

  it('cancel ends a one-time job but leaves its upstream job running; a retry follows that job, no second initiate', async () => {
    const env = await exportDepsWithFakes();
    const { id, upstreamId } = await running(env);
    expect((await cancelExport(env.deps, id)).state).toBe('CANCELLED');
    // Cancelling upstream would use up the user's only export of the group without delivering it.
    expect(env.source.jobs.get(upstreamId)?.state).toBe('IN_PROGRESS');
    expect(env.source.calls.cancel).toBe(0);
    expect((await cancelExport(env.deps, id)).state).toBe('CANCELLED');
    const again = await retryExport(env.deps, id);
    expect(again).toMatchObject({ state: 'IN_PROGRESS', upstreamJobId: upstreamId, upstreamJobHistory: [] });
    expect(env.queue.on('job-poll').at(-1)?.data).toEqual({ job: id });
    expect(env.source.calls.start).toBe(1);
  });
});

describe('transfer, manifest and reset (core, on fakes)', () => {
  /** Both granted groups of the consent exported, complete upstream, each with one file to copy. */
  async function bothGroupsTransferring(env: Env): Promise<string[]> {
    const ids = await requested(env);
    for (const id of ids) {
      await initiateExport(env.deps, id);
      const job = (await env.jobs.get(id))!;
      env.downloader.archives.set(`https://signed/${id}`, randomBytes(1000));
      env.source.complete(job.upstreamId!, [{ name: 'a.zip', url: `https://signed/${id}` }]);
    }
    env.clock.advance(10_000);
    for (const id of ids) await pollExport(env.deps, id);
    return ids;
  }

  async function transferring(env: Env, sizes: number[]) {
    const { id, upstreamId } = await running(env, 'myactivity.search');
    const files = sizes.map((size, i) => {
      const url = `https://signed/${i}?sig=s`;
      env.downloader.archives.set(url, randomBytes(size));
      return { name: `part-${i}.zip`, url };
    });
    env.source.complete(upstreamId, files);
    env.clock.advance(10_000);
    await pollExport(env.deps, id);
    return id;
  }

  it('copies every file, verified, writes the manifest and delivers once', async () => {
    const env = await exportDepsWithFakes();
    const id = await transferring(env, [1_000_000, 300_000]);
    expect(await transferFile(env.deps, id, 0)).toBe('file_done');
    expect(await transferFile(env.deps, id, 0)).toBe('ignored');
    expect(await transferFile(env.deps, id, 1)).toBe('delivered');
    const job = (await env.jobs.get(id))!;
    expect(job.state).toBe('DELIVERED');
    for (const [i, f] of job.files.entries()) {
      expect(env.archive.objects.get(f.object)?.data.equals(env.downloader.archives.get(`https://signed/${i}?sig=s`)!)).toBe(true);
    }
    const manifest = JSON.parse(env.archive.objects.get(job.manifestObject!)!.data.toString());
    expect(manifest).toMatchObject({ resource: 'myactivity.search', accessType: 'ONE_TIME', files: [{ bytes: 1_000_000 }, { bytes: 300_000 }] });
    expect(typesOf(env)).toEqual(['export.delivered']);
    // The other granted group has no job yet: the one-time grant is not released.
    expect(env.source.calls.release).toBe(0);
  });

  it('a worker writes the job on the value it last wrote (no read first) and the result is the same', async () => {
    const env = await exportDepsWithFakes();
    const id = await transferring(env, [300_000]);
    const before = env.jobs.basisHits;
    expect(await transferFile(env.deps, id, 0)).toBe('delivered');
    // The first checkpoint on the lease, and the delivery on the checkpoint.
    expect(env.jobs.basisHits - before).toBeGreaterThanOrEqual(2);
    expect((await env.jobs.get(id))?.files.map((f) => f.state)).toEqual(['DONE']);
  });

  it('files copied at the same time deliver the job once, with every file in the manifest', async () => {
    const env = await exportDepsWithFakes();
    const id = await transferring(env, [200_000, 300_000, 400_000]);
    // Each worker leases its file while the others are still pending: none of them takes the
    // last-file path, and the one whose update sees them all done finishes the job.
    const results = await Promise.all([0, 1, 2].map((i) => transferFile(env.deps, id, i)));
    expect(results.filter((r) => r === 'delivered')).toHaveLength(1);
    expect(results.filter((r) => r === 'file_done')).toHaveLength(2);
    const job = (await env.jobs.get(id))!;
    expect(job.state).toBe('DELIVERED');
    const manifest = JSON.parse(env.archive.objects.get(job.manifestObject!)!.data.toString()) as { files: { bytes: number }[] };
    expect(manifest.files.map((f) => f.bytes)).toEqual([200_000, 300_000, 400_000]);
    expect(typesOf(env)).toEqual(['export.delivered']);
  });

  it('resumes a broken download from the persisted offset with a ranged request, and the copy is exact', async () => {
    const env = await exportDepsWithFakes();
    const id = await transferring(env, [3_000_000]);
    env.downloader.breakAfter = 1_500_000;
    await expect(transferFile(env.deps, id, 0)).rejects.toThrow();
    const checkpoint = (await env.jobs.get(id))!.files[0]!.checkpoint;
    expect(checkpoint?.marks.length).toBeGreaterThan(1);
    expect(await transferFile(env.deps, id, 0)).toBe('delivered');
    const resumedFrom = env.downloader.opened.at(-1)!.offset;
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom % (256 * 1024)).toBe(0);
    const job = (await env.jobs.get(id))!;
    expect(env.archive.objects.get(job.files[0]!.object)?.data.equals(env.downloader.archives.get('https://signed/0?sig=s')!)).toBe(true);
    expect(JSON.stringify(job)).not.toContain('session-');
  });

  it('downloads with the URL the poll kept, sealed; one that stopped working is replaced by a fresh one from the job state', async () => {
    const env = await exportDepsWithFakes();
    const id = await transferring(env, [400_000]);
    const job = (await env.jobs.get(id))!;
    // The poll kept the URL sealed, never in the clear.
    expect(job.files[0]?.url?.ciphertext).toBeTruthy();
    expect(JSON.stringify(job)).not.toContain('https://signed/0?sig=s');
    // The kept URL expired before the transfer; upstream now hands out a fresh one.
    env.downloader.expired.add('https://signed/0?sig=s');
    env.downloader.archives.set('https://signed/0?sig=fresh', env.downloader.archives.get('https://signed/0?sig=s')!);
    env.source.complete(job.upstreamId!, [{ name: 'part-0.zip', url: 'https://signed/0?sig=fresh' }]);
    const stateCalls = env.source.calls.state;
    expect(await transferFile(env.deps, id, 0)).toBe('delivered');
    expect(env.source.calls.state - stateCalls).toBe(1);
    expect(env.downloader.opened.map((o) => o.url)).toEqual(['https://signed/0?sig=s', 'https://signed/0?sig=fresh']);
    // Done: the sealed URL is not kept.
    expect((await env.jobs.get(id))?.files[0]?.url).toBeNull();
  });

  it('a transfer whose kept URL works asks upstream for nothing; an archive gone upstream ends the job FAILED', async () => {
    const env = await exportDepsWithFakes();
    const id = await transferring(env, [300_000]);
    const stateCalls = env.source.calls.state;
    expect(await transferFile(env.deps, id, 0)).toBe('delivered');
    expect(env.source.calls.state - stateCalls).toBe(0);

    const other = await exportDepsWithFakes();
    const gone = await transferring(other, [300_000]);
    const job = (await other.jobs.get(gone))!;
    other.downloader.expired.add('https://signed/0?sig=s');
    other.source.complete(job.upstreamId!, []);
    expect(await transferFile(other.deps, gone, 0)).toBe('ended');
    expect(await other.jobs.get(gone)).toMatchObject({ state: 'FAILED', detail: expect.stringMatching(/no longer available upstream/) });
  });

  it('hands over to a new invocation when its time budget is spent', async () => {
    const env = await exportDepsWithFakes({ transferBudgetSeconds: 5 });
    const id = await transferring(env, [1_000_000]);
    // Every reading of the clock is a second later: the budget runs out a few marks in.
    const ticking = { now: () => (env.clock.advance(1_000), env.clock.now()) };
    expect(await transferFile({ ...env.deps, clock: ticking }, id, 0)).toBe('continued');
    const file = (await env.jobs.get(id))!.files[0]!;
    expect(file.state).toBe('PENDING');
    expect(file.lease).toBeNull();
    expect(file.checkpoint?.marks.length).toBeGreaterThan(1);
    expect(await transferFile(env.deps, id, 0)).toBe('delivered');
    expect(env.queue.on('archive-transfer').filter((m) => (m.data as { file: number }).file === 0)).toHaveLength(2);
  });

  it('after the last group is delivered, releases the one-time grant once and closes the consent', async () => {
    const env = await exportDepsWithFakes();
    const ids = await bothGroupsTransferring(env);
    await transferFile(env.deps, ids[0]!, 0);
    expect(env.source.calls.release).toBe(0);
    await transferFile(env.deps, ids[1]!, 0);
    expect(env.source.calls.release).toBe(1);
    expect((await env.consents.get('c1'))?.status).toBe('CLOSED');
    expect((await env.consents.get('c1'))?.token).toBeNull();
    expect(typesOf(env)).toEqual(['export.delivered', 'export.delivered', 'consent.closed']);
  });

  it('jobs finishing together close the consent once: one release, no NEEDS_RECONSENT', async () => {
    const env = await exportDepsWithFakes();
    const ids = await bothGroupsTransferring(env);
    await Promise.all(ids.map((id) => transferFile(env.deps, id, 0)));
    expect(env.source.calls.release).toBe(1);
    expect((await env.consents.get('c1'))?.status).toBe('CLOSED');
    expect(typesOf(env).filter((t) => t === 'consent.closed')).toHaveLength(1);
  });

  it('the sweep finishes a release that a crash interrupted', async () => {
    const env = await exportDepsWithFakes();
    await env.consents.update('c1', (c) => ({ kind: 'put', value: { ...c!, status: 'CLOSING', updatedAt: env.clock.now() }, result: null }));
    await sweep(env.deps);
    expect((await env.consents.get('c1'))?.status).toBe('CLOSING');
    env.clock.advance(3 * 60_000);
    await sweep(env.deps);
    expect(env.source.calls.release).toBe(1);
    expect(await env.consents.get('c1')).toMatchObject({ status: 'CLOSED', token: null });
  });

  it('a revoked consent stops a transfer and leaves nothing written', async () => {
    const env = await exportDepsWithFakes();
    const id = await transferring(env, [500_000]);
    await env.consents.update('c1', (c) => ({ kind: 'put', value: { ...c!, status: 'REVOKED', token: null }, result: null }));
    expect(await transferFile(env.deps, id, 0)).toBe('ended');
    expect(env.archive.objects.size).toBe(0);
    expect((await env.jobs.get(id))?.state).toBe('ABORTED');
  });

  it('hand-overs never count as failures: a copy needing many invocations is delivered', async () => {
    const env = await exportDepsWithFakes({ transferBudgetSeconds: 1 });
    const id = await transferring(env, [4_000_000]);
    const ticking = { now: () => (env.clock.advance(1_000), env.clock.now()) };
    let result = '';
    for (let i = 0; i < 40 && result !== 'delivered'; i++) result = await transferFile({ ...env.deps, clock: ticking }, id, 0);
    expect(result).toBe('delivered');
    expect(env.queue.on('archive-transfer').length).toBeGreaterThan(10);
  });

  it('gives up on a file after repeated failures and records why', async () => {
    const env = await exportDepsWithFakes();
    const id = await transferring(env, [600_000]);
    for (let i = 0; i < 8; i++) {
      env.downloader.breakAfter = 0;
      await expect(transferFile(env.deps, id, 0)).rejects.toThrow();
    }
    expect(await transferFile(env.deps, id, 0)).toBe('ended');
    expect(await env.jobs.get(id)).toMatchObject({ state: 'FAILED', detail: 'file part-0.zip failed 8 times' });
  });
});

describe('sweep (durable timers, on fakes)', () => {
  it('publishes due checks, wakes waiting jobs and restarts stale ones', async () => {
    const env = await exportDepsWithFakes();
    const { id } = await running(env);
    env.source.scripted.set('chrome.history', [{ kind: 'not_before', at: new Date(env.clock.now().getTime() + 3_600_000), detail: '24h' }]);
    const [waiting] = await requested(env, ['chrome.history']);
    await initiateExport(env.deps, waiting!);
    expect(await sweep(env.deps)).toEqual({ polls: 0, starts: 0, transfers: 0, bundles: 0 });
    env.clock.advance(3_600_000);
    const report = await sweep(env.deps);
    expect(report).toEqual({ polls: 1, starts: 1, transfers: 0, bundles: 0 });
    expect(env.queue.on('job-poll').map((m) => m.data)).toEqual([{ job: id }]);
    expect((await env.jobs.get(waiting!))?.state).toBe('PENDING');
  });

  it('finishes a job whose last file went in but whose worker stopped before the manifest', async () => {
    const env = await exportDepsWithFakes();
    const { id, upstreamId } = await running(env);
    env.downloader.archives.set('https://signed/x', randomBytes(1000));
    env.source.complete(upstreamId, [{ name: 'a.zip', url: 'https://signed/x' }]);
    env.clock.advance(10_000);
    await pollExport(env.deps, id);
    // The file is copied, but the job is left TRANSFERRING as if the worker died before finishing.
    const stored = await env.archive.writeJson('exports/copied.zip', {});
    await env.jobs.update(id, (j) => ({
      kind: 'put',
      value: { ...j!, files: j!.files.map((f) => ({ ...f, state: 'DONE' as const, bytes: stored.bytes, crc32c: stored.crc32c })) },
      result: null,
    }));
    await sweep(env.deps);
    expect((await env.jobs.get(id))?.state).toBe('TRANSFERRING');
    env.clock.advance(11 * 60_000);
    await sweep(env.deps);
    expect((await env.jobs.get(id))?.state).toBe('DELIVERED');
    expect(typesOf(env)).toEqual(['export.delivered']);
  });

  it('queues a due check once per minute until it is handled, and the next one when it is due', async () => {
    const env = await exportDepsWithFakes();
    const { id } = await running(env);
    env.clock.advance(10_000);
    await sweep(env.deps);
    env.clock.advance(1_000);
    await sweep(env.deps);
    expect(env.queue.on('job-poll')).toHaveLength(1);
    env.clock.advance(60_000);
    await sweep(env.deps);
    expect(env.queue.on('job-poll')).toHaveLength(2);
    expect(await pollExport(env.deps, id)).toBe('in_progress');
    await sweep(env.deps);
    expect(env.queue.on('job-poll')).toHaveLength(2);
    env.clock.advance(60_000);
    await sweep(env.deps);
    expect(env.queue.on('job-poll')).toHaveLength(3);
  });
});
