import type { Consent } from '../consent/model.js';
import { AppError } from '../errors.js';
import { createIfAbsent, keep, put, remove } from '../ports/record-store.js';
import type { ExportDeps } from './deps.js';
import { endJob } from './finish.js';
import { grantStoppedReason, readJobGrant } from './grants.js';
import { MAX_UPSTREAM_RETRIES, grantKindOf, grantName, grantOf, isTerminalJob, jobName, laneId, type EndReason, type ExportJob, type GrantKind } from './model.js';
import { jobResource } from './views.js';

export async function getExport(deps: Pick<ExportDeps, 'jobs'>, id: string) {
  const job = await deps.jobs.get(id);
  if (!job) throw new AppError('NOT_FOUND', `${jobName(id)} not found`);
  return jobResource(id, job);
}

/** The exports of one grant, a consent's or (`grantKind` tenant) a tenant's, paged. */
export async function listExports(deps: Pick<ExportDeps, 'jobs'>, query: { consentId: string; grantKind?: GrantKind; pageSize: number; pageToken?: string }) {
  const page = await deps.jobs.list({ where: { consentId: query.consentId }, pageSize: query.pageSize, ...(query.pageToken ? { pageToken: query.pageToken } : {}) });
  // Ids of consents and tenants are drawn apart; a job of the other kind is never listed all the same.
  const items = page.items.filter((i) => grantKindOf(i.value) === (query.grantKind ?? 'consent'));
  return { exports: items.map((i) => jobResource(i.id, i.value)), ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) };
}

/**
 * Cancels a job that has not delivered yet. A time-based job running upstream is cancelled there
 * too; a one-time job's upstream job is left to finish (cancelling it would use up the user's
 * only export of that group without delivering it), so a later `:retry` can still deliver it.
 * Cancelling a terminal job is refused with FAILED_PRECONDITION; cancelling twice answers the
 * cancelled job.
 */
export async function cancelExport(deps: ExportDeps, id: string) {
  const job = await deps.jobs.get(id);
  if (!job) throw new AppError('NOT_FOUND', `${jobName(id)} not found`);
  if (job.state === 'CANCELLED') return jobResource(id, job);
  if (isTerminalJob(job.state)) throw new AppError('FAILED_PRECONDITION', `${jobName(id)} is ${job.state}`, { reason: 'EXPORT_FINISHED' });
  const consent = await deps.consents.get(job.consentId);
  const oneTime = accessTypeOf(consent, job) === 'ONE_TIME';
  let reason: EndReason = 'CANCELLED_BY_APP';
  if (job.state === 'IN_PROGRESS' && job.upstreamId && !oneTime) {
    try {
      await deps.upstream.cancel(grantOf(job), job.upstreamId);
      reason = 'UPSTREAM_CANCELLED';
    } catch (error) {
      // Finished upstream in the meantime (cancel only works while in progress): cancel ours anyway.
      if (!(error instanceof AppError && (error.code === 'FAILED_PRECONDITION' || error.code === 'NOT_FOUND'))) throw error;
    }
  }
  const detail =
    oneTime && job.upstreamId ? 'cancelled by the application; the one-time upstream job was left to finish so a retry can still deliver it' : 'cancelled by the application';
  const ended = await endJob(deps, id, { state: 'CANCELLED', reason, detail });
  const after = ended ?? (await deps.jobs.get(id));
  if (!after) throw new AppError('NOT_FOUND', `${jobName(id)} not found`);
  if (!ended && after.state !== 'CANCELLED') throw new AppError('FAILED_PRECONDITION', `${jobName(id)} is ${after.state}`, { reason: 'EXPORT_FINISHED' });
  return jobResource(id, after);
}

type RetryPlan =
  /** Copy the files not yet in the bucket again, from the upstream archive that still exists. */
  | { readonly kind: 'transfer' }
  /** Follow the upstream job again (running, complete, or failed within its retry budget). */
  | { readonly kind: 'follow' }
  /** Start a new upstream job (nothing upstream to reuse, and the grant allows a new one). */
  | { readonly kind: 'restart' };

/**
 * Runs a FAILED or CANCELLED job again, reusing what upstream still has: a job whose transfer
 * failed copies its files again from the existing archive (no new initiate, the files already in
 * the bucket stay); a job whose upstream job is running, complete or retryable follows it again;
 * only a job with nothing upstream starts a new one. A retry that cannot work is refused at once
 * with FAILED_PRECONDITION naming the reason: the archive is gone or upstream failed for good and
 * a one-time grant cannot start again, or another export of the group is running.
 */
