import { Readable, Transform } from 'node:stream';
import { AppError, isAppError, isRetryable } from '../errors.js';
import { publishEvent } from '../events.js';
import type { ExportDeps } from '../exports/deps.js';
import { grantName, isTerminalJob, jobName, leaseFree, type ExportJob } from '../exports/model.js';
import type { StoredObject, UploadSink } from '../ports/archive-store.js';
import type { BundleEntry } from '../ports/bundle-packer.js';
import { keep, put } from '../ports/record-store.js';
import { drainedOrClosed } from '../ports/streams.js';
import {
  MAX_BUILD_ATTEMPTS,
  MAX_BUNDLE_FILES,
  bundleName,
  bundleUploadSecretId,
  partialObject,
  type Bundle,
  type BundleCheckpoint,
  type BundleExport,
  type BundleFile,
} from './model.js';

export type BuildResult = 'ignored' | 'waiting' | 'busy' | 'continued' | 'delivered' | 'failed';

/** Marks kept in a checkpoint besides offset 0 (the latest one covers every byte before it). */
const KEPT_MARKS = 4;
/** Reasons that void the partial upload: the next attempt starts the archive from byte 0. */
const RESTART = 'BUNDLE_RESTART';
const LEASE_LOST = 'LEASE_LOST';

/** The time budget ran out at a saved checkpoint: a new invocation continues. */
class Handover extends Error {}

/**
 * Builds one bundle, once every job of its request has ended: the delivered files (read back from
 * the archive bucket) and a combined `manifest.json` are packed into one archive, streamed into a
 * resumable upload of a temporary object, and copied create-only under the final name once the
 * temporary object's size and CRC32C match the stream's; so the final name only ever holds a
 * whole, verified archive. Nothing is held in memory or on disk.
 *
 * Leased to one worker at a time. After a crash (or at the time budget) the next attempt
 * regenerates the archive stream from byte 0 (the packers are deterministic), skipping what the
 * upload session already holds and checking the running CRC32C against the marks saved on the
 * way; a stream that does not regenerate identically voids the upload and starts again.
 */
export async function buildBundle(deps: ExportDeps, id: string): Promise<BuildResult> {
  const started = deps.clock.now();
  const owner = deps.newOwner();
  const leaseUntil = () => new Date(deps.clock.now().getTime() + deps.settings.leaseSeconds * 1000);
  let bundle = await deps.bundles.get(id);
  if (!bundle || bundle.state === 'DELIVERED' || bundle.state === 'FAILED') return 'ignored';
  if (bundle.state === 'WAITING') {
    const jobs = await Promise.all(bundle.jobs.map(async (j) => ({ id: j, job: await deps.jobs.get(j) })));
    if (jobs.some(({ job }) => job !== undefined && !isTerminalJob(job.state))) return 'waiting';
    const contents = { exports: snapshot(jobs), fixedAt: started };
    const files = contents.exports.reduce((n, e) => n + e.files.length, 0);
    const tooMany = files > MAX_BUNDLE_FILES;
    const until = leaseUntil();
    const claimed = await deps.bundles.update(id, (b) => {
      if (!b || b.state !== 'WAITING') return keep(null);
      const next: Bundle = tooMany
        ? { ...b, state: 'FAILED', contents, checkAt: null, detail: `${files} files: a bundle holds at most ${MAX_BUNDLE_FILES}`, updatedAt: started }
        : { ...b, state: 'BUILDING', contents, lease: { owner, until }, checkAt: until, updatedAt: started };
      return put<Bundle, Bundle | null>(next, next);
    });
    if (claimed?.state === 'FAILED') {
      await announceFailure(deps, id, claimed);
      return 'failed';
    }
    bundle = claimed ?? (await deps.bundles.get(id));
    if (!bundle || bundle.state !== 'BUILDING') return 'ignored';
  }
  const leased = claimed(bundle, owner) ? bundle : await takeLease(deps, id, owner, started, leaseUntil());
  if (!leased) return 'busy';
  const latest = { bundle: leased };
  try {
    return await write(deps, id, owner, latest, started);
  } catch (error) {
    return await afterFailure(deps, id, owner, latest.bundle, error);
  }
}

function claimed(bundle: Bundle, owner: string): boolean {
  return bundle.state === 'BUILDING' && bundle.lease?.owner === owner;
}

