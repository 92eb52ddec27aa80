import { AppError, isAppError } from '../errors.js';
import type { ArchiveDownload } from '../ports/archive-download.js';
import type { StoredObject } from '../ports/archive-store.js';
import { keep, put } from '../ports/record-store.js';
import { settledValue } from '../settled.js';
import { copyArchive, freshUrl, openFresh } from './copy.js';
import type { ExportDeps } from './deps.js';
import { afterTerminal, endJob, finishJob, writeManifest } from './finish.js';
import { grantStopped, readJobGrant } from './grants.js';
import { leaseFree, type EndReason, type ExportJob, type JobFile, type TransferCheckpoint } from './model.js';
import { signedUrlSecretId, uploadSecretId } from './naming.js';

export type TransferResult = 'ignored' | 'file_done' | 'continued' | 'delivered' | 'ended';

/** A file that failed this many times ends the job as FAILED instead of looping. */
const MAX_FILE_ATTEMPTS = 8;

/**
 * Copies one archive file into the bucket: leased to one worker at a time, resumable across
 * crashes and invocations (the upload session, sealed, and running-CRC32C marks are checkpointed
 * in the job), fed from a fresh signed URL each time (`Range: bytes=<offset>-` when resuming), and
 * verified (size and CRC32C) before the file counts. The last file in writes the manifest.
 * A file leased by another worker, or a lease lost to one, is acked: that worker continues (and
 * the sweep takes over if it died), so "busy" never burns delivery attempts.
 */
