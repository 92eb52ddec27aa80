import { consentName } from '../consent/model.js';
import { jobName, sourceOf, type ExportJob } from './model.js';

/** The API representation of a job: no signed URL, no upload session, no token. */
export function jobResource(id: string, job: ExportJob) {
  return {
    name: jobName(id),
    source: sourceOf(job),
    consent: consentName(job.consentId),
    resource: job.resource,
    state: job.state,
    ...(job.accessType ? { accessType: job.accessType } : {}),
    ...(job.startTime ? { startTime: job.startTime.toISOString() } : {}),
    ...(job.endTime ? { endTime: job.endTime.toISOString() } : {}),
    ...(job.exportTime ? { exportTime: job.exportTime.toISOString() } : {}),
    ...(job.upstreamId ? { upstreamJobId: job.upstreamId } : {}),
    upstreamJobHistory: [...job.upstreamHistory],
    ...(job.nextPollAt ? { nextCheckTime: job.nextPollAt.toISOString() } : {}),
    ...(job.notBefore ? { notBeforeTime: job.notBefore.toISOString() } : {}),
    files: job.files.map((f) => ({ name: f.name, object: f.object, state: f.state, ...(f.bytes !== null ? { bytes: f.bytes } : {}), ...(f.crc32c ? { crc32c: f.crc32c } : {}) })),
    ...(job.manifestObject ? { manifest: job.manifestObject } : {}),
    ...(job.detail ? { detail: job.detail } : {}),
    ...(job.endReason ? { endReason: job.endReason } : {}),
    createTime: job.createdAt.toISOString(),
    updateTime: job.updatedAt.toISOString(),
    ...(job.deliveredAt ? { deliverTime: job.deliveredAt.toISOString() } : {}),
  };
}
