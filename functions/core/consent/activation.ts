import { isAppError, isRetryable } from '../errors.js';
import { publishEvent } from '../events.js';
import type { ExportDeps } from '../exports/deps.js';
import { requestExports } from '../exports/request.js';
import { keep, put } from '../ports/record-store.js';
import type { ConsentDeps } from './deps.js';
import { consentName, type Consent, type FollowUp } from './model.js';

/**
 * The follow-up of an activation (a consent becoming ACTIVE: at the callback without
 * confirmation, or at the application's confirmation): `consent.granted`, then the auto-start
 * exports if the session asked for them. The activating call does both at once; what it could
 * not finish stays on the consent (`followUp`, due at `followUpAt`) and the sweep finishes it.
 * Each step is idempotent (deterministic event id; the `connect` slot finds the same jobs).
 */

/** The activating call has this long to do the follow-up before the sweep takes over. */
export const FOLLOW_UP_GRACE_MS = 60_000;

export type StartOutcome = 'none' | 'started' | 'refused';

/** Publishes `consent.granted` for an ACTIVE consent whose follow-up still owes it, then records that. */
export async function announceGrant(deps: Pick<ConsentDeps, 'clock' | 'consents' | 'queue'>, consentId: string): Promise<void> {
  const consent = await deps.consents.get(consentId);
  const followUp = consent?.followUp;
  if (!consent || !followUp?.announce || consent.status === 'PENDING_CONFIRMATION') return;
  if (consent.status === 'ACTIVE') {
    await publishEvent(deps, {
      type: 'consent.granted',
      subject: consentName(consentId),
      appUserId: consent.appUserId,
      data: {
        resources: consent.groups.map((g) => ({ resource: g.resource, accessType: g.accessType })),
        expireTime: consent.expiresAt?.toISOString() ?? null,
        partial: followUp.partial,
      },
    });
  }
  // Announced, or no longer worth announcing (revoked or expired meanwhile).
  await settle(deps, consentId, consent, consent.status === 'ACTIVE' ? { ...followUp, announce: false } : null);
}

/**
 * Requests the auto-start exports the follow-up still owes (slot `connect`). A permanent refusal
 * (the consent is no longer active, an export already runs) settles the follow-up and reports
 * `refused`; a transient failure rejects and leaves it for the sweep.
 */
export async function startConnectExports(deps: ExportDeps, consentId: string): Promise<StartOutcome> {
  const consent = await deps.consents.get(consentId);
  const followUp = consent?.followUp;
  if (!consent || !followUp?.startExports || consent.status === 'PENDING_CONFIRMATION') return 'none';
  if (consent.status !== 'ACTIVE') {
    await settle(deps, consentId, consent, followUp.announce ? { ...followUp, startExports: false } : null);
    return 'refused';
  }
  try {
    await requestExports(deps, { consentId, slot: 'connect' });
  } catch (error) {
    if (!isAppError(error) || isRetryable(error) || error.code === 'INTERNAL') throw error;
    await settle(deps, consentId, undefined, followUp.announce ? { ...followUp, startExports: false } : null);
    return 'refused';
  }
  await settle(deps, consentId, undefined, followUp.announce ? { ...followUp, startExports: false } : null);
  return 'started';
}

/** Both steps, as the sweep runs them for a follow-up whose activating call did not finish it. */
export async function runFollowUp(deps: ExportDeps, consentId: string): Promise<StartOutcome> {
  await announceGrant(deps, consentId);
  return startConnectExports(deps, consentId);
}

/** Records what is left of a follow-up (null: nothing); a record without follow-up is kept as is. */
async function settle(deps: Pick<ConsentDeps, 'clock' | 'consents'>, consentId: string, basis: Consent | undefined, left: FollowUp | null): Promise<void> {
  await deps.consents.update(
    consentId,
    (c) => {
      if (!c?.followUp) return keep(null);
      const rest =
        left && (left.announce || left.startExports)
          ? { announce: c.followUp.announce && left.announce, startExports: c.followUp.startExports && left.startExports, partial: c.followUp.partial }
          : null;
      return put<Consent, null>({ ...c, followUp: rest, followUpAt: rest ? (c.followUpAt ?? null) : null }, null);
    },
    basis ? { basis } : undefined,
  );
}