export async function transferFile(deps: ExportDeps, id: string, index: number): Promise<TransferResult> {
  const started = deps.clock.now();
  const owner = deps.newOwner();
  const leased = await deps.jobs.update(id, (j) => {
    const f = j?.files[index];
    if (!j || j.state !== 'TRANSFERRING' || !f || f.state !== 'PENDING' || !leaseFree(f.lease, started)) return keep(null);
    const next = withFile(j, index, { ...f, lease: { owner, until: new Date(started.getTime() + deps.settings.leaseSeconds * 1000) } });
    return put<ExportJob, ExportJob | null>(next, next);
  });
  if (!leased) {
    // A repeated message after the last file: make sure the job was finished (a crash may have stopped it).
    await finishJob(deps, id);
    return 'ignored';
  }
  const file = leased.files[index] as JobFile;
  const holds = (j: ExportJob) => j.files[index]?.lease?.owner === owner;
  const end = (state: 'FAILED' | 'ABORTED', reason: EndReason, detail: string) =>
    endJob(deps, id, { state, reason, detail }, (j) => j.state === 'TRANSFERRING').then(() => 'ended' as const);
  /** Gives the file back; a failed attempt counts (a hand-over is not a failure). */
  const release = (failed: boolean) =>
    deps.jobs.update(id, (j) => {
      const f = j?.files[index];
      if (!j || !f || f.lease?.owner !== owner) return keep(null);
      return put(withFile(j, index, { ...f, lease: null, attempts: f.attempts + (failed ? 1 : 0) }), null);
    });

  /** This worker's upload session, once known. */
  let session: string | undefined;
  try {
    if (file.attempts >= MAX_FILE_ATTEMPTS) return await end('FAILED', 'TRANSFER_FAILED', `file ${file.name} failed ${file.attempts} times`);
    // Independent round trips go out together: the grant (consent or tenant), the signed URL (the one the poll
    // kept, else a fresh one from upstream) and, for a first attempt, a new upload session (an
    // unused session holds no object and expires).
    const begun = file.checkpoint ? undefined : deps.archive.beginUpload(file.object, 'application/zip');
    begun?.catch(() => undefined);
    const [grantRead, urlRead] = await Promise.allSettled([
      readJobGrant(deps, leased),
      file.url ? deps.vault.open(file.url, signedUrlSecretId(id, index)).catch(() => freshUrl(deps, leased, file.name)) : freshUrl(deps, leased, file.name),
    ]);
    const grant = settledValue(grantRead);
    if (!grant?.transfers) {
      if (begun) await begun.then((s) => deps.archive.abandonUpload(s)).catch(() => undefined);
      return await end('ABORTED', 'CONSENT_ENDED', grantStopped(leased, grant));
    }
    const url = settledValue(urlRead);
    if (url === null) return await end('FAILED', 'ARCHIVE_GONE', `archive ${file.name} is no longer available upstream`);
    const current = { name: file.name, url };

    const secretId = uploadSecretId(id, index);
    let checkpoint = file.checkpoint;
    let offset = 0;
    let firstSave: Promise<ExportJob> | undefined;
    /** The job as this worker last wrote it: the basis of its next write (no read first). */
    const latest = { job: leased };
    const save = (c: TransferCheckpoint) => saveCheckpoint(deps, id, index, owner, c, latest);
    if (checkpoint) {
      session = await deps.vault.open(checkpoint.session, secretId);
      const persisted = await deps.archive.persisted(session, file.object);
      if (persisted.kind === 'complete') return await completeFile(deps, id, leased, index, owner, persisted.object, checkpoint.totalBytes, null);
      offset = persisted.offset;
    } else {
      // A new session has nothing persisted yet: no need to ask.
      session = await (begun as Promise<string>);
      checkpoint = { session: await deps.vault.seal(session, secretId), marks: [{ offset: 0, crc32c: deps.crc32c.start().value() }], totalBytes: null };
      firstSave = save(checkpoint);
    }

    const mark = [...checkpoint.marks].reverse().find((m) => m.offset <= offset) ?? { offset: 0, crc32c: deps.crc32c.start().value() };
    // The download opens while the first checkpoint is saved; no byte is uploaded before the
    // session is on record, so a crash can always resume or finish it.
    const [saved, opened] = await Promise.allSettled([firstSave, openFresh(deps, leased, current, mark.offset)]);
    if (saved.status === 'rejected') {
      if (opened.status === 'fulfilled' && opened.value !== 'gone') opened.value.body.destroy();
      throw saved.reason;
    }
    const download = settledValue(opened);
    if (download === 'gone') return await end('FAILED', 'ARCHIVE_GONE', `archive ${file.name} is no longer available upstream`);
    const outcome = await copyArchive(deps, { id, grant: leased, index, session, file, checkpoint, download, from: mark, offset, started, save });
    if (outcome === 'handover') {
      await release(false);
      await deps.queue.publish('archive-transfer', { job: id, file: index });
      return 'continued';
    }
    return await completeFile(deps, id, leased, index, owner, outcome.stored, outcome.totalBytes, download, latest.job);
  } catch (error) {
    if (isAppError(error) && error.reason === LEASE_LOST) {
      // The job ended while this copy ran (cancelled, revoked): nobody continues this session.
      const now = await deps.jobs.get(id);
      if (session && (!now || now.state !== 'TRANSFERRING')) await deps.archive.abandonUpload(session).catch(() => undefined);
      return 'ignored';
    }
    if (isAppError(error) && (error.reason === 'CHECKSUM_MISMATCH' || error.reason === 'UPLOAD_SESSION_GONE')) {
      // The session cannot continue: start this file again from byte 0 on the next delivery.
      await deps.archive.delete(file.object).catch(() => undefined);
      await deps.jobs.update(id, (j) => {
        const f = j?.files[index];
        return j && f && holds(j) ? put(withFile(j, index, { ...f, checkpoint: null, lease: null, attempts: f.attempts + 1 }), null) : keep(null);
      });
      throw new AppError('UNAVAILABLE', `file ${index}: ${error.message}; starting it again`);
    }
    await release(true).catch(() => undefined);
    if (isAppError(error) && error.code === 'FAILED_PRECONDITION' && error.reason?.startsWith('CONSENT_')) return end('ABORTED', 'CONSENT_ENDED', error.reason);
    throw error;
  }
}

/**
 * Counts a verified copy. The last file in (as leased, every other file of the job was already
 * DONE, and a file never leaves DONE) writes the manifest first and then marks its file DONE and
 * the job DELIVERED in one update; files finishing together fall back to `finishJob`.
 */
