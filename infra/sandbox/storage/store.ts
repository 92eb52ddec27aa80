// Buckets, objects and resumable sessions of the Cloud Storage subset, kept on disk:
//   <root>/buckets.json                 bucket records
//   <root>/objects/<blob>.bin + .json   object content + its record (one pair per live object)
//   <root>/uploads/<id>.part + .json    a resumable session's persisted prefix + its record
//   <root>/uploads/tmp-*                bodies of simple/multipart uploads while they arrive
// Records are written with temp file + rename; content never passes through memory whole.
// Every commit (finalise, delete, patch) is synchronous, so preconditions are checked and applied
// atomically with respect to other requests.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import { crc32cBase64, crc32cUpdate } from '../lib/crc32c.js';
import { endedProcess } from '../lib/processes.js';
import { Md5Follower } from './md5-follower.js';
import type { ObjectFields, Preconditions } from './protocol.js';
import { CHUNK_QUANTUM, GcsError, bucketNotFound, conditionNotMet, objectNotFound, preconditionsFromJson, preconditionsHold, preconditionsToJson } from './protocol.js';

export interface BucketRecord {
  name: string;
  project: string;
  timeCreated: number;
}

export interface ObjectRecord extends ObjectFields {
  bucket: string;
  name: string;
  generation: string;
  metageneration: number;
  size: number;
  crc32c: string;
  md5Hash: string;
  contentType: string;
  timeCreated: number;
  updated: number;
  /** File stem under objects/. */
  blob: string;
}

export type SessionState = 'active' | 'final' | 'failed' | 'cancelled';

export interface SessionRecord {
  id: string;
  bucket: string;
  name: string;
  createdAt: number;
  /** Bytes persisted; a multiple of CHUNK_QUANTUM while active. */
  persisted: number;
  /** Total object size once announced (X-Upload-Content-Length or a Content-Range total). */
  total?: number;
  fields: ObjectFields & { contentType: string };
  /** Hashes announced in the metadata at initiation, checked at finalisation. */
  expected: { crc32c?: string; md5Hash?: string };
  preconditions: Record<string, string>;
  state: SessionState;
  result?: ObjectRecord;
  failure?: { status: number; reason: string; message: string };
}

/** The running CRC32C of a byte prefix (its MD5 is hashed off-thread by the Md5Follower). */
export interface Digest {
  at: number;
  crc: number;
}

export const UPLOAD_ID = /^[A-Za-z0-9_-]{16,128}$/;

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, path);
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Bytes gathered before one positioned write: fewer, larger writes than the socket's 64 KiB reads. */
const WRITE_BATCH = 1024 * 1024;

/**
 * Streams bytes into a file at a position while computing their CRC32C, and remembers it at the
 * last CHUNK_QUANTUM boundary so a partly received chunk can be committed up to that boundary.
 * Bytes are checksummed as they arrive and written in batches, one batch in flight while the next
 * fills; `flush()` must settle before the file is closed or the digests are relied on. After each
 * batch is on disk, `written(n)` says how many leading bytes of the file are there (for the MD5,
 * hashed from the file by another thread).
 */
