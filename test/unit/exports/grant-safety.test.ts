import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../functions/core/errors.js';
import { disconnect } from '../../../functions/core/exports/disconnect.js';
import { initiateExport } from '../../../functions/core/exports/initiate.js';
import { cancelExport, retryExport } from '../../../functions/core/exports/manage.js';
import { MAX_START_ATTEMPTS } from '../../../functions/core/exports/model.js';
import { pollExport } from '../../../functions/core/exports/poll.js';
import { requestExports } from '../../../functions/core/exports/request.js';
import { sweep } from '../../../functions/core/exports/sweep.js';
import { transferFile } from '../../../functions/core/exports/transfer.js';
import { consentDepsWithFakes } from '../../fakes/consent-deps.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';

/**
 * Issue 13's data-loss paths, on fakes: a one-time grant is the user's only chance, so no path
 * may use it up (reset it upstream) without delivering.
 */
type Env = Awaited<ReturnType<typeof exportDepsWithFakes>>;

async function requested(env: Env, resources: string[], slot = 'test') {
  const out = await requestExports(env.deps, { consentId: 'c1', slot, resources });
  return out.exports.map((e) => e.name.split('/')[1]!);
}

/** One group's job, started and complete upstream with one archive file, polled to TRANSFERRING. */
async function transferring(env: Env, resource: string, size = 300_000) {
  const [id] = await requested(env, [resource]);
  await initiateExport(env.deps, id!);
  const job = (await env.jobs.get(id!))!;
  const url = `https://signed/${id}`;
  env.downloader.archives.set(url, randomBytes(size));
  env.source.complete(job.upstreamId!, [{ name: 'a.zip', url }]);
  env.clock.advance(10_000);
  await pollExport(env.deps, id!);
  return id!;
}

const events = (env: Env) => env.queue.on('export-events').map((m) => m.data as { id: string; type: string });

/** The bucket refuses every upload for a while (an outage). */
function bucketOutage(env: Env): () => void {
  const original = env.archive.beginUpload.bind(env.archive);
  env.archive.beginUpload = () => Promise.reject(new AppError('UNAVAILABLE', 'starting an upload: HTTP 503'));
  return () => {
    env.archive.beginUpload = original;
  };
}

describe('a lost initiate answer (item 3)', () => {
  it('the retry that gets RESOURCE_EXHAUSTED_ONE_TIME adopts the upstream job the lost call started, and it is delivered', async () => {
    const env = await exportDepsWithFakes();
    const [id] = await requested(env, ['myactivity.search']);
    env.source.loseAnswer.add('myactivity.search');
    await expect(initiateExport(env.deps, id!)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const [upstreamId] = [...env.source.jobs.keys()];
    env.source.complete(upstreamId!, [{ name: 'a.zip', url: 'https://signed/a' }]);
    env.downloader.archives.set('https://signed/a', randomBytes(1000));
    // The redelivered message: upstream refuses (the group was used) and names the job.
    expect(await initiateExport(env.deps, id!)).toBe('started');
    expect(await env.jobs.get(id!)).toMatchObject({ state: 'IN_PROGRESS', upstreamId });
    env.clock.advance(10_000);
    expect(await pollExport(env.deps, id!)).toBe('complete');
    expect(await transferFile(env.deps, id!, 0)).toBe('delivered');
    expect(env.source.jobs.size).toBe(1);
  });

  it('never adopts an upstream job that another of our jobs holds: that is a real exhaustion', async () => {
    const env = await exportDepsWithFakes();
    const first = await transferring(env, 'myactivity.search');
    await transferFile(env.deps, first, 0);
    const [second] = await requested(env, ['myactivity.search'], 'another-request');
    expect(await initiateExport(env.deps, second!)).toBe('ended');
    expect(await env.jobs.get(second!)).toMatchObject({ state: 'EXHAUSTED', endReason: 'ONE_TIME_USED' });
  });
});

describe('a failure on our side does not use up the grant (item 4)', () => {
  it('a transfer failed by a bucket outage keeps the consent open; :retry copies from the existing archive and then releases once', async () => {
    const env = await exportDepsWithFakes();
    const search = await transferring(env, 'myactivity.search');
    const chrome = await transferring(env, 'chrome.history');
    expect(await transferFile(env.deps, chrome, 0)).toBe('delivered');
    const restore = bucketOutage(env);
    for (let i = 0; i < 8; i++) await expect(transferFile(env.deps, search, 0)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await transferFile(env.deps, search, 0)).toBe('ended');
    expect(await env.jobs.get(search)).toMatchObject({ state: 'FAILED', endReason: 'TRANSFER_FAILED' });
    // Every job is terminal, but one failed on our side: the one-time grant is kept.
    expect(env.source.calls.release).toBe(0);
    expect((await env.consents.get('c1'))?.status).toBe('ACTIVE');
    restore();
    const starts = env.source.calls.start;
    expect(await retryExport(env.deps, search)).toMatchObject({ state: 'TRANSFERRING' });
    expect(env.source.calls.start).toBe(starts);
    expect(env.queue.on('archive-transfer').at(-1)?.data).toEqual({ job: search, file: 0 });
    expect(await transferFile(env.deps, search, 0)).toBe('delivered');
    expect(env.source.calls.release).toBe(1);
    expect((await env.consents.get('c1'))?.status).toBe('CLOSED');
  });

  it('a job cancelled before it started keeps the grant, and a retry starts it', async () => {
    const env = await exportDepsWithFakes();
    const [id] = await requested(env, ['myactivity.search']);
    const chrome = await transferring(env, 'chrome.history');
    await cancelExport(env.deps, id!);
    expect(await transferFile(env.deps, chrome, 0)).toBe('delivered');
    expect(env.source.calls.release).toBe(0);
    expect((await retryExport(env.deps, id!)).state).toBe('PENDING');
    expect(await initiateExport(env.deps, id!)).toBe('started');
  });

  it('a retry that cannot work is refused at once, naming the reason', async () => {
    const env = await exportDepsWithFakes();
    const id = await transferring(env, 'myactivity.search');
    const restore = bucketOutage(env);
    for (let i = 0; i < 8; i++) await transferFile(env.deps, id, 0).catch(() => undefined);
    await transferFile(env.deps, id, 0);
    restore();
    // The archive expired upstream meanwhile (the fake's job is gone).
    env.source.jobs.clear();
    const error = await retryExport(env.deps, id).catch((e: unknown) => e as AppError);
    expect(error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'ARCHIVE_GONE' });
    expect((await env.jobs.get(id))?.state).toBe('FAILED');
  });
});