async function takeLease(deps: ExportDeps, id: string, owner: string, now: Date, until: Date): Promise<Bundle | null> {
  return deps.bundles.update(id, (b) => {
    if (!b || b.state !== 'BUILDING' || !leaseFree(b.lease, now)) return keep(null);
    const next: Bundle = { ...b, lease: { owner, until }, checkAt: until, updatedAt: now };
    return put<Bundle, Bundle | null>(next, next);
  });
}

/** The jobs as they ended, with the delivered files and where each goes in the archive. */
function snapshot(jobs: readonly { id: string; job: ExportJob | undefined }[]): BundleExport[] {
  const used = new Set<string>(['manifest.json']);
  // Exports of several grants: each file goes under its grant's name (two consents both export chrome.history).
  const several = new Set(jobs.flatMap(({ job }) => (job ? [grantName(job)] : []))).size > 1;
  return jobs.map(({ id, job }) => {
    if (!job) {
      return {
        job: id,
        grant: null,
        resource: '',
        state: 'ABORTED',
        endReason: null,
        detail: 'the export no longer exists',
        accessType: null,
        startTime: null,
        endTime: null,
        exportTime: null,
        manifestObject: null,
        upstreamJobIds: [],
        files: [],
      };
    }
    const delivered = job.state === 'DELIVERED';
    const files: BundleFile[] = delivered
      ? job.files.map((f) => {
          const unit = safeSegment(job.resource) || id;
          const folder = several ? `${grantName(job)}/${unit}` : unit;
          let path = `${folder}/${safeSegment(f.name)}`;
          if (used.has(path)) path = `${folder}/${id}/${safeSegment(f.name)}`;
          used.add(path);
          return { path, name: f.name, object: f.object, bytes: f.bytes ?? 0, crc32c: f.crc32c ?? '', md5: f.md5 };
        })
      : [];
    return {
      job: id,
      grant: grantName(job),
      resource: job.resource,
      state: job.state,
      endReason: job.endReason ?? null,
      detail: job.detail,
      accessType: job.accessType,
      startTime: job.startTime,
      endTime: job.endTime,
      exportTime: job.exportTime,
      manifestObject: job.manifestObject,
      upstreamJobIds: [...job.upstreamHistory, ...(job.upstreamId ? [job.upstreamId] : [])],
      files,
    };
  });
}

const safeSegment = (s: string) => s.replace(/[/\\\u0000-\u001f]/g, '_').replace(/^\.+$/, '_');

/** The combined manifest, built field by field (key order fixed): its bytes are the same on every attempt. */
export function bundleManifest(id: string, bundle: Bundle): Buffer {
  const contents = bundle.contents;
  if (!contents) throw new AppError('INTERNAL', `${bundleName(id)} has no contents`);
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  const manifest = {
    manifestVersion: 1,
    bundle: bundleName(id),
    subject: bundle.subject,
    appUserId: bundle.appUserId,
    format: bundle.format,
    createTime: contents.fixedAt.toISOString(),
    exports: contents.exports.map((e) => ({
      export: jobName(e.job),
      grant: e.grant ?? null,
      resource: e.resource,
      state: e.state,
      endReason: e.endReason,
      detail: e.detail,
      accessType: e.accessType,
      startTime: iso(e.startTime),
      endTime: iso(e.endTime),
      exportTime: iso(e.exportTime),
      incremental: e.startTime !== null,
      manifest: e.manifestObject,
      upstreamJobIds: [...e.upstreamJobIds],
      files: e.files.map((f) => ({ path: f.path, name: f.name, object: f.object, bytes: f.bytes, crc32c: f.crc32c, md5: f.md5 })),
    })),
    failedExports: contents.exports.filter((e) => e.state !== 'DELIVERED').map((e) => jobName(e.job)),
  };
  return Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8');
}

/** The archive's entries: the manifest first, then every delivered file, each checked against its record as it is read. */
function entriesOf(deps: ExportDeps, id: string, bundle: Bundle): BundleEntry[] {
  const manifest = bundleManifest(id, bundle);
  const files = (bundle.contents?.exports ?? []).flatMap((e) => e.files);
  return [
    { path: 'manifest.json', bytes: manifest.length, open: async () => Readable.from([manifest]) },
    ...files.map((f) => ({
      path: f.path,
      bytes: f.bytes,
      open: async () => {
        const source = await deps.archive.read(f.object);
        const check = verified(deps, f);
        source.once('error', (error) => check.destroy(error));
        check.once('close', () => source.destroy());
        return source.pipe(check);
      },
    })),
  ];
}

