import { inParallel } from '../concurrency.js';
import type { UpstreamState } from '../ports/export-source.js';
import { keep, put } from '../ports/record-store.js';
import type { ExportDeps } from './deps.js';
import { endJob } from './finish.js';
import { grantEnded } from '../sources/upstream.js';
import { MAX_UPSTREAM_RETRIES, grantOf, leaseFree, type EndReason, type ExportJob, type JobFile } from './model.js';
import { objectName, signedUrlSecretId } from './naming.js';
import { nextCheckAt } from './poll-policy.js';

export type PollResult = 'ignored' | 'in_progress' | 'complete' | 'retried' | 'ended';

/** Tolerance for a check that arrives a little before its time (clock skew between instances). */
const EARLY_TOLERANCE_MS = 2_000;

/**
 * Checks one job upstream when its timer is due. Every transition is guarded on the state that was
 * read (job IN_PROGRESS with the same upstream id and timer), so duplicate and stale checks change
 * nothing; only the worker whose transition committed publishes the follow-up messages.
 */
export async function pollExport(deps: ExportDeps, id: string): Promise<PollResult> {
  const job = await deps.jobs.get(id);
  const now = deps.clock.now();
  if (!isDue(job, now)) return 'ignored';

  // `upstream` checks the grant (consent or tenant) before it asks: an ended grant ends the job.
  let upstream: UpstreamState;
  try {
    upstream = await deps.upstream.state(grantOf(job), job.upstreamId);
  } catch (error) {
    if (grantEnded(error)) return end(deps, id, job, 'ABORTED', 'CONSENT_ENDED', error.message);
    throw error;
  }
  return applyState(deps, id, job, upstream, now);
}

/** What one batch of checks came to: how many jobs had each result, and how many failed (left to the sweep). */
export type PollBatchReport = Readonly<Record<PollResult | 'failed', number>>;

/** Jobs read from the store at once while a batch is checked. */
const READ_CONCURRENCY = 16;

/**
 * Checks many jobs whose timers are due with as few upstream calls as the source allows: the due
 * ones are grouped by grant and each group is read with `upstream.states` (Mews: one
 * `exports/getAll` per 1000 exports of a tenant). Each job then moves exactly as `pollExport`
 * would move it, with the same guards. A job that fails on its own is counted and left due (the
 * sweep queues it again); a failure of the upstream read itself fails the batch (redelivered).
 */
export async function pollExports(deps: ExportDeps, ids: readonly string[]): Promise<PollBatchReport> {
  const now = deps.clock.now();
  const report: Record<PollResult | 'failed', number> = { ignored: 0, in_progress: 0, complete: 0, retried: 0, ended: 0, failed: 0 };
  const read = await inParallel([...new Set(ids)], READ_CONCURRENCY, async (id) => ({ id, job: await deps.jobs.get(id) }));
  const groups = new Map<string, DueJob[]>();
  for (const { id, job } of read) {
    if (!isDue(job, now)) {
      report.ignored++;
      continue;
    }
    const grant = grantOf(job);
    const key = `${grant.source}/${grant.id}`;
    const group = groups.get(key) ?? [];
    group.push({ id, job });
    groups.set(key, group);
  }
  for (const group of groups.values()) {
    const first = group[0];
    if (!first) continue;
    let states: ReadonlyMap<string, UpstreamState>;
    try {
      states = await deps.upstream.states(
        grantOf(first.job),
        group.map((g) => g.job.upstreamId),
      );
    } catch (error) {
      if (!grantEnded(error)) throw error;
      for (const { id, job } of group) report[await end(deps, id, job, 'ABORTED', 'CONSENT_ENDED', error.message)]++;
      continue;
    }
    await inParallel(group, READ_CONCURRENCY, async ({ id, job }) => {
      const state = states.get(job.upstreamId);
      try {
        // One upstream does not list: asked on its own (its answer, or its error, as a single check gives).
        report[state ? await applyState(deps, id, job, state, now) : await pollExport(deps, id)]++;
      } catch {
        report.failed++;
      }
    });
  }
  return report;
}

interface DueJob {
  readonly id: string;
  readonly job: ExportJob & { readonly upstreamId: string; readonly nextPollAt: Date };
}

/** A job in progress upstream whose check is due (or a moment early) and that nobody is changing. */
function isDue(job: ExportJob | undefined, now: Date): job is DueJob['job'] {
  if (!job || job.state !== 'IN_PROGRESS' || !job.upstreamId || !job.nextPollAt) return false;
  if (job.nextPollAt.getTime() > now.getTime() + EARLY_TOLERANCE_MS) return false;
  return leaseFree(job.claim, now);
}

