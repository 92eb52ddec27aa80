import { jobEnded } from '../bundles/trigger.js';
import { consentGrant, consentName, type Consent } from '../consent/model.js';
import { grantEnded } from '../sources/upstream.js';
import { AppError, isAppError } from '../errors.js';
import { publishEvent } from '../events.js';
import { keep, put, remove, type Page, type UpdateOptions } from '../ports/record-store.js';
import type { ExportDeps } from './deps.js';
import { endedJob, grantField, grantKindOf, grantSettled, isTerminalJob, jobName, laneId, type EndReason, type EndState, type ExportJob, type OpenSession } from './model.js';
import { grantStopped, readJobGrant, type JobGrant } from './grants.js';
import { objectName, uploadSecretId } from './naming.js';

/**
 * Ends a job with the one job-ending transition when `accept` agrees with the record as it is now
 * (a terminal job is never ended again). After the write: the upload sessions it dropped are
 * cancelled and the terminal follow-ups run. Returns the ended job, or null when nothing changed.
 */
export async function endJob(
  deps: ExportDeps,
  id: string,
  ending: { readonly state: EndState; readonly reason: EndReason; readonly detail: string },
  accept: (job: ExportJob) => boolean = () => true,
  options?: UpdateOptions<ExportJob>,
): Promise<ExportJob | null> {
  const now = deps.clock.now();
  const after = await deps.jobs.update(
    id,
    (j) => {
      if (!j || isTerminalJob(j.state) || !accept(j)) return keep(null);
      const ended = endedJob(j, ending.state, ending.reason, ending.detail, now);
      return put<ExportJob, ReturnType<typeof endedJob> | null>(ended.job, ended);
    },
    options,
  );
  if (!after) return null;
  await abandonSessions(deps, id, after.openSessions);
  await afterTerminal(deps, id, after.job);
  return after.job;
}

/** Cancels upload sessions nobody will continue (best effort: an unreachable store leaves them to expire). */
export async function abandonSessions(deps: Pick<ExportDeps, 'archive' | 'vault'>, id: string, sessions: readonly OpenSession[]): Promise<void> {
  await Promise.all(
    sessions.map(async ({ index, session }) => {
      try {
        await deps.archive.abandonUpload(await deps.vault.open(session, uploadSecretId(id, index)));
      } catch {
        // The session expires on its own within a week; nothing is lost by not cancelling it now.
      }
    }),
  );
}

/**
 * Follow-ups once a job reached a terminal state: the lane of its (consent, group) is freed, the
 * application's event goes out (one id per run of the job: a retried job that fails again is a
 * new event), and then, for a one-time consent, the grant's release is considered, for this
 * consent and for the user's other consents whose release waited for this one's exports.
 * Safe to run more than once.
 */
export async function afterTerminal(deps: ExportDeps, id: string, job: ExportJob): Promise<void> {
  if (!isTerminalJob(job.state)) return;
  const published =
    job.state === 'DELIVERED'
      ? publishEvent(deps, {
          type: 'export.delivered',
          subject: jobName(id),
          appUserId: job.appUserId,
          discriminator: `run-${job.run ?? 1}`,
          data: {
            ...grantField(job),
            resource: job.resource,
            exportTime: job.exportTime?.toISOString() ?? null,
            startTime: job.startTime?.toISOString() ?? null,
            incremental: job.startTime !== null,
            scheduled: isScheduled(job),
            manifest: job.manifestObject,
            objects: job.files.map((f) => ({ object: f.object, bytes: f.bytes ?? 0, crc32c: f.crc32c ?? '' })),
          },
        })
      : publishEvent(deps, {
          type: 'export.failed',
          subject: jobName(id),
          appUserId: job.appUserId,
          discriminator: `run-${job.run ?? 1}`,
          data: { ...grantField(job), resource: job.resource, state: job.state, reason: job.endReason ?? null, detail: job.detail },
        });
  published.catch(() => undefined);
  // A tenant's keys are configured, not a user's one-time grant: nothing to record or release for it.
  const consentJob = grantKindOf(job) === 'consent';
  if (job.state === 'DELIVERED' && consentJob) await recordExportTime(deps, job);
  await deps.lanes.update(laneId(job.consentId, job.resource), (lane) => (lane?.job === id ? remove(null) : keep(null)));
  // A bundle waiting for this job is built if it was the last (the sweep catches a lost trigger).
  await jobEnded(deps, id);
  if (!consentJob) {
    await published;
    return;
  }
  // The consent's reads overlap the publish; the grant is released only after the event is out.
  await closeConsentIfDone(deps, job.consentId, published);
  if (job.appUserId) {
    for (const other of await otherOneTimeConsents(deps, job.appUserId, job.consentId)) await closeConsentIfDone(deps, other);
  }
}

