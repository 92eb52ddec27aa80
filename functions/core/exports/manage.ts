import { consentName } from '../consent/model.js';
import { AppError } from '../errors.js';
import { keep, put } from '../ports/record-store.js';
import type { ExportDeps } from './deps.js';
import { afterTerminal } from './finish.js';
import { isTerminalJob, jobName, type ExportJob } from './model.js';
import { jobResource } from './views.js';

export async function getExport(deps: Pick<ExportDeps, 'jobs'>, id: string) {
  const job = await deps.jobs.get(id);
  if (!job) throw new AppError('NOT_FOUND', `${jobName(id)} not found`);
  return jobResource(id, job);
}

export async function listExports(deps: Pick<ExportDeps, 'jobs'>, query: { consentId: string; pageSize: number; pageToken?: string }) {
  const page = await deps.jobs.list({ where: { consentId: query.consentId }, pageSize: query.pageSize, ...(query.pageToken ? { pageToken: query.pageToken } : {}) });
  return { exports: page.items.map((i) => jobResource(i.id, i.value)), ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) };
}

/**
 * Cancels a job that has not delivered yet: upstream first when it runs there, then CANCELLED.
 * Cancelling a terminal job is refused with FAILED_PRECONDITION; cancelling twice answers the
 * cancelled job.
 */
export async function cancelExport(deps: ExportDeps, id: string) {
  const job = await deps.jobs.get(id);
  if (!job) throw new AppError('NOT_FOUND', `${jobName(id)} not found`);
  if (job.state === 'CANCELLED') return jobResource(id, job);
  if (isTerminalJob(job.state)) throw new AppError('FAILED_PRECONDITION', `${jobName(id)} is ${job.state}`, { reason: 'EXPORT_FINISHED' });
  if (job.state === 'IN_PROGRESS' && job.upstreamId) {
    try {
      await deps.source.cancel({ consentId: job.consentId }, job.upstreamId);
    } catch (error) {
      // Finished upstream in the meantime (cancel only works while in progress): cancel ours anyway.
      if (!(error instanceof AppError && (error.code === 'FAILED_PRECONDITION' || error.code === 'NOT_FOUND'))) throw error;
    }
  }
  const now = deps.clock.now();
  const after = await deps.jobs.update(id, (j) => {
    if (!j) throw new AppError('NOT_FOUND', `${jobName(id)} not found`);
    if (isTerminalJob(j.state)) return keep({ job: j, changed: false });
    const next: ExportJob = { ...j, state: 'CANCELLED', detail: 'cancelled by the application', nextPollAt: null, claim: null, updatedAt: now };
    return put(next, { job: next, changed: true });
  });
  if (after.changed) await afterTerminal(deps, id, after.job);
  return jobResource(id, after.job);
}

/** Runs a FAILED or CANCELLED job again from the start (a new upstream job; history kept). */
export async function retryExport(deps: ExportDeps, id: string) {
  const existing = await deps.jobs.get(id);
  if (!existing) throw new AppError('NOT_FOUND', `${jobName(id)} not found`);
  const consent = await deps.consents.get(existing.consentId);
  if (!consent || consent.status !== 'ACTIVE') {
    throw new AppError('FAILED_PRECONDITION', `${consentName(existing.consentId)} is ${consent?.status ?? 'gone'}`, { reason: `CONSENT_${consent?.status ?? 'GONE'}` });
  }
  const now = deps.clock.now();
  const after = await deps.jobs.update(id, (j) => {
    if (!j) throw new AppError('NOT_FOUND', `${jobName(id)} not found`);
    if (j.state !== 'FAILED' && j.state !== 'CANCELLED') {
      throw new AppError('FAILED_PRECONDITION', `${jobName(id)} is ${j.state}; only FAILED or CANCELLED exports can be retried`, { reason: 'EXPORT_NOT_RETRYABLE' });
    }
    const next: ExportJob = {
      ...j,
      state: 'PENDING',
      upstreamHistory: j.upstreamId ? [...j.upstreamHistory, j.upstreamId] : j.upstreamHistory,
      upstreamId: null,
      retries: 0,
      nextPollAt: null,
      files: [],
      detail: null,
      updatedAt: now,
    };
    return put(next, next);
  });
  await deps.queue.publish('export-requested', { job: id });
  return jobResource(id, after);
}
