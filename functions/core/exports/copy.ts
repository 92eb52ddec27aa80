import { AppError, isAppError } from '../errors.js';
import type { ArchiveDownload } from '../ports/archive-download.js';
import type { StoredObject, UploadSink } from '../ports/archive-store.js';
import { drainedOrClosed } from '../ports/streams.js';
import type { ExportDeps } from './deps.js';
import { grantStopped, grantStoppedReason, readJobGrant } from './grants.js';
import { grantOf, type ExportJob, type JobFile, type TransferCheckpoint } from './model.js';

/** The streamed copy of one archive file: from a (ranged) download into a resumable upload. */

/** Marks kept in a checkpoint besides offset 0: enough to reach back past a chunk lost in flight. */
const KEPT_MARKS = 6;

/** The transfer's time budget ran out: the copy stopped at a saved checkpoint for the next invocation. */
class Handover extends Error {}

export interface StreamInput {
  id: string;
  /** The job's grant, read again at each checkpoint (a revocation or deletion stops the copy). */
  grant: Pick<ExportJob, 'grantKind' | 'consentId'>;
  index: number;
  session: string;
  file: JobFile;
  checkpoint: TransferCheckpoint;
  download: ArchiveDownload;
  from: { offset: number; crc32c: string };
  offset: number;
  started: Date;
  /** Saves a checkpoint (and renews the lease) while the bytes flow; rejects when the lease is lost. */
  save: (checkpoint: TransferCheckpoint) => Promise<unknown>;
}

/**
 * Streams the download into the upload: bytes between the mark and the persisted offset only feed
 * the checksum; the rest are written with backpressure. Before the time budget runs out the upload
 * is abandoned unfinalised (the session keeps what was persisted) and the transfer hands over.
 */
export async function copyArchive(deps: ExportDeps, input: StreamInput): Promise<'handover' | { stored: StoredObject; totalBytes: number | null }> {
  const crc = deps.crc32c.start(input.from.crc32c);
  let position = input.from.offset;
  let sink: UploadSink | undefined;
  let marks = [...input.checkpoint.marks];
  let nextMark = (Math.floor(input.offset / deps.settings.checkpointBytes) + 1) * deps.settings.checkpointBytes;
  const deadline = input.started.getTime() + deps.settings.transferBudgetSeconds * 1000;
  const totalBytes = input.download.totalBytes;
  let saving: Promise<unknown> = Promise.resolve();
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
          saving = input.save({ ...input.checkpoint, marks, totalBytes }).then(() => assertGrantOpen(deps, input.grant));
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
 * Opens the archive from `offset`. A signed URL that stopped working (expired since the poll kept
 * it or during a long hand-over) or an archive not found there is looked up again upstream once:
 * a fresh URL is used, an archive upstream no longer has is `gone`. A fresh URL refused too: a
 * retryable error, so the message comes back later.
 */
export async function openFresh(deps: ExportDeps, job: ExportJob, file: { name: string; url: string }, offset: number): Promise<ArchiveDownload | 'gone'> {
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
export async function freshUrl(deps: ExportDeps, job: ExportJob, name: string): Promise<string | null> {
  const upstream = await deps.upstream.state(grantOf(job), job.upstreamId ?? '');
  const current = upstream.files.find((f) => f.name === name);
  return upstream.state === 'COMPLETE' && current ? current.url : null;
}

async function assertGrantOpen(deps: ExportDeps, job: Pick<ExportJob, 'grantKind' | 'consentId'>): Promise<void> {
  const grant = await readJobGrant(deps, job);
  if (!grant?.transfers) throw new AppError('FAILED_PRECONDITION', grantStopped(job, grant), { reason: grantStoppedReason(job, grant) });
}