export class BlobWriter {
  pos: number;
  crc: number;
  snapshot: Digest | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** File position of the first pending byte. */
  private fileAt: number;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: FileHandle,
    start: Digest,
    private readonly written: (bytes: number) => void = () => undefined,
  ) {
    this.pos = start.at;
    this.crc = start.crc;
    this.fileAt = start.at;
  }

  async write(buf: Buffer): Promise<void> {
    let off = 0;
    while (off < buf.length) {
      const n = Math.min(CHUNK_QUANTUM - (this.pos % CHUNK_QUANTUM), buf.length - off);
      const piece = buf.subarray(off, off + n);
      this.crc = crc32cUpdate(this.crc, piece);
      this.pos += n;
      off += n;
      if (this.pos % CHUNK_QUANTUM === 0) this.snapshot = { at: this.pos, crc: this.crc };
    }
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    if (this.pendingBytes >= WRITE_BATCH) {
      await this.inFlight;
      this.startWrite();
    }
  }

  /** Writes what is pending and waits for every write; rejects with the first write error. */
  async flush(): Promise<void> {
    await this.inFlight;
    if (this.pendingBytes > 0) {
      this.startWrite();
      await this.inFlight;
    }
  }

  private startWrite(): void {
    const buffers = this.pending;
    const at = this.fileAt;
    this.fileAt += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    const end = this.fileAt;
    this.inFlight = writeAllAt(this.file, buffers, at).then(() => this.written(end));
    // Observed by the next write() or flush(); never an unhandled rejection meanwhile.
    this.inFlight.catch(() => undefined);
  }

  /** The digest at `at`, which must be the current position or the last boundary. */
  digestAt(at: number): Digest | undefined {
    if (at === this.pos) return { at, crc: this.crc };
    if (this.snapshot?.at === at) return { at, crc: this.snapshot.crc };
    return undefined;
  }
}

