import { AppError } from '../errors.js';
import { publishEvent } from '../events.js';
import { keep, put, type Page } from '../ports/record-store.js';
import type { ConsentDeps } from './deps.js';
import { scheduleResource, updateSchedule, type SchedulePatch } from './schedule.js';
import { grantEnded } from '../sources/upstream.js';
import { consentGrant, consentName, isTerminal, type AuditEntry, type Consent } from './model.js';

/** The API representation of a consent: never the token, sealed or not. */
export function consentResource(id: string, c: Consent) {
  return {
    name: consentName(id),
    appUserId: c.appUserId,
    state: c.status,
    resources: c.groups.map((g) => ({ resource: g.resource, accessType: g.accessType })),
    grantTime: c.grantedAt.toISOString(),
    ...(c.expiresAt ? { expireTime: c.expiresAt.toISOString() } : {}),
    updateTime: c.updatedAt.toISOString(),
    ...(c.status === 'PENDING_CONFIRMATION' && c.confirmBy ? { confirmDeadline: c.confirmBy.toISOString() } : {}),
    ...(c.detail ? { detail: c.detail } : {}),
    ...(c.schedule ? { schedule: scheduleResource(c.schedule) } : {}),
  };
}

/** `PATCH /v1/consents/{id}`: the schedule's interval or pause, as the update mask says. */
export async function patchConsent(deps: Pick<ConsentDeps, 'consents' | 'clock'>, id: string, patch: SchedulePatch) {
  return consentResource(id, await updateSchedule(deps, id, patch));
}

export async function getConsent(deps: Pick<ConsentDeps, 'consents'>, id: string) {
  const consent = await deps.consents.get(id);
  if (!consent) throw new AppError('NOT_FOUND', `${consentName(id)} not found`);
  return consentResource(id, consent);
}

export async function listConsents(deps: Pick<ConsentDeps, 'consents'>, query: { appUserId?: string | undefined; pageSize: number; pageToken?: string | undefined }) {
  const page: Page<Consent> = await deps.consents.list({
    where: query.appUserId ? { appUserId: query.appUserId } : {},
    pageSize: query.pageSize,
    ...(query.pageToken ? { pageToken: query.pageToken } : {}),
  });
  return {
    consents: page.items.map((i) => consentResource(i.id, i.value)),
    ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
  };
}

/**
 * Disconnect: resets the authorization upstream (revoking every token the app holds for the user),
 * deletes the sealed token, records an audit entry and publishes `consent.revoked`. Revoking again
 * is harmless: the record stays REVOKED and the audit entry and event keep their first ids.
 */
/** After this long, a revocation without its audit entry is taken to have lost its event to a crash. */
const REVOKE_EVENT_GRACE_MS = 60_000;

export async function revokeConsent(deps: ConsentDeps, id: string, actor: string) {
  const consent = await deps.consents.get(id);
  if (!consent) throw new AppError('NOT_FOUND', `${consentName(id)} not found`);
  if (consent.token && consent.status === 'ACTIVE') {
    try {
      // A grant already gone upstream counts as released.
      await deps.upstream.release(consentGrant(id, consent));
    } catch (error) {
      // A grant that no longer refreshes is already revoked upstream: nothing left to reset.
      if (!grantEnded(error)) throw error;
    }
  }
  if (consent.token && consent.status === 'PENDING_CONFIRMATION') {
    // Never confirmed: only this grant is revoked (a reset would end every grant of that account).
    await deps.oauth.revoke(await deps.vault.open(consent.token, id));
  }
  deps.tokens.forget(id);
  const now = deps.clock.now();
  const { after, changed } = await deps.consents.update(id, (c) => {
    if (!c) throw new AppError('NOT_FOUND', `${consentName(id)} not found`);
    const revoked: Consent = { ...c, status: 'REVOKED', token: null, confirmBy: null, followUp: null, followUpAt: null, updatedAt: now };
    return isTerminal(c.status) ? keep({ after: c, changed: false }) : put<Consent, { after: Consent; changed: boolean }>(revoked, { after: revoked, changed: true });
  });
  const auditId = `consent.revoked~${id}`;
  // One event per revocation: the call whose write made it publishes. Another call publishes (the
  // same id) only when the audit entry that marks the event sent is still missing well after the
  // revocation, i.e. the revoking call crashed between its write and its event.
  const orphaned = !changed && after.status === 'REVOKED' && now.getTime() - after.updatedAt.getTime() > REVOKE_EVENT_GRACE_MS;
  if ((changed || orphaned) && !(await deps.audit.get(auditId))) {
    // The event goes out before the audit entry marks it done: a crash in between repeats the
    // event (same id) rather than losing it.
    await publishEvent(deps, { type: 'consent.revoked', subject: consentName(id), appUserId: after.appUserId, data: {} });
    const entry: AuditEntry = { action: 'consent.revoked', subject: consentName(id), actor, at: now };
    await deps.audit.update(auditId, (a) => (a ? keep(null) : put(entry, null)));
  }
  return consentResource(id, after);
}
