import { isAppError } from '../errors.js';
import { keep, put } from '../ports/record-store.js';
import type { StartOutcome } from '../ports/export-source.js';
import type { ExportDeps } from './deps.js';
import { afterTerminal } from './finish.js';
import { leaseFree, type ExportJob } from './model.js';
import { EARLY_CHECKS_SECONDS } from './poll-policy.js';

export type InitiateResult = 'started' | 'ignored' | 'waiting' | 'ended';

/**
 * Starts the upstream job of one export job, exactly once: a claim (compare-and-set) makes one worker
 * the starter; duplicates, late and out-of-order messages find the job past PENDING and do nothing.
 * Every documented refusal ends or reschedules the job; nothing is retried blindly.
 */
export async function initiateExport(deps: ExportDeps, id: string): Promise<InitiateResult> {
  const now = deps.clock.now();
  const owner = deps.newOwner();
  const claimed = await deps.jobs.update(id, (job) => {
    if (!job) return keep(null);
    const startable = job.state === 'PENDING' || (job.state === 'STARTING' && leaseFree(job.claim, now));
    if (!startable) return keep(null);
    const claiming: ExportJob = { ...job, state: 'STARTING', claim: { owner, until: new Date(now.getTime() + deps.settings.leaseSeconds * 1000) }, updatedAt: now };
    return put<ExportJob, ExportJob | null>(claiming, claiming);
  });
  if (!claimed) return 'ignored';

  const consent = await deps.consents.get(claimed.consentId);
  if (!consent || consent.status !== 'ACTIVE') {
    await settle(deps, id, claimed, owner, (job) => ({ ...job, state: 'ABORTED', detail: `consent is ${consent?.status ?? 'gone'}` }));
    return 'ended';
  }

  let outcome: StartOutcome;
  try {
    outcome = await deps.source.start({ consentId: claimed.consentId }, { resource: claimed.resource, startTime: claimed.startTime, endTime: claimed.endTime });
  } catch (error) {
    if (isAppError(error) && error.code === 'FAILED_PRECONDITION' && error.reason?.startsWith('CONSENT_')) {
      await settle(deps, id, claimed, owner, (job) => ({ ...job, state: 'ABORTED', detail: error.reason ?? 'consent unusable' }));
      return 'ended';
    }
    // Give the job back so the redelivered message (or the sweep) can start it.
    await deps.jobs.update(id, (job) => (job && job.state === 'STARTING' && job.claim?.owner === owner ? put({ ...job, state: 'PENDING' as const, claim: null, updatedAt: deps.clock.now() }, null) : keep(null)), { basis: claimed });
    throw error;
  }

  const at = deps.clock.now();
  switch (outcome.kind) {
    case 'started':
    case 'adopted': {
      const upstreamId = outcome.upstreamId;
      const accessType = outcome.kind === 'started' && outcome.accessType !== 'UNSPECIFIED' ? outcome.accessType : null;
      const recorded = await settle(deps, id, claimed, owner, (job) => ({
        ...job,
        state: 'IN_PROGRESS',
        upstreamId,
        accessType: accessType ?? job.accessType,
        upstreamStartedAt: at,
        nextPollAt: new Date(at.getTime() + (EARLY_CHECKS_SECONDS[0] ?? 10) * 1000),
        polls: 0,
      }));
      if (!recorded) {
        // Cancelled (or taken over) while we were starting it: do not leave an orphan running.
        const now2 = await deps.jobs.get(id);
        if (now2?.state === 'CANCELLED' || now2?.state === 'ABORTED') await deps.source.cancel({ consentId: claimed.consentId }, upstreamId).catch(() => undefined);
        return 'ignored';
      }
      return 'started';
    }
    case 'exhausted':
      await settle(deps, id, claimed, owner, (job) => ({ ...job, state: 'EXHAUSTED', detail: outcome.detail }));
      return 'ended';
    case 'not_granted':
      await settle(deps, id, claimed, owner, (job) => ({ ...job, state: 'NOT_GRANTED', detail: outcome.detail }));
      return 'ended';
    case 'not_before':
      await settle(deps, id, claimed, owner, (job) => ({ ...job, state: 'WAITING', notBefore: outcome.at, detail: outcome.detail }));
      return 'waiting';
  }
}

/** Applies the outcome if this worker still holds the claim; runs the terminal follow-ups. */
async function settle(deps: ExportDeps, id: string, claimed: ExportJob, owner: string, change: (job: ExportJob) => ExportJob): Promise<boolean> {
  const now = deps.clock.now();
  const after = await deps.jobs.update(
    id,
    (job) => {
      if (!job || job.state !== 'STARTING' || job.claim?.owner !== owner) return keep(null);
      const next = { ...change(job), claim: null, updatedAt: now };
      return put<ExportJob, ExportJob | null>(next, next);
    },
    { basis: claimed },
  );
  if (!after) return false;
  await afterTerminal(deps, id, after);
  return true;
}
