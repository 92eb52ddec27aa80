import { consentName, type Consent } from '../consent/model.js';
import { AppError } from '../errors.js';
import { publishEvent } from '../events.js';
import { keep, put } from '../ports/record-store.js';
import type { ExportDeps } from './deps.js';
import { isTerminalJob, jobName, type ExportJob } from './model.js';

/**
 * Follow-ups once a job reached a terminal state: the application's event, then — for a one-time
 * consent whose every granted group has a job and every job is terminal — the grant's release.
 * Safe to run more than once (event ids are deterministic; the consent closes once).
 */
export async function afterTerminal(deps: ExportDeps, id: string, job: ExportJob): Promise<void> {
  if (!isTerminalJob(job.state)) return;
  const published =
    job.state === 'DELIVERED'
      ? publishEvent(deps, {
          type: 'export.delivered',
          subject: jobName(id),
          appUserId: job.appUserId,
          data: {
            consent: consentName(job.consentId),
            resource: job.resource,
            exportTime: job.exportTime?.toISOString() ?? null,
            manifest: job.manifestObject,
            objects: job.files.map((f) => ({ object: f.object, bytes: String(f.bytes ?? 0), crc32c: f.crc32c ?? '' })),
          },
        })
      : publishEvent(deps, {
          type: 'export.failed',
          subject: jobName(id),
          appUserId: job.appUserId,
          data: { consent: consentName(job.consentId), resource: job.resource, state: job.state, detail: job.detail },
        });
  published.catch(() => undefined);
  // The consent's reads overlap the publish; the grant is released only after the event is out.
  await closeConsentIfDone(deps, job.consentId, published);
}

/**
 * Resets a one-time grant upstream and closes the consent, only when every granted group has a
 * job and every job is terminal (so every archive that will ever come has been delivered). One
 * worker wins the ACTIVE → CLOSING claim and releases the grant; a claim left behind by a crash is
 * finished by the sweep. Nothing is claimed unless `after` resolves.
 */
export async function closeConsentIfDone(deps: ExportDeps, consentId: string, after: Promise<unknown> = Promise.resolve()): Promise<boolean> {
  // Both reads at once (the job list is wasted only on a consent that cannot close); `after`
  // (the job's own event) must have succeeded before anything is decided.
  const [consent, jobs] = await Promise.all([deps.consents.get(consentId), jobsOfConsent(deps, consentId), after]);
  if (!consent || consent.status !== 'ACTIVE' || consent.groups.some((g) => g.accessType === 'TIME_BASED')) return false;
  const covered = new Set(jobs.map((j) => j.resource));
  if (!consent.groups.every((g) => covered.has(g.resource))) return false;
  if (!jobs.every((j) => isTerminalJob(j.state))) return false;
  const now = deps.clock.now();
  const claimed = await deps.consents.update(
    consentId,
    (c) => {
      if (!c || c.status !== 'ACTIVE') return keep(null);
      const closing: Consent = { ...c, status: 'CLOSING', updatedAt: now };
      return put<Consent, Consent | null>(closing, closing);
    },
    { basis: consent },
  );
  return claimed ? finishClosing(deps, consentId, claimed) : false;
}

/** CLOSING → grant released upstream → CLOSED (token deleted) and `consent.closed`, once. */
export async function finishClosing(deps: ExportDeps, consentId: string, claimed?: Consent): Promise<boolean> {
  try {
    await deps.source.release({ consentId });
  } catch (error) {
    // Already released upstream (a crash after the reset, or the user's own revocation): nothing left to reset.
    if (!(error instanceof AppError && (error.code === 'UNAUTHENTICATED' || error.reason?.startsWith('CONSENT_')))) throw error;
  }
  const now = deps.clock.now();
  const closed = await deps.consents.update(
    consentId,
    (c) => (c && c.status === 'CLOSING' ? put<Consent, Consent | null>({ ...c, status: 'CLOSED', token: null, updatedAt: now }, c) : keep(null)),
    { basis: claimed },
  );
  if (closed) {
    await publishEvent(deps, { type: 'consent.closed', subject: consentName(consentId), appUserId: closed.appUserId, data: { reason: 'all exports finished' } });
  }
  return closed !== null;
}

export async function jobsOfConsent(deps: Pick<ExportDeps, 'jobs'>, consentId: string): Promise<ExportJob[]> {
  const out: ExportJob[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const result = await deps.jobs.list({ where: { consentId }, pageSize: 500, ...(pageToken ? { pageToken } : {}) });
    out.push(...result.items.map((i) => i.value));
    pageToken = result.nextPageToken;
    if (!pageToken) break;
  }
  return out;
}