describe('one running export per consent and group (item 5)', () => {
  it('30 concurrent requests with different request ids get one job and one upstream start', async () => {
    const env = await exportDepsWithFakes();
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => requestExports(env.deps, { consentId: 'c1', slot: `request:${i}`, resources: ['myactivity.search'] })));
    const names = new Set(results.map((r) => r.exports[0]!.name));
    expect(names.size).toBe(1);
    expect(env.jobs.size()).toBe(1);
    const [id] = [...names].map((n) => n.split('/')[1]!);
    await Promise.all(env.queue.on('export-requested').map(() => initiateExport(env.deps, id!)));
    expect(env.source.calls.start).toBe(1);
  });

  it('a new request after the running one ended gets a job of its own; a retry while another runs is refused naming it', async () => {
    const env = await exportDepsWithFakes();
    const [first] = await requested(env, ['myactivity.search'], 'one');
    await cancelExport(env.deps, first!);
    const [second] = await requested(env, ['myactivity.search'], 'two');
    expect(second).not.toBe(first);
    const error = await retryExport(env.deps, first!).catch((e: unknown) => e as AppError);
    expect(error).toMatchObject({ code: 'ALREADY_EXISTS', reason: 'EXPORT_RUNNING', metadata: { export: `exports/${second}` } });
  });
});

describe('a start that keeps failing on our side ends (item 6)', () => {
  it('ends FAILED with export.failed after bounded attempts, backing off between sweeps', async () => {
    const env = await exportDepsWithFakes();
    const [id] = await requested(env, ['myactivity.search']);
    // The sealed token does not open (or KMS is down): every start fails before reaching upstream.
    env.source.start = () => Promise.reject(new AppError('INTERNAL', 'sealed secret does not open for this record'));
    const outcomes: string[] = [];
    for (let i = 0; i < 40 && outcomes.at(-1) !== 'ended'; i++) {
      outcomes.push(await initiateExport(env.deps, id!).catch(() => 'thrown'));
      env.clock.advance(61 * 60_000);
      await sweep(env.deps);
    }
    expect(outcomes.filter((o) => o === 'thrown')).toHaveLength(MAX_START_ATTEMPTS - 1);
    expect(outcomes.at(-1)).toBe('ended');
    expect(await env.jobs.get(id!)).toMatchObject({ state: 'FAILED', endReason: 'START_FAILED', detail: expect.stringContaining(`after ${MAX_START_ATTEMPTS} attempts`) });
    expect(events(env).map((e) => e.type)).toEqual(['export.failed']);
  });

  it('the sweep waits longer between attempts as they fail', async () => {
    const env = await exportDepsWithFakes();
    const [id] = await requested(env, ['myactivity.search']);
    await env.jobs.update(id!, (j) => ({ kind: 'put', value: { ...j!, startAttempts: MAX_START_ATTEMPTS - 1 }, result: null }));
    env.clock.advance(3 * 60_000);
    expect((await sweep(env.deps)).starts).toBe(0);
    env.clock.advance(60 * 60_000);
    expect((await sweep(env.deps)).starts).toBe(1);
  });
});

