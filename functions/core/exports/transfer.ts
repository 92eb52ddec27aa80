import type { Consent } from '../consent/model.js';
import { AppError, isAppError } from '../errors.js';
import type { ArchiveDownload } from '../ports/archive-download.js';
import type { StoredObject, UploadSink } from '../ports/archive-store.js';
import { keep, put } from '../ports/record-store.js';
import { settledValue } from '../settled.js';
import { drainedOrClosed } from '../streams.js';
import type { ExportDeps } from './deps.js';
import { afterTerminal } from './finish.js';
import { leaseFree, type ExportJob, type JobFile, type TransferCheckpoint } from './model.js';
import { objectName, signedUrlSecretId } from './poll.js';

export type TransferResult = 'ignored' | 'file_done' | 'continued' | 'delivered' | 'ended';

/** Marks kept in a checkpoint besides offset 0: enough to reach back past a chunk lost in flight. */
const KEPT_MARKS = 6;
/** A file that failed this many times ends the job as FAILED instead of looping. */
const MAX_FILE_ATTEMPTS = 8;

class Handover extends Error {}

/**
 * Copies one archive file into the bucket: leased to one worker at a time, resumable across
 * crashes and invocations (the upload session, sealed, and running-CRC32C marks are checkpointed
 * in the job), fed from a fresh signed URL each time (`Range: bytes=<offset>-` when resuming), and
 * verified (size and CRC32C) before the file counts. The last file in writes the manifest.
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
  /** Gives the file back; a failed attempt counts (a hand-over is not a failure). */
  const release = (failed: boolean) =>
    deps.jobs.update(id, (j) => {
      const f = j?.files[index];
      if (!j || !f || f.lease?.owner !== owner) return keep(null);
      return put(withFile(j, index, { ...f, lease: null, attempts: f.attempts + (failed ? 1 : 0) }), null);
    });

  try {
    if (file.attempts >= MAX_FILE_ATTEMPTS) return await endJob(deps, id, 'FAILED', `file ${file.name} failed ${file.attempts} times`);
    // Independent round trips go out together: the consent, the signed URL (the one the poll
    // kept, else a fresh one from upstream) and, for a first attempt, a new upload session (an
    // unused session holds no object and expires).
    const begun = file.checkpoint ? undefined : deps.archive.beginUpload(file.object, 'application/zip');
    begun?.catch(() => undefined);
    const [consentRead, urlRead] = await Promise.allSettled([
      deps.consents.get(leased.consentId),
      file.url ? deps.vault.open(file.url, signedUrlSecretId(id, index)).catch(() => freshUrl(deps, leased, file.name)) : freshUrl(deps, leased, file.name),
    ]);
    const consent = settledValue(consentRead);
    if (!consent || consent.status !== 'ACTIVE') return await endJob(deps, id, 'ABORTED', `consent is ${consent?.status ?? 'gone'}`);
    const url = settledValue(urlRead);
    if (url === null) return await endJob(deps, id, 'FAILED', `archive ${file.name} is no longer available upstream`);
    const current = { name: file.name, url };

    const secretId = `${id}/${index}`;
    let session: string;
    let checkpoint = file.checkpoint;
    let offset = 0;
    let firstSave: Promise<ExportJob> | undefined;
    /** The job as this worker last wrote it: the basis of its next write (no read first). */
    const latest = { job: leased };
    if (checkpoint) {
      session = await deps.vault.open(checkpoint.session, secretId);
      const persisted = await deps.archive.persisted(session, file.object);
      if (persisted.kind === 'complete') return await completeFile(deps, id, leased, index, owner, persisted.object, checkpoint.totalBytes, null);
      offset = persisted.offset;
    } else {
      // A new session has nothing persisted yet: no need to ask.
      session = await (begun as Promise<string>);
      checkpoint = { session: await deps.vault.seal(session, secretId), marks: [{ offset: 0, crc32c: deps.crc32c.start().value() }], totalBytes: null };
      firstSave = saveCheckpoint(deps, id, index, owner, checkpoint, latest);
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
    if (download === 'gone') return await endJob(deps, id, 'FAILED', `archive ${file.name} is no longer available upstream`);
    const outcome = await stream(deps, { id, consentId: leased.consentId, index, owner, session, file, checkpoint, download, from: mark, offset, started, latest });
    if (outcome === 'handover') {
      await release(false);
      await deps.queue.publish('archive-transfer', { job: id, file: index });
      return 'continued';
    }
    return await completeFile(deps, id, leased, index, owner, outcome.stored, outcome.totalBytes, download, latest.job);
  } catch (error) {
    if (isAppError(error) && (error.reason === 'CHECKSUM_MISMATCH' || error.reason === 'UPLOAD_SESSION_GONE')) {
      // The session cannot continue: start this file again from byte 0 on the next delivery.
      await deps.archive.delete(file.object).catch(() => undefined);
      await deps.jobs.update(id, (j) => {
        const f = j?.files[index];
        return j && f && f.lease?.owner === owner ? put(withFile(j, index, { ...f, checkpoint: null, lease: null, attempts: f.attempts + 1 }), null) : keep(null);
      });
      throw new AppError('UNAVAILABLE', `file ${index}: ${error.message}; starting it again`);
    }
    await release(true).catch(() => undefined);
    if (isAppError(error) && error.code === 'FAILED_PRECONDITION' && error.reason?.startsWith('CONSENT_')) return endJob(deps, id, 'ABORTED', error.reason);
    throw error;
  }
}