/** Passes an object's bytes through, failing at the end if their size or CRC32C differ from the file's record. */
function verified(deps: ExportDeps, file: BundleFile): Transform {
  const crc = deps.crc32c.start();
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      crc.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      if (bytes === file.bytes && crc.value() === file.crc32c) return callback();
      callback(new AppError('FAILED_PRECONDITION', `${file.object} no longer matches its delivery record (${bytes} bytes)`, { reason: 'BUNDLE_SOURCE_CHANGED' }));
    },
  });
}

async function write(deps: ExportDeps, id: string, owner: string, latest: { bundle: Bundle }, started: Date): Promise<BuildResult> {
  const bundle = latest.bundle;
  const packer = deps.packers[bundle.format];
  const temp = partialObject(bundle);
  const secretId = bundleUploadSecretId(id);
  const save = (checkpoint: BundleCheckpoint) => saveCheckpoint(deps, id, owner, checkpoint, latest);
  let session: string;
  /** Bytes the upload already holds (Infinity: the temporary object is finalised). */
  let offset = 0;
  let finalised: StoredObject | null = null;
  let checkpoint = bundle.checkpoint;
  if (checkpoint) {
    session = await deps.vault.open(checkpoint.session, secretId);
    const persisted = await deps.archive.persisted(session, temp).catch((error: unknown) => {
      if (isAppError(error) && error.reason === 'UPLOAD_SESSION_GONE') throw new AppError('UNAVAILABLE', 'the bundle upload session expired', { reason: RESTART });
      throw error;
    });
    if (persisted.kind === 'complete') {
      finalised = persisted.object;
      offset = Number.POSITIVE_INFINITY;
    } else offset = persisted.offset;
  } else {
    // A temporary object left by an attempt whose upload was voided goes first (create-only upload).
    await deps.archive.delete(temp);
    session = await deps.archive.beginUpload(temp, packer.contentType);
    checkpoint = { session: await deps.vault.seal(session, secretId), marks: [{ offset: 0, crc32c: deps.crc32c.start().value() }] };
    // No byte is uploaded before the session is on record, so a crash can always resume or void it.
    await save(checkpoint);
  }

  const recorded = new Map(checkpoint.marks.map((m) => [m.offset, m.crc32c]));
  let marks = [...checkpoint.marks];
  const crc = deps.crc32c.start();
  const step = deps.settings.checkpointBytes;
  const deadline = started.getTime() + deps.settings.transferBudgetSeconds * 1000;
  let position = 0;
  let nextMark = step;
  let sink: UploadSink | undefined;
  let saving: Promise<unknown> = Promise.resolve();
  // The lease is renewed at least this often, also while the regenerated prefix is only read.
  const renewMs = (deps.settings.leaseSeconds * 1000) / 3;
  let renewedAt = deps.clock.now().getTime();
  const stream = await packer.pack(entriesOf(deps, id, bundle), { mtime: bundle.contents?.fixedAt ?? bundle.createdAt });
  try {
    for await (const raw of stream) {
      let chunk = raw as Buffer;
      while (chunk.length > 0) {
        const piece = chunk.subarray(0, Math.min(chunk.length, nextMark - position));
        chunk = chunk.subarray(piece.length);
        crc.update(piece);
        const skip = Math.max(0, Math.min(piece.length, offset - position));
        position += piece.length;
        if (skip < piece.length) {
          sink ??= deps.archive.continueUpload({ session, object: temp, offset, totalBytes: null });
          if (!sink.stream.write(piece.subarray(skip))) {
            await drainedOrClosed(sink.stream);
            if (sink.stream.destroyed) {
              await sink.done;
              throw new AppError('UNAVAILABLE', 'the upload closed before the bundle was sent');
            }
          }
        }
        if (position !== nextMark) {
          const now = deps.clock.now().getTime();
          if (now - renewedAt >= renewMs) {
            renewedAt = now;
            await saving;
            saving = save({ session: checkpoint.session, marks });
            saving.catch(() => undefined);
          }
          continue;
        }
        nextMark += step;
        const value = crc.value();
        const known = recorded.get(position);
        if (known !== undefined && known !== value) {
          throw new AppError('UNAVAILABLE', `the bundle did not regenerate identically at byte ${position}`, { reason: RESTART });
        }
        if (position <= offset) continue;
        marks = [marks[0]!, ...marks.slice(1).filter((m) => m.offset < position), { offset: position, crc32c: value }];
        if (marks.length > KEPT_MARKS + 1) marks = [marks[0]!, ...marks.slice(marks.length - KEPT_MARKS)];
        await saving;
        renewedAt = deps.clock.now().getTime();
        saving = save({ session: checkpoint.session, marks });
        saving.catch(() => undefined);
        if (deps.clock.now().getTime() > deadline) {
          await saving;
          throw new Handover();
        }
      }
    }
    await saving;
    let stored: StoredObject;
    if (finalised) stored = finalised;
    else {
      sink ??= deps.archive.continueUpload({ session, object: temp, offset, totalBytes: null });
      sink.stream.end();
      stored = await sink.done;
    }
    if (stored.bytes !== position || stored.crc32c !== crc.value()) {
      throw new AppError('UNAVAILABLE', `the temporary bundle (${stored.bytes} bytes) does not match the stream (${position} bytes)`, { reason: RESTART });
    }
    return await deliver(deps, id, owner, latest, stored);
  } catch (error) {
    stream.destroy();
    await saving.catch(() => undefined);
    if (sink && !sink.stream.writableFinished) {
      // Abandoned unfinalised: what the store persisted stays in the session.
      sink.stream.destroy();
      await sink.done.catch(() => undefined);
    }
    if (error instanceof Handover) {
      await release(deps, id, owner, latest.bundle);
      await deps.queue.publish('bundle-requested', { bundle: id });
      return 'continued';
    }
    throw error;
  }
}

