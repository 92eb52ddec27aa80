import { sweepBundles } from '../bundles/trigger.js';
import { sweepConsents } from '../consent/sweep.js';
import { inParallel } from '../concurrency.js';
import { put, keep } from '../ports/record-store.js';
import type { ExportDeps } from './deps.js';
import { finishClosing, finishJob } from './finish.js';
import { MAX_START_ATTEMPTS, grantOf } from './model.js';

/** A queued check that was not handled within this long is queued again. */
const REQUEUE_MS = 60_000;
/** Due checks marked as queued at once. */
const MARK_CONCURRENCY = 16;
/** A PENDING job whose start message got lost is started again after this long. */
const STALE_PENDING_MS = 2 * 60_000;
/** The longest wait between two sweep-driven start attempts of a job whose starts keep failing. */
const MAX_START_BACKOFF_MS = 60 * 60_000;

/** How long after its last failed start the sweep tries a job again: doubling past the redeliveries. */
export function startBackoffMs(attempts: number): number {
  return Math.min(STALE_PENDING_MS * 2 ** Math.max(0, attempts - (MAX_START_ATTEMPTS >> 1)), MAX_START_BACKOFF_MS);
}

export interface SweepReport {
  readonly polls: number;
  readonly starts: number;
  readonly transfers: number;
  readonly bundles: number;
}

/**
 * The durable timers: publishes what is due, so a lost message delays work but never strands it.
 * Run by the `poll-sweep` scheduler tick (every minute in production). Idempotent: publishing a
 * check or a transfer twice is harmless, the handlers are guarded.
 */
export async function sweep(deps: ExportDeps): Promise<SweepReport> {
  const now = deps.clock.now();
  const limit = deps.settings.sweepLimit;
  let polls = 0;
  let starts = 0;
  let transfers = 0;

  // Due checks go out grouped by grant: one message reads up to the source's batch of jobs with
  // one upstream call (Mews: 1000 exports of a tenant per `exports/getAll`); one job per message
  // where the source reads jobs one at a time.
  const dueChecks = new Map<string, { limit: number; ids: string[] }>();
  const dueJobs = await deps.jobs.listDue({ where: { state: 'IN_PROGRESS' }, field: 'nextPollAt', before: now, limit });
  // Marked a few at a time (thousands of running Mews exports can be due in one sweep).
  const marked = await inParallel(dueJobs, MARK_CONCURRENCY, async ({ id, value }) => {
    // A check already queued for this due time is queued again only if it has not been handled
    // within REQUEUE_MS (the message was lost or is stuck in retries).
    const due = value.nextPollAt?.getTime() ?? 0;
    const queued = value.pollQueuedAt?.getTime() ?? 0;
    if (queued >= due && queued > now.getTime() - REQUEUE_MS) return false;
    return deps.jobs.update(id, (j) => (j && j.state === 'IN_PROGRESS' && j.nextPollAt?.getTime() === due ? put({ ...j, pollQueuedAt: now }, true) : keep(false)), {
      basis: value,
    });
  });
  dueJobs.forEach(({ id, value }, i) => {
    if (!marked[i]) return;
    const grant = grantOf(value);
    const key = `${grant.source}/${grant.id}`;
    const group = dueChecks.get(key) ?? { limit: deps.upstream.batchLimit(grant.source), ids: [] };
    group.ids.push(id);
    dueChecks.set(key, group);
    polls++;
  });
  for (const { limit: batch, ids } of dueChecks.values()) {
    for (let i = 0; i < ids.length; i += batch) {
      const [single, ...more] = ids.slice(i, i + batch);
      if (single !== undefined) await deps.queue.publish('job-poll', more.length === 0 ? { job: single } : { jobs: [single, ...more] });
    }
  }
  for (const { id, value } of await deps.jobs.listDue({ where: { state: 'WAITING' }, field: 'notBefore', before: now, limit })) {
    const woke = await deps.jobs.update(id, (j) => (j && j.state === 'WAITING' ? put({ ...j, state: 'PENDING' as const, notBefore: null, updatedAt: now }, true) : keep(false)), {
      basis: value,
    });
    if (woke) {
      await deps.queue.publish('export-requested', { job: id });
      starts++;
    }
  }
  const stale = new Date(now.getTime() - STALE_PENDING_MS);
  for (const state of ['PENDING', 'STARTING'] as const) {
    for (const { id, value } of await deps.jobs.listDue({ where: { state }, field: 'updatedAt', before: stale, limit })) {
      if (state === 'STARTING' && value.claim && value.claim.until.getTime() > now.getTime()) continue;
      if (value.updatedAt.getTime() > now.getTime() - startBackoffMs(value.startAttempts ?? 0)) continue;
      await deps.queue.publish('export-requested', { job: id });
      starts++;
    }
  }
  const leaseAge = new Date(now.getTime() - deps.settings.leaseSeconds * 1000);
  for (const { id, value } of await deps.jobs.listDue({ where: { state: 'TRANSFERRING' }, field: 'updatedAt', before: leaseAge, limit })) {
    // Every file in but the job never finished (a crash after the last file): finish it here.
    if (value.files.every((f) => f.state === 'DONE')) {
      await finishJob(deps, id);
      continue;
    }
    for (const file of value.files) {
      if (file.state === 'PENDING' && (!file.lease || file.lease.until.getTime() <= now.getTime())) {
        await deps.queue.publish('archive-transfer', { job: id, file: file.index });
        transfers++;
      }
    }
  }
  // A consent whose release was interrupted (CLOSING for a while) is finished here.
  for (const { id } of await deps.consents.listDue({ where: { status: 'CLOSING' }, field: 'updatedAt', before: stale, limit })) {
    await finishClosing(deps, id);
  }
  // Unconfirmed consents past their code's lifetime expire; unfinished activation follow-ups finish.
  await sweepConsents(deps);
  const bundles = await sweepBundles(deps);
  return { polls, starts, transfers, bundles };
}
