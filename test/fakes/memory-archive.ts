import { randomUUID, createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { NodeRsCrc32c } from '../../functions/adapters/node-rs-crc32c.js';
import { AppError } from '../../functions/core/errors.js';
import type { ArchiveDownload, ArchiveDownloader } from '../../functions/core/ports/archive-download.js';
import type { ArchiveStore, StoredObject, UploadRequest, UploadSink } from '../../functions/core/ports/archive-store.js';

const crc = new NodeRsCrc32c();

/** An in-memory bucket with resumable sessions that keep what was written before a failure. */
export class MemoryArchiveStore implements ArchiveStore {
  readonly objects = new Map<string, { data: Buffer; generation: number }>();
  readonly sessions = new Map<string, { object: string; data: Buffer; done: boolean }>();
  private generation = 1;

  async beginUpload(object: string): Promise<string> {
    if (this.objects.has(object)) throw new AppError('ALREADY_EXISTS', 'object exists');
    const id = `session-${randomUUID()}`;
    this.sessions.set(id, { object, data: Buffer.alloc(0), done: false });
    return id;
  }

  async persisted(session: string, object: string) {
    const s = this.sessions.get(session);
    if (!s) throw new AppError('FAILED_PRECONDITION', 'upload session expired', { reason: 'UPLOAD_SESSION_GONE' });
    if (s.done) {
      const stored = await this.stat(object);
      if (stored) return { kind: 'complete' as const, object: stored };
    }
    return { kind: 'partial' as const, offset: s.data.length };
  }

  continueUpload(request: UploadRequest): UploadSink {
    const s = this.sessions.get(request.session);
    let resolve!: (o: StoredObject) => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<StoredObject>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => undefined);
    if (!s || s.data.length !== request.offset) {
      const stream = new Writable({ write: (_c, _e, cb) => cb(new Error('bad session or offset')) });
      reject(new AppError('INTERNAL', 'bad session or offset'));
      return { stream, done };
    }
    const stream = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        s.data = Buffer.concat([s.data, chunk]);
        cb();
      },
      final: (cb) => {
        if (this.objects.has(request.object)) {
          reject(new AppError('ALREADY_EXISTS', 'object exists'));
          cb();
          return;
        }
        this.objects.set(request.object, { data: s.data, generation: this.generation++ });
        s.done = true;
        void this.stat(request.object).then((o) => resolve(o!));
        cb();
      },
      destroy: (error, cb) => {
        reject(error ?? new Error('destroyed'));
        cb(error);
      },
    });
    return { stream, done };
  }

  async writeJson(object: string, value: unknown): Promise<StoredObject> {
    if (this.objects.has(object)) throw new AppError('ALREADY_EXISTS', 'object exists');
    this.objects.set(object, { data: Buffer.from(JSON.stringify(value, null, 2) + '\n'), generation: this.generation++ });
    return (await this.stat(object))!;
  }

  async stat(object: string): Promise<StoredObject | undefined> {
    const o = this.objects.get(object);
    if (!o) return undefined;
    const c = crc.start();
    c.update(o.data);
    return { name: object, bytes: o.data.length, crc32c: c.value(), md5: createHash('md5').update(o.data).digest('base64'), generation: String(o.generation) };
  }

  async abandonUpload(session: string): Promise<void> {
    const s = this.sessions.get(session);
    if (s && !s.done) this.sessions.delete(session);
  }

  async read(object: string): Promise<Readable> {
    const o = this.objects.get(object);
    if (!o) throw new AppError('NOT_FOUND', `${object} not found`);
    const chunks: Buffer[] = [];
    for (let i = 0; i < o.data.length; i += 64 * 1024) chunks.push(o.data.subarray(i, i + 64 * 1024));
    return Readable.from(chunks);
  }

  async copy(source: string, destination: string, sourceGeneration: string): Promise<StoredObject> {
    const o = this.objects.get(source);
    if (!o || String(o.generation) !== sourceGeneration) throw new AppError('NOT_FOUND', `${source} changed or is gone`);
    if (this.objects.has(destination)) throw new AppError('ALREADY_EXISTS', 'object exists');
    this.objects.set(destination, { data: o.data, generation: this.generation++ });
    return (await this.stat(destination))!;
  }

  async delete(object: string): Promise<void> {
    this.objects.delete(object);
  }

  async deletePrefix(prefix: string): Promise<number> {
    const names = [...this.objects.keys()].filter((k) => k.startsWith(prefix));
    for (const n of names) this.objects.delete(n);
    return names.length;
  }
}

/** Serves in-memory archives by URL; can break a download after some bytes or refuse a URL. */
export class FakeDownloader implements ArchiveDownloader {
  readonly archives = new Map<string, Buffer>();
  readonly opened: { url: string; offset: number }[] = [];
  /** Break the next download after this many bytes. */
  breakAfter: number | null = null;
  expired = new Set<string>();

  async open(url: string, offset: number): Promise<ArchiveDownload> {
    this.opened.push({ url, offset });
    if (this.expired.has(url)) throw new AppError('PERMISSION_DENIED', 'archive download: HTTP 403', { reason: 'URL_EXPIRED' });
    const data = this.archives.get(url);
    if (!data) throw new AppError('NOT_FOUND', 'archive download: HTTP 404');
    const slice = data.subarray(offset);
    const limit = this.breakAfter;
    this.breakAfter = null;
    const chunks: Buffer[] = [];
    for (let i = 0; i < slice.length; i += 64 * 1024) chunks.push(slice.subarray(i, i + 64 * 1024));
    let sent = 0;
    const body = new Readable({
      read() {
        const next = chunks.shift();
        if (!next) return void this.push(null);
        if (limit !== null && sent + next.length > limit) {
          this.push(next.subarray(0, limit - sent));
          this.destroy(new Error('connection reset'));
          return;
        }
        sent += next.length;
        this.push(next);
      },
    });
    const c = crc.start();
    c.update(data);
    return { body, totalBytes: data.length, crc32c: c.value(), md5: null };
  }
}