/**
 * Copies the verified temporary object under the final name (create-only; a copy an earlier
 * attempt made is recognised by its checksum), checks the jobs were not erased meanwhile, and
 * marks the bundle DELIVERED.
 */
async function deliver(deps: ExportDeps, id: string, owner: string, latest: { bundle: Bundle }, temp: StoredObject): Promise<BuildResult> {
  const bundle = latest.bundle;
  let final: StoredObject;
  try {
    final = await deps.archive.copy(temp.name, bundle.object, temp.generation);
  } catch (error) {
    if (!(isAppError(error) && error.code === 'ALREADY_EXISTS')) throw error;
    const existing = await deps.archive.stat(bundle.object);
    if (!existing || existing.crc32c !== temp.crc32c || existing.bytes !== temp.bytes) {
      throw new AppError('FAILED_PRECONDITION', `${bundle.object} already exists with other content`, { reason: 'BUNDLE_OBJECT_EXISTS' });
    }
    final = existing;
  }
  // Erased while it was built (the jobs' records go with the consent's objects): nothing may stay.
  const delivered = (bundle.contents?.exports ?? []).filter((e) => e.state === 'DELIVERED');
  const still = await Promise.all(delivered.map((e) => deps.jobs.get(e.job)));
  if (still.some((j) => !j || j.state !== 'DELIVERED')) {
    await deps.archive.delete(bundle.object);
    await deps.archive.delete(temp.name);
    return end(deps, id, owner, latest, 'an export of the bundle was erased or reset while it was built');
  }
  const now = deps.clock.now();
  const done = await deps.bundles.update(
    id,
    (b) => {
      if (!b || b.state !== 'BUILDING' || b.lease?.owner !== owner) return keep(null);
      const next: Bundle = {
        ...b,
        state: 'DELIVERED',
        bytes: final.bytes,
        crc32c: final.crc32c,
        md5: final.md5,
        deliveredAt: now,
        updatedAt: now,
        lease: null,
        checkAt: null,
        checkpoint: null,
      };
      return put<Bundle, Bundle | null>(next, next);
    },
    { basis: latest.bundle },
  );
  if (!done) throw new AppError('ABORTED', 'lost the bundle lease', { reason: LEASE_LOST });
  await deps.archive.delete(temp.name).catch(() => undefined);
  await publishEvent(deps, {
    type: 'bundle.delivered',
    subject: bundleName(id),
    appUserId: done.appUserId,
    data: {
      subject: done.subject,
      format: done.format,
      object: done.object,
      bytes: final.bytes,
      crc32c: final.crc32c,
      exports: done.jobs.map(jobName),
      failedExports: (done.contents?.exports ?? []).filter((e) => e.state !== 'DELIVERED').map((e) => jobName(e.job)),
    },
  });
  return 'delivered';
}