describe('cancel and erase close upload sessions (item 9)', () => {
  it('cancelling a job mid-transfer cancels its open resumable session', async () => {
    const env = await exportDepsWithFakes();
    const id = await transferring(env, 'myactivity.search', 3_000_000);
    env.downloader.breakAfter = 1_500_000;
    await expect(transferFile(env.deps, id, 0)).rejects.toThrow();
    expect([...env.archive.sessions.values()].filter((s) => !s.done)).toHaveLength(1);
    await cancelExport(env.deps, id);
    expect(env.archive.sessions.size).toBe(0);
    expect((await env.jobs.get(id))?.files[0]?.checkpoint).toBeNull();
  });
});

describe('disconnect and erase close upload sessions (item 9)', () => {
  it('revoking with erase mid-transfer cancels the open session and leaves no object', async () => {
    const env = await exportDepsWithFakes();
    const id = await transferring(env, 'myactivity.search', 3_000_000);
    env.downloader.breakAfter = 1_500_000;
    await expect(transferFile(env.deps, id, 0)).rejects.toThrow();
    expect([...env.archive.sessions.values()].filter((s) => !s.done)).toHaveLength(1);
    // No refresh token left to reset upstream with (the user revoked it in Google already).
    await env.consents.update('c1', (c) => ({ kind: 'put', value: { ...c!, token: null }, result: null }));
    const consent = { ...consentDepsWithFakes().deps, consents: env.consents };
    const erased = await disconnect({ consent, exports: env.deps }, 'c1', { erase: true, actor: 'app@p.iam.gserviceaccount.com' });
    expect(erased).toMatchObject({ state: 'REVOKED', erased: true });
    expect(env.archive.sessions.size).toBe(0);
    expect(env.archive.objects.size).toBe(0);
    expect(env.jobs.size()).toBe(0);
  });
});

describe('one event per real transition (item 13)', () => {
  it('a job that fails, is retried and fails again sends two export.failed events with different ids', async () => {
    const env = await exportDepsWithFakes();
    const [id] = await requested(env, ['myactivity.search']);
    await cancelExport(env.deps, id!);
    await retryExport(env.deps, id!);
    await cancelExport(env.deps, id!);
    const failed = events(env).filter((e) => e.type === 'export.failed');
    expect(failed).toHaveLength(2);
    expect(new Set(failed.map((e) => e.id)).size).toBe(2);
  });
});

describe("the reset waits for the same user's other consents (item 15)", () => {
  it('a one-time consent is released only after another consent of the same app user has finished its exports', async () => {
    const env = await exportDepsWithFakes();
    const c1 = (await env.consents.get('c1'))!;
    await env.consents.create('c2', { ...c1, groups: [{ resource: 'youtube.subscriptions', accessType: 'TIME_BASED' }] });
    const other = (await requestExports(env.deps, { consentId: 'c2', slot: 'x' })).exports[0]!.name.split('/')[1]!;
    const search = await transferring(env, 'myactivity.search');
    const chrome = await transferring(env, 'chrome.history');
    await transferFile(env.deps, search, 0);
    await transferFile(env.deps, chrome, 0);
    // Releasing now would revoke the running consent's token too.
    expect(env.source.calls.release).toBe(0);
    await cancelExport(env.deps, other);
    expect(env.source.calls.release).toBe(1);
    expect((await env.consents.get('c1'))?.status).toBe('CLOSED');
    expect((await env.consents.get('c2'))?.status).toBe('ACTIVE');
  });
});

describe('object names that cannot be delivered are refused before the grant is used (item 8)', () => {
  it('refuses an export whose object names would exceed 1,024 bytes, naming appUserId', async () => {
    const env = await exportDepsWithFakes({ objectPrefix: 'p'.repeat(800) });
    const error = (await requestExports(env.deps, { consentId: 'c1', slot: 's' }).catch((e: unknown) => e)) as AppError;
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'OBJECT_NAME_TOO_LONG' });
    expect(error.violations[0]?.field).toBe('appUserId');
    expect(env.jobs.size()).toBe(0);
  });
});

describe('a busy file is not a failure (item 10)', () => {
  it('a worker that loses its lease to another acks instead of throwing', async () => {
    const env = await exportDepsWithFakes({ transferBudgetSeconds: 420 });
    const id = await transferring(env, 'myactivity.search', 2_000_000);
    // Another worker takes the file over between two checkpoints of this one.
    const realSave = env.jobs.update.bind(env.jobs);
    let stolen = false;
    env.jobs.update = ((key: string, mutate: Parameters<typeof realSave>[1], options?: Parameters<typeof realSave>[2]) => {
      if (!stolen && env.archive.sessions.size > 0 && [...env.archive.sessions.values()].some((s) => s.data.length > 0)) {
        stolen = true;
        return realSave(key, (j) => ({
          kind: 'put',
          value: { ...j!, files: j!.files.map((f) => ({ ...f, lease: { owner: 'other', until: new Date(env.clock.now().getTime() + 600_000) } })) },
          result: null,
        })).then(() => realSave(key, mutate, options));
      }
      return realSave(key, mutate, options);
    }) as typeof env.jobs.update;
    expect(await transferFile(env.deps, id, 0)).toBe('ignored');
    expect(stolen).toBe(true);
  });
});
