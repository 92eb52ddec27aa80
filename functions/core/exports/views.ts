import { grantField, jobName, sourceOf, type ExportJob, type JobFile } from './model.js';

/** The API representation of a job (its grant as `consent` or `tenant`): no signed URL, no upload session, no token. */
export function jobResource(id: string, job: ExportJob) {
  return {
    name: jobName(id),
    source: sourceOf(job),
    ...grantField(job),
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
    files: job.files.map((f) => ({
      name: f.name,
      object: f.object,
      state: f.state,
      ...(f.bytes !== null ? { bytes: f.bytes } : {}),
      ...(f.crc32c ? { crc32c: f.crc32c } : {}),
      ...progressOf(f),
    })),
    ...(job.manifestObject ? { manifest: job.manifestObject } : {}),
    ...(job.detail ? { detail: job.detail } : {}),
    ...(job.endReason ? { endReason: job.endReason } : {}),
    createTime: job.createdAt.toISOString(),
    updateTime: job.updatedAt.toISOString(),
    ...(job.deliveredAt ? { deliverTime: job.deliveredAt.toISOString() } : {}),
  };
}

/**
 * How far a file's copy is, from what the transfer already records (no write of its own): a file
 * being copied has the offset of its last checkpoint (saved every `checkpointBytes` while the bytes
 * flow, so this lags the copy by less than one interval) and, once the download said it, its total
 * size; a file done has all its bytes; one not started, none.
 */
function progressOf(file: JobFile): { bytesCopied: number; totalBytes?: number } {
  if (file.state === 'DONE') return { bytesCopied: file.bytes ?? 0, ...(file.bytes !== null ? { totalBytes: file.bytes } : {}) };
  const checkpoint = file.checkpoint;
  if (!checkpoint) return { bytesCopied: 0 };
  const copied = checkpoint.marks.reduce((max, m) => Math.max(max, m.offset), 0);
  return { bytesCopied: copied, ...(checkpoint.totalBytes !== null ? { totalBytes: checkpoint.totalBytes } : {}) };
}
