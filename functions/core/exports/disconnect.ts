import { eraseBundlesOfJobs } from '../bundles/compose.js';
import { eraseBundles } from '../bundles/trigger.js';
import { revokeConsent } from '../consent/consents.js';
import type { ConsentDeps } from '../consent/deps.js';
import { consentName } from '../consent/model.js';
import { AppError } from '../errors.js';
import { keep, put } from '../ports/record-store.js';
import type { ExportDeps } from './deps.js';
import { abandonSessions, jobsOfConsent } from './finish.js';
import { endedJob, grantOf, isTerminalJob, jobId, laneId, type ExportJob } from './model.js';
import { consentPrefix } from './naming.js';

/**
 * Disconnect (and optionally erase): running jobs are cancelled upstream and ended locally, the
 * grant is reset upstream and the sealed token deleted (revokeConsent), and with `erase` every
 * delivered archive and manifest of the consent is deleted, the job records too, and the
 * consent keeps no app user id. Workers check the consent before and while they write, so nothing
 * is written after this. Running it again is harmless.
 */
export async function disconnect(deps: { consent: ConsentDeps; exports: ExportDeps }, consentId: string, options: { erase: boolean; actor: string }) {
  const consent = await deps.consent.consents.get(consentId);
  if (!consent) throw new AppError('NOT_FOUND', `${consentName(consentId)} not found`);
  const jobs = await jobsOfConsent(deps.exports, consentId);
  const now = deps.exports.clock.now();
  for (const job of jobs.filter((j) => !isTerminalJob(j.state))) {
    if (job.state === 'IN_PROGRESS' && job.upstreamId) {
      // Best effort: `upstream` skips it when the consent can no longer be used.
      await deps.exports.upstream.cancel(grantOf(job), job.upstreamId).catch(() => undefined);
    }
    const id = jobId(job.consentId, job.resource, job.slot);
    const ended = await deps.exports.jobs.update(id, (j) => {
      if (!j || isTerminalJob(j.state)) return keep(null);
      const next = endedJob(j, 'ABORTED', 'CONSENT_ENDED', 'consent revoked', now);
      return put<ExportJob, typeof next | null>(next.job, next);
    });
    // Upload sessions of copies that will never finish hold the user's bytes for up to a week.
    if (ended) await abandonSessions(deps.exports, id, ended.openSessions);
  }
  const revoked = await revokeConsent(deps.consent, consentId, options.actor);
  if (!options.erase) return { ...revoked, erased: false };

  let deleted = 0;
  if (consent.appUserId) {
    deleted = await deps.exports.archive.deletePrefix(consentPrefix(deps.exports.settings.objectPrefix, consent.appUserId, consentId));
  }
  for (const job of jobs) await deps.exports.jobs.delete(jobId(job.consentId, job.resource, job.slot));
  await eraseBundles(deps.exports, consentName(consentId));
  // Bundles of several grants live outside the consent's folder.
  await eraseBundlesOfJobs(
    deps.exports,
    jobs.map((j) => jobId(j.consentId, j.resource, j.slot)),
  );
  for (const resource of new Set(jobs.map((j) => j.resource))) await deps.exports.lanes.delete(laneId(consentId, resource));
  await deps.consent.consents.update(consentId, (c) => (c && c.appUserId ? put({ ...c, appUserId: '', updatedAt: now }, null) : keep(null)));
  return { ...revoked, appUserId: '', erased: true, deletedObjects: deleted };
}
