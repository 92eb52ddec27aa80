import type { AccessType } from '../consent/model.js';
import { isAppError } from '../errors.js';
import { grantEnded } from '../sources/upstream.js';
import { keep, put } from '../ports/record-store.js';
import type { ExportUnit, StartOutcome } from '../ports/export-source.js';
import type { ExportDeps } from './deps.js';
import { afterTerminal, endJob } from './finish.js';
import { MAX_START_ATTEMPTS, endedJob, grantOf, leaseFree, type EndReason, type EndState, type ExportJob } from './model.js';
import { EARLY_CHECKS_SECONDS } from './poll-policy.js';

export type InitiateResult = 'started' | 'ignored' | 'waiting' | 'ended';

/**
 * Starts the upstream job of one export job, exactly once: a claim (compare-and-set) makes one worker
 * the starter; duplicates, late and out-of-order messages find the job past PENDING and do nothing.
 * Every documented refusal ends or reschedules the job; nothing is retried blindly. A refusal
 * because the one-time grant was used adopts the upstream job our own lost call started, when
 * upstream names it. A start that keeps failing on our side ends the job FAILED after
 * MAX_START_ATTEMPTS instead of being tried for ever.
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
  const holds = (job: ExportJob) => job.state === 'STARTING' && job.claim?.owner === owner;

  // The grant (consent or tenant) is checked by `upstream` before the call: an ended one ends the job.
  const grant = grantOf(claimed);
  const unit: ExportUnit = { resource: claimed.resource, startTime: claimed.startTime, endTime: claimed.endTime };
  let outcome: StartOutcome;
  try {
    outcome = await deps.upstream.start(grant, unit);
  } catch (error) {
    if (grantEnded(error)) {
      await settle(deps, id, claimed, owner, (job) => endedJob(job, 'ABORTED', 'CONSENT_ENDED', error.message, deps.clock.now()).job);
      return 'ended';
    }
    const attempts = (claimed.startAttempts ?? 0) + 1;
    if (attempts >= MAX_START_ATTEMPTS) {
      const detail = `the upstream job could not be started after ${attempts} attempts (last: ${isAppError(error) ? error.code : 'unexpected error'})`;
      await endJob(deps, id, { state: 'FAILED', reason: 'START_FAILED', detail }, holds, { basis: claimed });
      return 'ended';
    }
    // Give the job back so the redelivered message (or the sweep, with backoff) can start it.
    await deps.jobs.update(
      id,
      (job) => (job && holds(job) ? put({ ...job, state: 'PENDING' as const, claim: null, startAttempts: attempts, updatedAt: deps.clock.now() }, null) : keep(null)),
      { basis: claimed },
    );
    throw error;
  }

  if (outcome.kind === 'exhausted') {
    const ours = await lostStart(deps, id, claimed, outcome.previousUpstreamIds);
    if (ours) outcome = { kind: 'adopted', upstreamId: ours };
  }
  const at = deps.clock.now();
  switch (outcome.kind) {
    case 'started':
    case 'adopted': {
      const upstreamId = outcome.upstreamId;
      const said = outcome.kind === 'started' && outcome.accessType !== 'UNSPECIFIED' ? outcome.accessType : null;
      // What the grant says of this unit, when upstream did not (a tenant's grant has no access types).
      const granted = said ?? claimed.accessType ?? (await grantedAccess(deps, claimed));
      const recorded = await settle(deps, id, claimed, owner, (job) => ({
        ...job,
        state: 'IN_PROGRESS',
        upstreamId,
        accessType: said ?? job.accessType ?? granted,
        upstreamStartedAt: at,
        nextPollAt: new Date(at.getTime() + (EARLY_CHECKS_SECONDS[0] ?? 10) * 1000),
        polls: 0,
        startAttempts: 0,
      }));
      if (!recorded) {
        // Cancelled (or taken over) while we were starting it. A time-based job is cancelled upstream
        // so no orphan runs; a one-time one is left running: cancelling it would use up the grant
        // without delivering, and a retry adopts it.
        const now2 = await deps.jobs.get(id);
        const oneTime = granted === 'ONE_TIME';
        if (!oneTime && (now2?.state === 'CANCELLED' || now2?.state === 'ABORTED')) await deps.upstream.cancel(grant, upstreamId).catch(() => undefined);
        return 'ignored';
      }
      return 'started';
    }
    case 'exhausted':
      await settleEnded(deps, id, claimed, owner, 'EXHAUSTED', 'ONE_TIME_USED', outcome.detail);
      return 'ended';
    case 'not_granted':
      await settleEnded(deps, id, claimed, owner, 'NOT_GRANTED', 'NOT_GRANTED', outcome.detail);
      return 'ended';
    case 'not_before':
      await settle(deps, id, claimed, owner, (job) => ({ ...job, state: 'WAITING', notBefore: outcome.at, detail: outcome.detail }));
      return 'waiting';
  }
}

/** The access type the job's consent granted for its unit (null without one). */
async function grantedAccess(deps: ExportDeps, job: ExportJob): Promise<AccessType | null> {
  const consent = await deps.consents.get(job.consentId);
  return consent?.groups.find((g) => g.resource === job.resource)?.accessType ?? null;
}

/**
 * When upstream refuses because the one-time grant was used, the job that used it may be ours: a
 * start whose answer was lost, or a crash between starting it and recording it. It is adopted
 * when upstream names it among the previous jobs, this consent's grant can read it, it is running
 * or complete (with the time window this job asked for), and no job of ours holds it already.
 */
async function lostStart(deps: ExportDeps, id: string, job: ExportJob, previous: readonly string[]): Promise<string | null> {
  for (const candidate of [...previous].reverse()) {
    if (job.upstreamHistory.includes(candidate)) continue;
    const held = await deps.jobs.list({ where: { upstreamId: candidate }, pageSize: 2 });
    if (held.items.some((i) => i.id !== id)) continue;
    const state = await deps.upstream.state(grantOf(job), candidate).catch(() => null);
    if (!state || (state.state !== 'IN_PROGRESS' && state.state !== 'COMPLETE')) continue;
    if ((state.startTime?.getTime() ?? null) !== (job.startTime?.getTime() ?? null)) continue;
    return candidate;
  }
  return null;
}

async function settleEnded(deps: ExportDeps, id: string, claimed: ExportJob, owner: string, state: EndState, reason: EndReason, detail: string): Promise<void> {
  await settle(deps, id, claimed, owner, (job) => endedJob(job, state, reason, detail, deps.clock.now()).job);
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