/**
 * A delivered export that covers its group's data up to its `exportTime` with no gap (no end
 * time, and no start time after the group's last recorded one) becomes where the group's next
 * scheduled export starts (time-based consents only).
 */
async function recordExportTime(deps: Pick<ExportDeps, 'consents' | 'clock'>, job: ExportJob): Promise<void> {
  const exportTime = job.exportTime;
  if (!exportTime || job.endTime) return;
  await deps.consents.update(job.consentId, (c) => {
    const schedule = c?.schedule;
    if (!c || !schedule) return keep(null);
    const last = schedule.lastExportTimes[job.resource];
    if (last && last.getTime() >= exportTime.getTime()) return keep(null);
    if (job.startTime && (!last || job.startTime.getTime() > last.getTime())) return keep(null);
    return put<Consent, null>({ ...c, schedule: { ...schedule, lastExportTimes: { ...schedule.lastExportTimes, [job.resource]: exportTime } } }, null);
  });
}

/**
 * Resets a one-time grant upstream and closes the consent, only when every granted group has a
 * job and every job is settled: delivered, or ended because upstream can no longer serve it. A
 * job that failed on our side (or was cancelled before it finished) keeps the grant so `:retry`
 * can still deliver it. The reset revokes every grant of the user's Google account for this
 * client, so it also waits while another consent of the same app user has exports running. One
 * worker wins the ACTIVE → CLOSING claim and releases the grant; a claim left behind by a crash is
 * finished by the sweep. Nothing is claimed unless `after` resolves.
 */