interface StreamInput {
  id: string;
  consentId: string;
  index: number;
  owner: string;
  session: string;
  file: JobFile;
  checkpoint: TransferCheckpoint;
  download: ArchiveDownload;
  from: { offset: number; crc32c: string };
  offset: number;
  started: Date;
  latest: { job: ExportJob };
}

/**
 * Streams the download into the upload: bytes between the mark and the persisted offset only feed
 * the checksum; the rest are written with backpressure. Before the time budget runs out the upload
 * is abandoned unfinalised (the session keeps what was persisted) and the transfer hands over.
 */
async function stream(deps: ExportDeps, input: StreamInput): Promise<'handover' | { stored: StoredObject; totalBytes: number | null }> {
  const crc = deps.crc32c.start(input.from.crc32c);
  let position = input.from.offset;
  let sink: UploadSink | undefined;
  let marks = [...input.checkpoint.marks];
  let nextMark = (Math.floor(input.offset / deps.settings.checkpointBytes) + 1) * deps.settings.checkpointBytes;
  const deadline = input.started.getTime() + deps.settings.transferBudgetSeconds * 1000;
  const totalBytes = input.download.totalBytes;
  let saving: Promise<void> = Promise.resolve();
  try {
    for await (const raw of input.download.body) {
      let chunk = raw as Buffer;
      if (position < input.offset) {
        const skip = Math.min(chunk.length, input.offset - position);
        crc.update(chunk.subarray(0, skip));
        position += skip;
        chunk = chunk.subarray(skip);
        if (chunk.length === 0) continue;
      }
      sink ??= deps.archive.continueUpload({ session: input.session, object: input.file.object, offset: input.offset, totalBytes });
      while (chunk.length > 0) {
        const room = nextMark - position;
        const piece = chunk.subarray(0, Math.min(room, chunk.length));
        crc.update(piece);
        position += piece.length;
        chunk = chunk.subarray(piece.length);
        if (!sink.stream.write(piece)) {
          await drainedOrClosed(sink.stream);
          if (sink.stream.destroyed) {
            // Closed before it ended: the upload failed, and `done` says why.
            await sink.done;
            throw new AppError('UNAVAILABLE', 'the upload closed before the archive was sent');
          }
        }
        if (position === nextMark) {
          marks = [marks[0] ?? { offset: 0, crc32c: deps.crc32c.start().value() }, ...marks.slice(1), { offset: position, crc32c: crc.value() }];
          if (marks.length > KEPT_MARKS + 1) marks = [marks[0]!, ...marks.slice(marks.length - KEPT_MARKS)];
          nextMark += deps.settings.checkpointBytes;
          // The checkpoint is saved while the next bytes flow; the previous save must have landed.
          await saving;
          const checkpoint = { ...input.checkpoint, marks, totalBytes };
          saving = saveCheckpoint(deps, input.id, input.index, input.owner, checkpoint, input.latest).then(() => assertConsentActive(deps, input.consentId));
          saving.catch(() => undefined);
          if (deps.clock.now().getTime() > deadline) {
            await saving;
            throw new Handover();
          }
        }
      }
    }
    await saving;
    if (totalBytes !== null && position !== totalBytes) throw new AppError('UNAVAILABLE', `download ended at byte ${position} of ${totalBytes}`);
    sink ??= deps.archive.continueUpload({ session: input.session, object: input.file.object, offset: input.offset, totalBytes });
    sink.stream.end();
    const stored = await sink.done;
    if (stored.crc32c !== crc.value()) {
      throw new AppError('INTERNAL', 'the stored object does not match the downloaded bytes', { reason: 'CHECKSUM_MISMATCH' });
    }
    return { stored, totalBytes: totalBytes ?? position };
  } catch (error) {
    input.download.body.destroy();
    await saving.catch(() => undefined);
    if (sink) {
      // Abandon the upload unfinalised; what the store persisted stays in the session.
      sink.stream.destroy();
      await sink.done.catch(() => undefined);
    }
    if (error instanceof Handover) return 'handover';
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
  const sizeOk = totalBytes === null || stored.bytes === totalBytes;
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
  // The consent is read again (a revocation during the copy) while the last file's manifest is written.
  const [consentRead, manifestWrite] = await Promise.allSettled([
    deps.consents.get(leased.consentId),
    last ? writeManifest(deps, id, withFile(leased, index, doneFile(leased.files[index] as JobFile))) : Promise.resolve(null),
  ]);
  const consent = settledValue(consentRead);
  if (!consent || consent.status !== 'ACTIVE') {
    // Revoked (or erased) while this copy ran: nothing may stay written after a disconnect.
    await deps.archive.delete(stored.name);
    if (manifestWrite.status === 'fulfilled' && manifestWrite.value) await deps.archive.delete(manifestWrite.value);
    return endJob(deps, id, 'ABORTED', `consent is ${consent?.status ?? 'gone'}`);
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
  if (done?.files.every((x) => x.state === 'DONE')) return (await finishJob(deps, id, { job: done, consent })) ? 'delivered' : 'file_done';
  return 'file_done';
}

/**
 * Writes the manifest beside the files and marks the job DELIVERED (once). `known`: the job and
 * its consent as the caller has just read or written them, instead of reading them again.
 */
export async function finishJob(deps: ExportDeps, id: string, known?: { job: ExportJob; consent: Consent }): Promise<boolean> {
  const job = known ? known.job : await deps.jobs.get(id);
  if (!job || job.state !== 'TRANSFERRING' || job.files.length === 0 || !job.files.every((f) => f.state === 'DONE') || !job.exportTime) return false;
  const consent = known ? known.consent : await deps.consents.get(job.consentId);
  if (!consent || (consent.status !== 'ACTIVE' && consent.status !== 'CLOSED')) {
    await endJob(deps, id, 'ABORTED', `consent is ${consent?.status ?? 'gone'}`);
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
async function writeManifest(deps: ExportDeps, id: string, job: ExportJob): Promise<string> {
  const { exportTime } = job;
  if (!exportTime) throw new AppError('INTERNAL', `export ${id} has no export time to name its manifest by`);
  const manifestObject = objectName(deps.settings.objectPrefix, job, exportTime, 'manifest.json');
  const manifest = {
    manifestVersion: 1,
    export: `exports/${id}`,
    consent: `consents/${job.consentId}`,
    appUserId: job.appUserId,
    resource: job.resource,
    accessType: job.accessType,
    startTime: job.startTime?.toISOString() ?? null,
    endTime: job.endTime?.toISOString() ?? null,
    exportTime: exportTime.toISOString(),
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

async function endJob(deps: ExportDeps, id: string, state: 'FAILED' | 'ABORTED', detail: string): Promise<TransferResult> {
  const now = deps.clock.now();
  const after = await deps.jobs.update(id, (j) => {
    if (!j || j.state !== 'TRANSFERRING') return keep(null);
    const next: ExportJob = { ...j, state, detail, updatedAt: now, files: j.files.map((f) => ({ ...f, lease: null, url: null })) };
    return put<ExportJob, ExportJob | null>(next, next);
  });
  if (after) await afterTerminal(deps, id, after);
  return 'ended';
}

/**
 * Opens the archive from `offset`. A signed URL that stopped working (expired since the poll kept
 * it or during a long hand-over) or an archive not found there is looked up again upstream once:
 * a fresh URL is used, an archive upstream no longer has is `gone`. A fresh URL refused too: a
 * retryable error, so the message comes back later.
 */
async function openFresh(deps: ExportDeps, job: ExportJob, file: { name: string; url: string }, offset: number): Promise<ArchiveDownload | 'gone'> {
  try {
    return await deps.downloader.open(file.url, offset);
  } catch (error) {
    if (!(isAppError(error) && (error.reason === 'URL_EXPIRED' || error.code === 'NOT_FOUND'))) throw error;
  }
  const fresh = await freshUrl(deps, job, file.name);
  if (fresh === null) return 'gone';
  try {
    return await deps.downloader.open(fresh, offset);
  } catch (error) {
    if (isAppError(error) && error.reason === 'URL_EXPIRED') throw new AppError('UNAVAILABLE', `archive ${file.name}: fresh URL refused too; retrying later`);
    throw error;
  }
}

/** The file's current signed URL from the upstream job state; null when the archive is no longer there. */
async function freshUrl(deps: ExportDeps, job: ExportJob, name: string): Promise<string | null> {
  const upstream = await deps.source.state({ consentId: job.consentId }, job.upstreamId ?? '');
  const current = upstream.files.find((f) => f.name === name);
  return upstream.state === 'COMPLETE' && current ? current.url : null;
}

async function assertConsentActive(deps: ExportDeps, consentId: string): Promise<void> {
  const consent = await deps.consents.get(consentId);
  if (!consent || consent.status !== 'ACTIVE') {
    throw new AppError('FAILED_PRECONDITION', `consent is ${consent?.status ?? 'gone'}`, { reason: `CONSENT_${consent?.status ?? 'GONE'}` });
  }
}

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
  if (!kept) throw new AppError('ABORTED', 'lost the transfer lease; another worker continues');
  latest.job = kept;
  return kept;
}


function withFile(job: ExportJob, index: number, file: JobFile): ExportJob {
  return { ...job, files: job.files.map((f, i) => (i === index ? file : f)) };
}
