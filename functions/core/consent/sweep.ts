import type { ExportDeps } from '../exports/deps.js';
import { keep, put } from '../ports/record-store.js';
import { runFollowUp } from './activation.js';
import { UNCONFIRMED_DETAIL, type Consent } from './model.js';

export interface ConsentSweepReport {
  /** Unconfirmed consents expired (grant revoked upstream, token deleted). */
  readonly expired: number;
  /** Activation follow-ups (event, auto-start) finished for calls that did not finish them. */
  readonly followUps: number;
}

/**
 * The consents' durable timers, run at the end of the poll sweep:
 * - a consent still PENDING_CONFIRMATION when its completion code expires becomes EXPIRED (detail
 *   UNCONFIRMED_DETAIL, no app user id): its refresh token is revoked upstream (this grant only)
 *   and the sealed token deleted; nothing of it was ever announced or exported;
 * - an activation follow-up still owed after its grace period (`consent.granted`, the auto-start
 *   exports of a callback or confirmation whose start failed) is done here.
 * Every record is handled on its own; the first failure is rethrown at the end (the tick reports
 * it, the next tick tries again), after the others were handled.
 */
export async function sweepConsents(deps: ExportDeps): Promise<ConsentSweepReport> {
  const now = deps.clock.now();
  const limit = deps.settings.sweepLimit;
  let failure: unknown;
  let expired = 0;
  let followUps = 0;
  for (const { id, value } of await deps.consents.listDue({ field: 'confirmBy', before: now, limit })) {
    try {
      if (await expireUnconfirmed(deps, id, value, now)) expired++;
    } catch (error) {
      failure ??= error;
    }
  }
  for (const { id } of await deps.consents.listDue({ field: 'followUpAt', before: now, limit })) {
    try {
      await runFollowUp(deps, id);
      followUps++;
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure !== undefined) throw failure;
  return { expired, followUps };
}

/**
 * PENDING_CONFIRMATION past `confirmBy` → EXPIRED first (so a late confirmation fails from here on),
 * then the grant is revoked upstream and the token deleted; `confirmBy` is cleared last, so a crash
 * in between is finished by the next sweep. Returns true when this call expired the consent.
 */
async function expireUnconfirmed(deps: ExportDeps, id: string, listed: Consent, now: Date): Promise<boolean> {
  const expired = await deps.consents.update(
    id,
    (c) => {
      if (!c || c.status !== 'PENDING_CONFIRMATION' || !c.confirmBy || c.confirmBy.getTime() > now.getTime()) return keep<Consent, Consent | null>(null);
      const next: Consent = { ...c, status: 'EXPIRED', appUserId: '', detail: UNCONFIRMED_DETAIL, followUp: null, followUpAt: null, updatedAt: now };
      return put(next, next);
    },
    { basis: listed },
  );
  const current = expired ?? (await deps.consents.get(id));
  if (!current) return false;
  const leftover = current.status === 'EXPIRED' && current.detail === UNCONFIRMED_DETAIL ? current.token : null;
  if (leftover) {
    await deps.oauth.revoke(await deps.vault.open(leftover, id));
  }
  await deps.consents.update(id, (c) => {
    if (!c || (c.confirmBy ?? null) === null) return keep(null);
    // Only a consent that expired unconfirmed loses its token here; any other just leaves the timer.
    const drop = c.status === 'EXPIRED' && c.detail === UNCONFIRMED_DETAIL;
    if (c.status === 'PENDING_CONFIRMATION') return keep(null);
    return put<Consent, null>({ ...c, confirmBy: null, ...(drop ? { token: null } : {}) }, null);
  });
  return expired !== null;
}