export async function closeConsentIfDone(deps: ExportDeps, consentId: string, after: Promise<unknown> = Promise.resolve()): Promise<boolean> {
  const [consent, jobs] = await Promise.all([deps.consents.get(consentId), jobsOfConsent(deps, consentId), after]);
  if (!consent || consent.status !== 'ACTIVE' || consent.groups.some((g) => g.accessType === 'TIME_BASED')) return false;
  const covered = new Set(jobs.map((j) => j.resource));
  if (!consent.groups.every((g) => covered.has(g.resource))) return false;
  if (!jobs.every(grantSettled)) return false;
  if (consent.appUserId && (await otherExportsRunning(deps, consent.appUserId, consentId))) return false;
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
    // Released already upstream (a crash after the reset, the user's own revocation) counts as released.
    await deps.upstream.release(consentGrant(consentId, claimed));
  } catch (error) {
    // The grant no longer yields a credential (refresh token dead): nothing left to reset.
    if (!grantEnded(error)) throw error;
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

/** A job of the exports tick (its slot is a schedule time). */
const isScheduled = (job: Pick<ExportJob, 'slot'>) => job.slot.startsWith('schedule:');

export async function jobsOfConsent(deps: Pick<ExportDeps, 'jobs'>, consentId: string): Promise<ExportJob[]> {
  return (await everyPage((pageToken) => deps.jobs.list({ where: { consentId }, pageSize: 500, ...(pageToken ? { pageToken } : {}) }))).map((i) => i.value);
}

/** True while a job of another consent of this app user has not ended. */
async function otherExportsRunning(deps: Pick<ExportDeps, 'jobs'>, appUserId: string, consentId: string): Promise<boolean> {
  const jobs = await everyPage((pageToken) => deps.jobs.list({ where: { appUserId }, pageSize: 500, ...(pageToken ? { pageToken } : {}) }));
  return jobs.some(({ value: j }) => j.consentId !== consentId && !isTerminalJob(j.state));
}

/** The app user's other ACTIVE one-time consents (whose release may have waited for this one). */
async function otherOneTimeConsents(deps: Pick<ExportDeps, 'consents'>, appUserId: string, consentId: string): Promise<string[]> {
  const active = await everyPage((pageToken) => deps.consents.list({ where: { appUserId, status: 'ACTIVE' }, pageSize: 100, ...(pageToken ? { pageToken } : {}) }));
  return active.filter(({ id, value }) => id !== consentId && value.groups.every((g) => g.accessType === 'ONE_TIME')).map(({ id }) => id);
}

/** Every item a paged list returns (bounded). */
async function everyPage<T>(list: (pageToken?: string) => Promise<Page<T>>): Promise<{ id: string; value: T }[]> {
  const out: { id: string; value: T }[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const result = await list(pageToken);
    out.push(...result.items);
    pageToken = result.nextPageToken;
    if (!pageToken) break;
  }
  return out;
}

/**
 * Writes the manifest beside the files and marks the job DELIVERED (once). `known`: the job and
 * its consent as the caller has just read or written them, instead of reading them again.
 */
export async function finishJob(deps: ExportDeps, id: string, known?: { job: ExportJob; grant: JobGrant }): Promise<boolean> {
  const job = known ? known.job : await deps.jobs.get(id);
  if (!job || job.state !== 'TRANSFERRING' || job.files.length === 0 || !job.files.every((f) => f.state === 'DONE') || !job.exportTime) return false;
  const grant = known ? known.grant : await readJobGrant(deps, job);
  if (!grant?.delivers) {
    await endJob(deps, id, { state: 'ABORTED', reason: 'CONSENT_ENDED', detail: grantStopped(job, grant) }, (j) => j.state === 'TRANSFERRING');
    return false;
  }
  const manifestObject = await writeManifest(deps, id, job);
  const now = deps.clock.now();
  const after = await deps.jobs.update(
    id,
    (j) => {
      if (!j || j.state !== 'TRANSFERRING') return keep(null);
      const next: ExportJob = { ...j, state: 'DELIVERED', manifestObject, deliveredAt: now, updatedAt: now };
      return put<ExportJob, ExportJob | null>(next, next);
    },
    { basis: job },
  );
  if (after) await afterTerminal(deps, id, after);
  return after !== null;
}

/** Writes `manifest.json` beside the job's files (kept if a previous attempt wrote it); returns its name. */
export async function writeManifest(deps: ExportDeps, id: string, job: ExportJob): Promise<string> {
  const { exportTime } = job;
  if (!exportTime) throw new AppError('INTERNAL', `export ${id} has no export time to name its manifest by`);
  const manifestObject = objectName(deps.settings.objectPrefix, job, exportTime, 'manifest.json');
  const manifest = {
    manifestVersion: 1,
    export: `exports/${id}`,
    ...grantField(job),
    appUserId: job.appUserId,
    resource: job.resource,
    accessType: job.accessType,
    startTime: job.startTime?.toISOString() ?? null,
    endTime: job.endTime?.toISOString() ?? null,
    exportTime: exportTime.toISOString(),
    // Incremental: only data since startTime (the group's previous export); else a full snapshot.
    incremental: job.startTime !== null,
    scheduled: isScheduled(job),
    upstreamJobIds: [...job.upstreamHistory, job.upstreamId].filter(Boolean),
    files: job.files.map((f) => ({ name: f.name, object: f.object, bytes: f.bytes, crc32c: f.crc32c, md5: f.md5 })),
    createTime: deps.clock.now().toISOString(),
  };
  try {
    await deps.archive.writeJson(manifestObject, manifest);
  } catch (error) {
    if (!(isAppError(error) && error.code === 'ALREADY_EXISTS')) throw error;
  }
  return manifestObject;
}