async function afterFailure(deps: ExportDeps, id: string, owner: string, latest: Bundle, error: unknown): Promise<BuildResult> {
  if (isAppError(error) && error.reason === LEASE_LOST) {
    // Ended or erased while this build ran: nobody continues its upload.
    const now = await deps.bundles.get(id);
    if (!now || now.state !== 'BUILDING') await voidUpload(deps, id, latest);
    return 'ignored';
  }
  const restart = isAppError(error) && error.reason === RESTART;
  if (restart) await voidUpload(deps, id, latest);
  const attempts = latest.attempts + 1;
  if (!isRetryable(error) || attempts >= MAX_BUILD_ATTEMPTS) {
    if (!restart) await voidUpload(deps, id, latest);
    const why = error instanceof Error ? error.message : String(error);
    return end(deps, id, owner, { bundle: latest }, isRetryable(error) ? `failed ${attempts} times; last: ${why}` : why);
  }
  const now = deps.clock.now();
  await deps.bundles
    .update(id, (b) =>
      b && b.lease?.owner === owner ? put({ ...b, lease: null, attempts, checkAt: now, updatedAt: now, ...(restart ? { checkpoint: null } : {}) }, null) : keep(null),
    )
    .catch(() => undefined);
  throw error;
}

/** Cancels the upload session and removes the temporary object (best effort). */
async function voidUpload(deps: ExportDeps, id: string, bundle: Bundle): Promise<void> {
  if (bundle.checkpoint) {
    try {
      await deps.archive.abandonUpload(await deps.vault.open(bundle.checkpoint.session, bundleUploadSecretId(id)));
    } catch {
      // The session expires on its own within a week.
    }
  }
  await deps.archive.delete(partialObject(bundle)).catch(() => undefined);
}

async function end(deps: ExportDeps, id: string, owner: string, latest: { bundle: Bundle }, detail: string): Promise<BuildResult> {
  const now = deps.clock.now();
  const failed = await deps.bundles.update(id, (b) => {
    if (!b || b.state !== 'BUILDING' || (b.lease !== null && b.lease.owner !== owner && !leaseFree(b.lease, now))) return keep(null);
    const next: Bundle = { ...b, state: 'FAILED', detail, lease: null, checkAt: null, checkpoint: null, updatedAt: now };
    return put<Bundle, Bundle | null>(next, next);
  });
  if (!failed) return 'ignored';
  latest.bundle = failed;
  await announceFailure(deps, id, failed);
  return 'failed';
}

async function announceFailure(deps: ExportDeps, id: string, bundle: Bundle): Promise<void> {
  await publishEvent(deps, {
    type: 'bundle.failed',
    subject: bundleName(id),
    appUserId: bundle.appUserId,
    data: { subject: bundle.subject, format: bundle.format, detail: bundle.detail },
  });
}

async function release(deps: ExportDeps, id: string, owner: string, basis: Bundle): Promise<void> {
  const now = deps.clock.now();
  await deps.bundles.update(id, (b) => (b && b.lease?.owner === owner ? put({ ...b, lease: null, updatedAt: now }, null) : keep(null)), { basis });
}

/** Records the checkpoint (and renews the lease) if this worker still holds the bundle. */
async function saveCheckpoint(deps: ExportDeps, id: string, owner: string, checkpoint: BundleCheckpoint, latest: { bundle: Bundle }): Promise<Bundle> {
  const now = deps.clock.now();
  const until = new Date(now.getTime() + deps.settings.leaseSeconds * 1000);
  const kept = await deps.bundles.update(
    id,
    (b) => {
      if (!b || b.state !== 'BUILDING' || b.lease?.owner !== owner) return keep(null);
      const next: Bundle = { ...b, checkpoint, lease: { owner, until }, checkAt: until, updatedAt: now };
      return put<Bundle, Bundle | null>(next, next);
    },
    { basis: latest.bundle },
  );
  if (!kept) throw new AppError('ABORTED', 'lost the bundle lease; another worker continues or the bundle ended', { reason: LEASE_LOST });
  latest.bundle = kept;
  return kept;
}