/** Moves one due job by the state upstream reported, guarded on the job as it was read. */
async function applyState(deps: ExportDeps, id: string, job: DueJob['job'], upstream: UpstreamState, now: Date): Promise<PollResult> {
  const grant = grantOf(job);
  const same = (j: ExportJob | undefined): j is ExportJob =>
    !!j && j.state === 'IN_PROGRESS' && j.upstreamId === job.upstreamId && j.nextPollAt?.getTime() === job.nextPollAt.getTime() && leaseFree(j.claim, now);

  switch (upstream.state) {
    case 'IN_PROGRESS': {
      const next = nextCheckAt(job.upstreamStartedAt ?? job.createdAt, now);
      await deps.jobs.update(id, (j) => (same(j) ? put({ ...j, nextPollAt: next, polls: j.polls + 1, updatedAt: now }, null) : keep(null)), { basis: job });
      return 'in_progress';
    }
    case 'COMPLETE': {
      const exportTime = upstream.exportTime ?? now;
      // Each signed URL is kept sealed for the transfer (bound to its job and file).
      const urls = await Promise.all(upstream.files.map((f, index) => deps.vault.seal(f.url, signedUrlSecretId(id, index))));
      const files: JobFile[] = upstream.files.map((f, index) => ({
        index,
        name: f.name,
        object: objectName(deps.settings.objectPrefix, job, exportTime, f.name),
        state: 'PENDING',
        bytes: null,
        crc32c: null,
        md5: null,
        lease: null,
        checkpoint: null,
        attempts: 0,
        url: urls[index] ?? null,
        expectedBytes: f.bytes ?? null,
      }));
      const moved = await deps.jobs.update(
        id,
        (j) =>
          same(j)
            ? put(
                { ...j, state: 'TRANSFERRING' as const, exportTime, upstreamExpiresAt: upstream.expiresAt ?? null, files, nextPollAt: null, polls: j.polls + 1, updatedAt: now },
                true,
              )
            : keep(false),
        { basis: job },
      );
      if (!moved) return 'ignored';
      for (const file of files) await deps.queue.publish('archive-transfer', { job: id, file: file.index });
      return 'complete';
    }
    case 'FAILED':
    case 'EXPIRED': {
      // A failed job is started again (its files, for an expired one, are gone): within the retry budget.
      const what = upstream.state === 'FAILED' ? 'failed' : 'expired';
      if (job.retries >= MAX_UPSTREAM_RETRIES) return end(deps, id, job, 'FAILED', 'UPSTREAM_FAILED', `upstream job ${what} after ${job.retries} retries`);
      const owner = deps.newOwner();
      const claimed = await deps.jobs.update(
        id,
        (j) => (same(j) ? put({ ...j, claim: { owner, until: new Date(now.getTime() + deps.settings.leaseSeconds * 1000) }, updatedAt: now }, true) : keep(false)),
        { basis: job },
      );
      if (!claimed) return 'ignored';
      const newId = await deps.upstream.retry(grant, job.upstreamId).catch(async (error: unknown) => {
        await deps.jobs.update(id, (j) => (j && j.claim?.owner === owner ? put({ ...j, claim: null }, null) : keep(null)));
        throw error;
      });
      const at = deps.clock.now();
      await deps.jobs.update(id, (j) =>
        j && j.claim?.owner === owner
          ? put(
              {
                ...j,
                claim: null,
                upstreamHistory: [...j.upstreamHistory, j.upstreamId ?? ''],
                upstreamId: newId,
                retries: j.retries + 1,
                upstreamStartedAt: at,
                nextPollAt: nextCheckAt(at, at),
                polls: j.polls + 1,
                updatedAt: at,
              },
              null,
            )
          : keep(null),
      );
      return 'retried';
    }
    case 'CANCELLED':
      return end(deps, id, job, 'CANCELLED', 'UPSTREAM_CANCELLED', 'cancelled upstream');
  }
}

async function end(deps: ExportDeps, id: string, seen: ExportJob, state: 'FAILED' | 'CANCELLED' | 'ABORTED', reason: EndReason, detail: string): Promise<PollResult> {
  const after = await endJob(deps, id, { state, reason, detail }, (j) => j.state === seen.state && j.upstreamId === seen.upstreamId, { basis: seen });
  return after ? 'ended' : 'ignored';
}
