import { createHash, randomBytes } from 'node:crypto';
import { AppError, type ErrorCode } from '../errors.js';
import { keep, put } from '../ports/record-store.js';
import { announceGrant, FOLLOW_UP_GRACE_MS } from './activation.js';
import { consentResource } from './consents.js';
import type { ConsentDeps } from './deps.js';
import type { ConnectSession, Consent } from './model.js';
import { sameSecret } from './pkce.js';
import { withSchedule } from './schedule.js';

/**
 * The completion code binds a finished connect flow to the application's user. The callback cannot
 * know which Google account consented (portability scopes cannot be combined with `openid`), so a
 * forwarded connect link would import someone else's data under the sender's `appUserId`. The
 * browser that comes back carries a single-use code (256 random bits; only its SHA-256 is stored);
 * the application confirms it only for the logged-in user who created the session, and only then
 * does the consent become ACTIVE.
 */
export function newCode(): string {
  return randomBytes(32).toString('base64url');
}

export function hashCode(code: string): string {
  return createHash('sha256').update(code, 'utf8').digest('hex');
}

export const sessionName = (id: string) => `connectSessions/${id}`;

/** Statuses a consent reaches only after it was activated: its code was used. */
const ACTIVATED = new Set<Consent['status']>(['ACTIVE', 'CLOSING', 'CLOSED', 'NEEDS_RECONSENT']);

/**
 * `POST /v1/connectSessions/{id}:confirm {code}`: PENDING_CONFIRMATION → ACTIVE, once. A wrong
 * code is 400 INVALID_ARGUMENT, an expired one 400 FAILED_PRECONDITION, a used one 409
 * ALREADY_EXISTS, each naming `code` and changing nothing. Concurrent confirmations race on the
 * consent's compare-and-set: one activates, the others get 409. The winner publishes
 * `consent.granted`; the auto-start (if asked for) is the caller's next step (`followUp`).
 */
export async function confirmConnectSession(deps: ConsentDeps, sessionId: string, code: string) {
  const session = await deps.sessions.get(sessionId);
  if (!session) throw new AppError('NOT_FOUND', `${sessionName(sessionId)} not found`);
  if ((session.confirmation ?? 'NONE') === 'NONE') {
    throw refuse('FAILED_PRECONDITION', 'CONFIRMATION_NOT_REQUIRED', 'this connect session was created with confirmation NONE: there is nothing to confirm');
  }
  if (!session.codeHash || !session.consentId || !session.codeExpiresAt) {
    if (session.status === 'CONFIRMED') throw used();
    throw refuse('FAILED_PRECONDITION', 'CODE_NOT_ISSUED', 'no completion code was issued for this session: the flow has not come back with a grant');
  }
  if (!sameSecret(hashCode(code), session.codeHash)) throw refuse('INVALID_ARGUMENT', 'CODE_INVALID', 'is not the completion code of this connect session');
  if (session.status === 'CONFIRMED') throw used();
  const now = deps.clock.now();
  if (session.codeExpiresAt.getTime() <= now.getTime()) throw expired();
  const consentId = session.consentId;

  const activated = await deps.consents.update(consentId, (c) => {
    if (!c || c.status !== 'PENDING_CONFIRMATION') return keep<Consent, Consent | null>(null);
    if (!c.confirmBy || c.confirmBy.getTime() <= now.getTime()) throw expired();
    const active: Consent = withSchedule({ ...c, status: 'ACTIVE', confirmBy: null, followUpAt: new Date(now.getTime() + FOLLOW_UP_GRACE_MS), updatedAt: now }, now);
    return put(active, active);
  });
  if (!activated) {
    const current = await deps.consents.get(consentId);
    if (current && ACTIVATED.has(current.status)) throw used();
    throw expired();
  }
  // The code is spent: only its use is recorded (the hash is dropped).
  await deps.sessions.update(sessionId, (s) => (s ? put<ConnectSession, null>({ ...s, status: 'CONFIRMED', codeHash: null, confirmedAt: now }, null) : keep(null)));
  // The consent is ACTIVE and the code spent: a failed publish is left to the sweep (followUpAt),
  // never turned into an error a retry could not fix (the code would be refused as used).
  await announceGrant(deps, consentId).catch(() => undefined);
  return { consentId, consent: consentResource(consentId, activated), startExports: activated.followUp?.startExports ?? false };
}

function refuse(code: ErrorCode, reason: string, description: string): AppError {
  return new AppError(code, `code: ${description}`, { reason, violations: [{ field: 'code', description }] });
}

const used = () => refuse('ALREADY_EXISTS', 'CODE_USED', 'was already used: this connect session is confirmed');
const expired = () => refuse('FAILED_PRECONDITION', 'CODE_EXPIRED', 'has expired: the consent was not confirmed in time; connect again');