async function completeFile(
  deps: ExportDeps,
  id: string,
  leased: ExportJob,
  index: number,
  owner: string,
  stored: StoredObject,
  totalBytes: number | null,
  download: ArchiveDownload | null,
  basis: ExportJob = leased,
): Promise<TransferResult> {
  const expected = leased.files[index]?.expectedBytes;
  const sizeOk = (totalBytes === null || stored.bytes === totalBytes) && (expected === null || expected === undefined || stored.bytes === expected);
  const crcOk = !download?.crc32c || download.crc32c === stored.crc32c;
  if (!sizeOk || !crcOk) {
    // Never count a short or corrupt copy: remove it and start this file again from scratch.
    await deps.archive.delete(stored.name);
    await deps.jobs.update(id, (j) => {
      const f = j?.files[index];
      return j && f && f.lease?.owner === owner ? put(withFile(j, index, { ...f, checkpoint: null, lease: null, attempts: f.attempts + 1 }), null) : keep(null);
    });
    throw new AppError('UNAVAILABLE', `copy of file ${index} failed verification (${sizeOk ? 'checksum' : 'size'}); starting again`);
  }
  const doneFile = (f: JobFile): JobFile => ({ ...f, state: 'DONE', bytes: stored.bytes, crc32c: stored.crc32c, md5: stored.md5, lease: null, checkpoint: null, url: null });
  const last = leased.exportTime !== null && leased.files.every((f, i) => i === index || f.state === 'DONE');
  // The grant is read again (a revocation during the copy) while the last file's manifest is written.
  const [grantRead, manifestWrite] = await Promise.allSettled([
    readJobGrant(deps, leased),
    last ? writeManifest(deps, id, withFile(leased, index, doneFile(leased.files[index] as JobFile))) : Promise.resolve(null),
  ]);
  const grant = settledValue(grantRead);
  if (!grant?.transfers) {
    // Revoked (or erased) while this copy ran: nothing may stay written after a disconnect.
    await deps.archive.delete(stored.name);
    if (manifestWrite.status === 'fulfilled' && manifestWrite.value) await deps.archive.delete(manifestWrite.value);
    await endJob(deps, id, { state: 'ABORTED', reason: 'CONSENT_ENDED', detail: grantStopped(leased, grant) }, (j) => j.state === 'TRANSFERRING');
    return 'ended';
  }
  const manifestObject = settledValue(manifestWrite);
  const now = deps.clock.now();
  const done = await deps.jobs.update(
    id,
    (j) => {
      const f = j?.files[index];
      if (!j || j.state !== 'TRANSFERRING' || !f || f.state !== 'PENDING' || f.lease?.owner !== owner) return keep(null);
      const next: ExportJob = { ...withFile(j, index, doneFile(f)), updatedAt: now };
      const delivered: ExportJob | null = manifestObject && next.files.every((x) => x.state === 'DONE') ? { ...next, state: 'DELIVERED', manifestObject, deliveredAt: now } : null;
      return put<ExportJob, ExportJob | null>(delivered ?? next, delivered ?? next);
    },
    { basis },
  );
  if (done?.state === 'DELIVERED') {
    await afterTerminal(deps, id, done);
    return 'delivered';
  }
  // Files that finished together: the one that saw them all DONE finishes the job.
  if (done?.files.every((x) => x.state === 'DONE')) return (await finishJob(deps, id, { job: done, grant })) ? 'delivered' : 'file_done';
  return 'file_done';
}

/** The reason of the error a worker gets when another worker (or an ended job) took its file. */
const LEASE_LOST = 'LEASE_LOST';

/** Records the checkpoint (and renews the lease) if this worker still holds the file; returns the job as written. */
async function saveCheckpoint(deps: ExportDeps, id: string, index: number, owner: string, checkpoint: TransferCheckpoint, latest: { job: ExportJob }): Promise<ExportJob> {
  const now = deps.clock.now();
  const kept = await deps.jobs.update(
    id,
    (j) => {
      const f = j?.files[index];
      if (!j || !f || f.lease?.owner !== owner || f.state !== 'PENDING') return keep(null);
      const next = withFile(j, index, { ...f, checkpoint, lease: { owner, until: new Date(now.getTime() + deps.settings.leaseSeconds * 1000) } });
      return put<ExportJob, ExportJob | null>(next, next);
    },
    { basis: latest.job },
  );
  if (!kept) throw new AppError('ABORTED', 'lost the transfer lease; another worker continues or the job ended', { reason: LEASE_LOST });
  latest.job = kept;
  return kept;
}

function withFile(job: ExportJob, index: number, file: JobFile): ExportJob {
  return { ...job, files: job.files.map((f, i) => (i === index ? file : f)) };
}