/** One positioned gather write, continued after short writes. */
async function writeAllAt(file: FileHandle, buffers: Buffer[], at: number): Promise<void> {
  let rest = buffers;
  let position = at;
  while (rest.length > 0) {
    const { bytesWritten } = await file.writev(rest, position);
    position += bytesWritten;
    let skip = bytesWritten;
    const next: Buffer[] = [];
    for (const b of rest) {
      if (skip >= b.length) skip -= b.length;
      else {
        next.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    rest = next;
  }
}

export class StorageStore {
  readonly buckets = new Map<string, BucketRecord>();
  private readonly objects = new Map<string, Map<string, ObjectRecord>>();
  readonly sessions = new Map<string, SessionRecord>();
  /** CRC32C of each active session's persisted prefix (rebuilt from disk after a restart). */
  private readonly digests = new Map<string, Digest>();
  /** MD5 of uploaded bytes, hashed from the files by a thread of its own. */
  readonly md5 = new Md5Follower();
  private readonly locks = new Map<string, Promise<void>>();
  private lastGeneration = 0n;

  private constructor(
    readonly root: string,
    private readonly clock: Clock,
  ) {
    mkdirSync(join(root, 'objects'), { recursive: true });
    mkdirSync(join(root, 'uploads'), { recursive: true });
  }

  /**
   * With a data folder: `<dataDir>/storage`, reloaded. Without: a fresh folder per process under
   * `<cacheDir>/storage-runs/` (folders of processes that are gone are removed at start).
   */
  static open(clock: Clock, dataDir: string | undefined, cacheDir: string): StorageStore {
    if (dataDir) {
      const store = new StorageStore(join(dataDir, 'storage'), clock);
      store.load();
      return store;
    }
    const runs = join(cacheDir, 'storage-runs');
    mkdirSync(runs, { recursive: true });
    for (const entry of readdirSync(runs)) {
      if (endedProcess(Number(entry.split('-')[0]))) rmSync(join(runs, entry), { recursive: true, force: true });
    }
    return new StorageStore(join(runs, `${process.pid}-${randomBytes(6).toString('hex')}`), clock);
  }

  // ---- buckets ----

  createBucket(name: string, project: string): BucketRecord {
    if (this.buckets.has(name)) {
      throw new GcsError(409, 'conflict', 'Your previous request to create the named bucket succeeded and you already own it.');
    }
    const record: BucketRecord = { name, project, timeCreated: this.clock.now() };
    this.buckets.set(name, record);
    this.objects.set(name, new Map());
    this.saveBuckets();
    return record;
  }

  bucket(name: string): BucketRecord {
    const b = this.buckets.get(name);
    if (!b) throw bucketNotFound();
    return b;
  }

  deleteBucket(name: string): void {
    this.bucket(name);
    if ((this.objects.get(name)?.size ?? 0) > 0) throw new GcsError(409, 'conflict', 'The bucket you tried to delete is not empty.');
    this.buckets.delete(name);
    this.objects.delete(name);
    this.saveBuckets();
  }

  // ---- objects ----

  /** Live objects of a bucket (unsorted). */
  list(bucket: string): Iterable<ObjectRecord> {
    this.bucket(bucket);
    return this.objects.get(bucket)?.values() ?? [];
  }

  find(bucket: string, name: string): ObjectRecord | undefined {
    return this.objects.get(bucket)?.get(name);
  }

  /** The live object, optionally of one generation; 404 otherwise. */
  get(bucket: string, name: string, generation?: string): ObjectRecord {
    this.bucket(bucket);
    const rec = this.find(bucket, name);
    if (!rec || (generation !== undefined && rec.generation !== generation)) throw objectNotFound(bucket, name);
    return rec;
  }

  blobPath(rec: ObjectRecord): string {
    return join(this.root, 'objects', `${rec.blob}.bin`);
  }

  tempPath(): string {
    return join(this.root, 'uploads', `tmp-${process.pid}-${randomBytes(9).toString('base64url')}`);
  }

  /**
   * Makes the file at `source` the live object `bucket/name` if the preconditions hold against
   * the current live object (synchronous: check and swap are atomic).
   */
  commit(
    source: string,
    bucket: string,
    name: string,
    content: { size: number; crc: number; md5: string },
    fields: ObjectFields & { contentType: string },
    pre: Preconditions,
  ): ObjectRecord {
    const objects = this.objects.get(bucket);
    if (!objects || !this.buckets.has(bucket)) throw bucketNotFound();
    const previous = objects.get(name);
    if (!preconditionsHold(pre, previous)) throw conditionNotMet();
    const now = this.clock.now();
    const record: ObjectRecord = {
      ...fields,
      bucket,
      name,
      generation: this.nextGeneration(now),
      metageneration: 1,
      size: content.size,
      crc32c: crc32cBase64(content.crc),
      md5Hash: content.md5,
      timeCreated: now,
      updated: now,
      blob: randomBytes(12).toString('base64url'),
    };
    renameSync(source, this.blobPath(record));
    writeJsonAtomic(join(this.root, 'objects', `${record.blob}.json`), record);
    objects.set(name, record);
    if (previous) this.removeBlob(previous);
    return record;
  }

  delete(bucket: string, name: string, generation: string | undefined, pre: Preconditions): void {
    const rec = this.get(bucket, name, generation);
    if (!preconditionsHold(pre, rec)) throw conditionNotMet();
    this.objects.get(bucket)?.delete(name);
    this.removeBlob(rec);
  }

  patch(bucket: string, name: string, generation: string | undefined, pre: Preconditions, fields: ObjectFields, cleared: string[]): ObjectRecord {
    const rec = this.get(bucket, name, generation);
    if (!preconditionsHold(pre, rec)) throw conditionNotMet();
    const next: ObjectRecord = { ...rec, metageneration: rec.metageneration + 1, updated: this.clock.now() };
    for (const key of cleared) {
      if (key === 'contentType') next.contentType = 'application/octet-stream';
      else delete (next as unknown as Record<string, unknown>)[key];
    }
    const { metadata, ...rest } = fields;
    Object.assign(next, rest);
    if (metadata) {
      const merged: Record<string, string> = { ...(next.metadata ?? {}) };
      for (const [k, v] of Object.entries(metadata)) merged[k] = v;
      next.metadata = merged;
    }
    writeJsonAtomic(join(this.root, 'objects', `${rec.blob}.json`), next);
    this.objects.get(bucket)?.set(name, next);
    return next;
  }

  private removeBlob(rec: ObjectRecord): void {
    rmSync(join(this.root, 'objects', `${rec.blob}.json`), { force: true });
    rmSync(this.blobPath(rec), { force: true });
  }

  private nextGeneration(now: number): string {
    const candidate = BigInt(now) * 1000n;
    this.lastGeneration = candidate > this.lastGeneration ? candidate : this.lastGeneration + 1n;
    return String(this.lastGeneration);
  }

  // ---- resumable sessions ----

  createSession(
    bucket: string,
    name: string,
    fields: ObjectFields & { contentType: string },
    expected: SessionRecord['expected'],
    pre: Preconditions,
    total: number | undefined,
  ): SessionRecord {
    this.bucket(bucket);
    if (!preconditionsHold(pre, this.find(bucket, name))) throw conditionNotMet();
    const session: SessionRecord = {
      id: randomBytes(24).toString('base64url'),
      bucket,
      name,
      createdAt: this.clock.now(),
      persisted: 0,
      fields,
      expected,
      preconditions: preconditionsToJson(pre),
      state: 'active',
    };
    if (total !== undefined) session.total = total;
    writeFileSync(this.partPath(session.id), '');
    this.saveSession(session);
    return session;
  }

  session(id: string): SessionRecord | undefined {
    return UPLOAD_ID.test(id) ? this.sessions.get(id) : undefined;
  }

  partPath(id: string): string {
    return join(this.root, 'uploads', `${id}.part`);
  }

  /** Runs `fn` with the session to itself (chunks, queries and cancels of one session are serialised). */
  async withSession<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.locks.set(id, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  /** CRC32C of the persisted prefix (read back from disk once after a restart). */
  async digest(session: SessionRecord): Promise<Digest> {
    const known = this.digests.get(session.id);
    if (known && known.at === session.persisted) return { ...known };
    let crc = 0;
    if (session.persisted > 0) {
      const file = await open(this.partPath(session.id), 'r');
      try {
        for await (const chunk of file.createReadStream({ start: 0, end: session.persisted - 1, highWaterMark: 1024 * 1024, autoClose: false })) {
          const buf = chunk as Buffer;
          crc = crc32cUpdate(crc, buf);
        }
      } finally {
        await file.close();
      }
    }
    const digest = { at: session.persisted, crc };
    this.digests.set(session.id, digest);
    return { ...digest };
  }

  /** Records a longer persisted prefix (a CHUNK_QUANTUM multiple) and trims the part file to it. */
  advance(session: SessionRecord, digest: Digest): void {
    session.persisted = digest.at;
    this.digests.set(session.id, digest);
    truncateSync(this.partPath(session.id), digest.at);
    this.saveSession(session);
  }

  /**
   * Trims bytes written past the persisted prefix (after a partial chunk). `rewound`: bytes below a
   * 256 KiB boundary were dropped too (a failed write), so they may come again with other content
   * and what the MD5 thread read of them no longer counts.
   */
  trim(session: SessionRecord, rewound = false): void {
    if (existsSync(this.partPath(session.id))) truncateSync(this.partPath(session.id), session.persisted);
    if (rewound) this.md5.forget(this.partPath(session.id));
  }

  /** For the session's writer: bytes up to the last boundary below `written` are final (kept even if the request breaks). */
  followPart(session: SessionRecord): (written: number) => void {
    const path = this.partPath(session.id);
    return (written) => this.md5.advance(path, written - (written % CHUNK_QUANTUM));
  }

  setTotal(session: SessionRecord, total: number): void {
    session.total = total;
    this.saveSession(session);
  }

  /** Finalises: hash checks, preconditions (again), then the part file becomes the object. */
  async finalise(session: SessionRecord, digest: Digest, announced: { crc32c?: string; md5?: string }): Promise<ObjectRecord> {
    const crc32c = crc32cBase64(digest.crc);
    const part = this.partPath(session.id);
    const md5 = await this.md5.digest(part, digest.at);
    this.md5.forget(part);
    try {
      for (const [label, want, got] of [
        ['CRC32C', announced.crc32c ?? session.expected.crc32c, crc32c],
        ['MD5', announced.md5 ?? session.expected.md5Hash, md5],
      ] as const) {
        if (want !== undefined && want !== got) throw new GcsError(400, 'invalid', `Provided ${label} "${want}" doesn't match calculated ${label} "${got}".`);
      }
      const record = this.commit(part, session.bucket, session.name, { size: digest.at, crc: digest.crc, md5 }, session.fields, preconditionsFromJson(session.preconditions));
      session.persisted = digest.at;
      session.state = 'final';
      session.result = record;
      this.digests.delete(session.id);
      this.saveSession(session);
      return record;
    } catch (err) {
      if (err instanceof GcsError) this.fail(session, err);
      throw err;
    }
  }

  /** A failed session answers its failure from now on; its bytes are dropped. */
  fail(session: SessionRecord, err: GcsError): void {
    session.state = 'failed';
    session.failure = { status: err.httpStatus, reason: err.reason, message: err.message };
    this.digests.delete(session.id);
    this.md5.forget(this.partPath(session.id));
    rmSync(this.partPath(session.id), { force: true });
    this.saveSession(session);
  }

  cancel(session: SessionRecord): void {
    session.state = 'cancelled';
    this.digests.delete(session.id);
    this.md5.forget(this.partPath(session.id));
    rmSync(this.partPath(session.id), { force: true });
    this.saveSession(session);
  }

  private saveSession(session: SessionRecord): void {
    this.sessions.set(session.id, session);
    writeJsonAtomic(join(this.root, 'uploads', `${session.id}.json`), session);
  }

  private saveBuckets(): void {
    writeJsonAtomic(join(this.root, 'buckets.json'), [...this.buckets.values()]);
  }

  private load(): void {
    for (const b of readJson<BucketRecord[]>(join(this.root, 'buckets.json')) ?? []) {
      this.buckets.set(b.name, b);
      this.objects.set(b.name, new Map());
    }
    const objectsDir = join(this.root, 'objects');
    const referenced = new Set<string>();
    for (const file of readdirSync(objectsDir)) {
      if (!file.endsWith('.json')) continue;
      const rec = readJson<ObjectRecord>(join(objectsDir, file));
      const bin = join(objectsDir, file.replace(/\.json$/, '.bin'));
      const objects = rec ? this.objects.get(rec.bucket) : undefined;
      if (!rec || !objects || !existsSync(bin) || statSync(bin).size !== rec.size) {
        rmSync(join(objectsDir, file), { force: true });
        continue;
      }
      const other = objects.get(rec.name);
      if (other && BigInt(other.generation) > BigInt(rec.generation)) {
        this.removeBlob(rec);
        continue;
      }
      if (other) {
        this.removeBlob(other);
        referenced.delete(other.blob);
      }
      objects.set(rec.name, rec);
      referenced.add(rec.blob);
      if (BigInt(rec.generation) > this.lastGeneration) this.lastGeneration = BigInt(rec.generation);
    }
    for (const file of readdirSync(objectsDir)) {
      if (file.endsWith('.bin') && !referenced.has(file.slice(0, -4))) rmSync(join(objectsDir, file), { force: true });
      if (file.endsWith('.tmp')) rmSync(join(objectsDir, file), { force: true });
    }
    const uploadsDir = join(this.root, 'uploads');
    for (const file of readdirSync(uploadsDir)) {
      if (file.startsWith('tmp-') || file.endsWith('.tmp')) {
        rmSync(join(uploadsDir, file), { force: true });
        continue;
      }
      if (!file.endsWith('.json')) continue;
      const session = readJson<SessionRecord>(join(uploadsDir, file));
      if (!session || !UPLOAD_ID.test(session.id)) continue;
      if (session.state === 'active') {
        const part = this.partPath(session.id);
        const size = existsSync(part) ? statSync(part).size : -1;
        if (size < 0) writeFileSync(part, '');
        if (size < session.persisted) session.persisted = Math.max(0, Math.floor(size / CHUNK_QUANTUM) * CHUNK_QUANTUM);
        truncateSync(part, session.persisted);
      }
      this.sessions.set(session.id, session);
    }
  }
}