export async function retryExport(deps: ExportDeps, id: string) {
  const existing = await deps.jobs.get(id);
  if (!existing) throw new AppError('NOT_FOUND', `${jobName(id)} not found`);
  // A tenant's job runs again only while its tenant is ACTIVE; a consent's while its consent is.
  const [consent, grant] = await Promise.all([deps.consents.get(existing.consentId), readJobGrant(deps, existing)]);
  if (grant?.status !== 'ACTIVE') {
    throw new AppError('FAILED_PRECONDITION', `${grantName(existing)} is ${grant?.status ?? 'gone'}`, { reason: grantStoppedReason(existing, grant) });
  }
  if (existing.state !== 'FAILED' && existing.state !== 'CANCELLED') {
    throw new AppError('FAILED_PRECONDITION', `${jobName(id)} is ${existing.state}; only FAILED or CANCELLED exports can be retried`, { reason: 'EXPORT_NOT_RETRYABLE' });
  }
  const plan = await retryPlan(deps, existing, accessTypeOf(consent, existing) === 'ONE_TIME');
  await claimLane(deps, existing.consentId, existing.resource, id);
  const now = deps.clock.now();
  const after = await deps.jobs.update(id, (j) => {
    if (!j) throw new AppError('NOT_FOUND', `${jobName(id)} not found`);
    if (j.state !== 'FAILED' && j.state !== 'CANCELLED') {
      throw new AppError('FAILED_PRECONDITION', `${jobName(id)} is ${j.state}; only FAILED or CANCELLED exports can be retried`, { reason: 'EXPORT_NOT_RETRYABLE' });
    }
    const again = { ...j, run: (j.run ?? 1) + 1, detail: null, endReason: null, startAttempts: 0, claim: null, updatedAt: now };
    const next: ExportJob =
      plan.kind === 'transfer'
        ? { ...again, state: 'TRANSFERRING', files: j.files.map((f) => (f.state === 'DONE' ? f : { ...f, attempts: 0, lease: null, checkpoint: null, url: null })) }
        : plan.kind === 'follow'
          ? { ...again, state: 'IN_PROGRESS', files: [], nextPollAt: now, pollQueuedAt: null, polls: 0 }
          : {
              ...again,
              state: 'PENDING',
              upstreamHistory: j.upstreamId ? [...j.upstreamHistory, j.upstreamId] : j.upstreamHistory,
              upstreamId: null,
              retries: 0,
              nextPollAt: null,
              exportTime: null,
              files: [],
            };
    return put(next, next);
  });
  if (plan.kind === 'transfer') {
    for (const f of after.files) if (f.state === 'PENDING') await deps.queue.publish('archive-transfer', { job: id, file: f.index });
  } else {
    await deps.queue.publish(plan.kind === 'follow' ? 'job-poll' : 'export-requested', { job: id });
  }
  return jobResource(id, after);
}

async function retryPlan(deps: ExportDeps, job: ExportJob, oneTime: boolean): Promise<RetryPlan> {
  if (!job.upstreamId) return { kind: 'restart' };
  const upstream = await deps.upstream.state(grantOf(job), job.upstreamId).catch((error: unknown) => {
    if (error instanceof AppError && error.code === 'NOT_FOUND') return null;
    throw error;
  });
  const cannot = (reason: string, why: string): never => {
    throw new AppError('FAILED_PRECONDITION', why, { reason });
  };
  const reached = job.files.length > 0 && job.exportTime !== null;
  if (upstream?.state === 'COMPLETE') return reached ? { kind: 'transfer' } : { kind: 'follow' };
  if (upstream?.state === 'IN_PROGRESS') return { kind: 'follow' };
  if (upstream?.state === 'FAILED' && job.retries < MAX_UPSTREAM_RETRIES) return { kind: 'follow' };
  if (!oneTime) return { kind: 'restart' };
  if (upstream?.state === 'FAILED')
    return cannot('UPSTREAM_FAILED', `the upstream job failed after ${job.retries} retries; a one-time grant cannot start a new one (the user must consent again)`);
  if (upstream?.state === 'CANCELLED') return cannot('UPSTREAM_CANCELLED', 'the upstream job was cancelled; a one-time grant cannot start a new one (the user must consent again)');
  return cannot('ARCHIVE_GONE', 'the archive is no longer available upstream; a one-time grant cannot start a new one (the user must consent again)');
}

/**
 * Takes the lane of (consent, group) for this job: at most one export of a group runs per
 * consent. Another job that runs it → ALREADY_EXISTS naming that job; a lane left by a job that
 * ended (or was never written) is taken over.
 */
export async function claimLane(deps: ExportDeps, consentId: string, resource: string, id: string): Promise<void> {
  const holder = await takeLane(deps, consentId, resource, id);
  if (holder) {
    throw new AppError('ALREADY_EXISTS', `${jobName(holder.id)} is running an export of ${resource} for this consent`, {
      reason: 'EXPORT_RUNNING',
      metadata: { export: jobName(holder.id) },
    });
  }
}

/** A lane naming a job not written yet is a concurrent request's for this long (then a crashed one's). */
const YOUNG_LANE_MS = 10_000;
/** How long a request waits, in all, for a concurrent request to write the job its lane names. */
const LANE_WAIT_MS = 2_000;

/**
 * Takes the lane for `id` unless another job runs it; returns that job then. A lane whose job
 * ended is taken over, and so is one naming a job never written that is older than YOUNG_LANE_MS
 * (a request that crashed); a young one is waited for briefly (its request is writing the job).
 */
export async function takeLane(deps: ExportDeps, consentId: string, resource: string, id: string): Promise<{ id: string; job: ExportJob } | null> {
  const lane = laneId(consentId, resource);
  // A lane is removed when its job ends, so it is usually free: one create-only write then.
  if (await createIfAbsent(deps.lanes, lane, { job: id, since: deps.clock.now() })) return null;
  for (let waited = 0; ;) {
    const now = deps.clock.now();
    const holder = await deps.lanes.update(lane, (cur) => (!cur || cur.job === id ? put({ job: id, since: cur?.since ?? now }, null) : keep(cur)));
    if (holder === null) return null;
    const job = await deps.jobs.get(holder.job);
    if (job && !isTerminalJob(job.state)) return { id: holder.job, job };
    if (!job && now.getTime() - holder.since.getTime() < YOUNG_LANE_MS) {
      if (waited >= LANE_WAIT_MS) throw new AppError('ABORTED', `another request is starting an export of ${resource} for this consent; try again`);
      await new Promise((r) => setTimeout(r, 50));
      waited += 50;
      continue;
    }
    await deps.lanes.update(lane, (cur) => (cur && cur.job === holder.job ? remove(null) : keep(null)));
  }
}

function accessTypeOf(consent: Consent | undefined, job: ExportJob) {
  return consent?.groups.find((g) => g.resource === job.resource)?.accessType ?? job.accessType;
}
