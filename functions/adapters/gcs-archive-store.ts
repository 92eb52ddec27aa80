import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import type { Bucket, File, Storage } from '@google-cloud/storage';
import { gaxios } from 'google-auth-library';
import { AppError, isAppError } from '../core/errors.js';
import type { ArchiveStore, StoredObject, UploadRequest, UploadSink } from '../core/ports/archive-store.js';
import { drainedOrClosed } from '../core/ports/streams.js';
import { header, requestFor } from './node-http.js';

/**
 * ArchiveStore on Cloud Storage with `@google-cloud/storage`: resumable uploads created with
 * `ifGenerationMatch: 0` (create-only), continued from a persisted offset; the finalised object's
 * size and CRC32C are returned for the caller to verify; the manifest is written create-only with
 * the client's CRC32C validation.
 */
export class GcsArchiveStore implements ArchiveStore {
  private readonly http = new gaxios.Gaxios({ timeout: 60_000 });
  private client: Promise<{ storage: Storage; bucket: Bucket }> | undefined;

  /**
   * `storage` builds the client on first use (functions that never touch the bucket never load
   * the Cloud Storage library); `authenticate` is false against a local endpoint.
   */
  constructor(
    private readonly storage: () => Promise<Storage>,
    private readonly bucketName: string,
    /** Bytes per upload request; undefined streams each continuation in one request. */
    private readonly chunkSize: number | undefined,
    private readonly authenticate: boolean,
  ) {}

  private get gcs(): Promise<{ storage: Storage; bucket: Bucket }> {
    this.client ??= this.storage().then((storage) => ({ storage, bucket: storage.bucket(this.bucketName) }));
    return this.client;
  }

  async beginUpload(object: string, contentType: string): Promise<string> {
    try {
      const { bucket } = await this.gcs;
      const [uri] = await bucket.file(object).createResumableUpload({ metadata: { contentType }, preconditionOpts: { ifGenerationMatch: 0 } });
      return uri;
    } catch (error) {
      throw translate(error, 'starting an upload');
    }
  }

  async persisted(session: string, object: string): Promise<{ kind: 'partial'; offset: number } | { kind: 'complete'; object: StoredObject }> {
    let res;
    try {
      const auth = this.authenticate ? await authHeaders((await this.gcs).storage, session) : {};
      res = await this.http.request<unknown>({
        url: session,
        method: 'PUT',
        headers: { ...auth, 'Content-Range': 'bytes */*' },
        validateStatus: () => true,
        responseType: 'text',
      });
    } catch (error) {
      throw new AppError('UNAVAILABLE', 'upload status: network failure', { cause: error });
    }
    if (res.status === 308) {
      return { kind: 'partial', offset: persistedOffset(headerOf(res.headers, 'range')) };
    }
    if (res.status === 200 || res.status === 201) {
      const stored = await this.stat(object);
      if (stored) return { kind: 'complete', object: stored };
    }
    if (res.status === 404 || res.status === 410) throw new AppError('FAILED_PRECONDITION', 'upload session expired', { reason: 'UPLOAD_SESSION_GONE' });
    throw new AppError(res.status >= 500 || res.status === 429 ? 'UNAVAILABLE' : 'INTERNAL', `upload status: HTTP ${res.status}`);
  }

  continueUpload(request: UploadRequest): UploadSink {
    const input = new PassThrough({ highWaterMark: 64 * 1024 });
    const abort = new AbortController();
    // A sink destroyed before it ended abandons the upload: the request in flight is aborted, and
    // what the store persisted so far stays in the session for the next continuation.
    input.once('close', () => {
      if (!input.writableFinished) abort.abort();
    });
    const done = this.send(input, request, abort.signal).catch((error: unknown) => {
      abort.abort();
      input.destroy();
      throw translate(error, 'uploading');
    });
    done.catch(() => undefined);
    return { stream: input, done };
  }

  /**
   * The resumable protocol's data requests, streamed from `input` with backpressure and nothing
   * buffered: one request for everything, or (chunkSize, when the size is known) requests of at
   * most chunkSize bytes, each answered 308 with the persisted range. The client library's
   * upload stream is not used here: in chunked mode it holds each chunk in memory and stops
   * reading while the chunk is sent; in single-request mode it cannot be aborted (its wrapper
   * forwards destroy() without the error that would abort the request), so an abandoned upload
   * would leave its request open.
   */
  private async send(input: PassThrough, request: UploadRequest, signal: AbortSignal): Promise<StoredObject> {
    const total = request.totalBytes;
    const perRequest = this.chunkSize !== undefined && total !== null ? this.chunkSize : Number.POSITIVE_INFINITY;
    const auth = this.authenticate ? await authHeaders((await this.gcs).storage, request.session) : {};
    let position = request.offset;
    let current: { body: PassThrough; end: number; answer: Promise<PutAnswer> } | undefined;
    const open = () => {
      const end = Math.min(total ?? Number.POSITIVE_INFINITY, position + perRequest);
      const body = new PassThrough({ highWaterMark: 64 * 1024 });
      const range: Record<string, string> =
        total === null ? { 'Content-Range': `bytes ${position}-*/*` } : { 'Content-Range': `bytes ${position}-${end - 1}/${total}`, 'Content-Length': String(end - position) };
      const answer = put(request.session, body, { ...auth, ...range }, signal);
      answer.catch(() => undefined);
      return { body, end, answer };
    };
    for await (const chunk of input) {
      let buf = chunk as Buffer;
      while (buf.length > 0) {
        if (total !== null && position >= total) throw new AppError('INTERNAL', `the upload has more bytes than the archive's ${total}`);
        current ??= open();
        const piece = buf.subarray(0, Math.min(buf.length, current.end - position));
        buf = buf.subarray(piece.length);
        position += piece.length;
        if (!current.body.write(piece)) {
          await drainedOrClosed(current.body);
          // The request ended before its body did: an early answer (a refusal) or a broken connection.
          if (current.body.destroyed) throw failure(await current.answer, 'the store answered before the request body was complete');
        }
        if (position === current.end && position !== total) {
          current.body.end();
          const answer = await current.answer;
          const persisted = answer.status === 308 ? persistedOffset(answer.range) : -1;
          if (persisted !== position)
            throw answer.status === 308 ? new AppError('UNAVAILABLE', `the store kept ${persisted} of ${position} bytes`) : failure(answer, 'upload request');
          current = undefined;
        }
      }
    }
    if (total !== null && position !== total) throw new AppError('UNAVAILABLE', `the upload ended at byte ${position} of ${total}`);
    let final: PutAnswer;
    if (current) {
      current.body.end();
      final = await current.answer;
    } else {
      // Every byte went in earlier requests (or there are none): finalise with an empty one.
      const empty = new PassThrough();
      empty.end();
      final = await put(request.session, empty, { ...auth, 'Content-Range': `bytes */${total ?? position}`, 'Content-Length': '0' }, signal);
    }
    if (final.status !== 200 && final.status !== 201) throw failure(final, 'finalising the upload');
    const resource = JSON.parse(final.text) as { name?: string; size?: string; crc32c?: string; md5Hash?: string; generation?: string };
    return {
      name: resource.name ?? request.object,
      bytes: Number(resource.size ?? 0),
      crc32c: resource.crc32c ?? '',
      md5: resource.md5Hash ?? null,
      generation: String(resource.generation ?? ''),
    };
  }

  async writeJson(object: string, value: unknown): Promise<StoredObject> {
    const file = (await this.gcs).bucket.file(object);
    try {
      await file.save(JSON.stringify(value, null, 2) + '\n', {
        resumable: false,
        validation: 'crc32c',
        contentType: 'application/json',
        preconditionOpts: { ifGenerationMatch: 0 },
      });
    } catch (error) {
      throw translate(error, 'writing the manifest');
    }
    const stored = file.metadata?.crc32c ? toStored(file, file.metadata) : await this.stat(object);
    if (!stored) throw new AppError('UNAVAILABLE', 'the manifest is not visible yet');
    return stored;
  }

  async stat(object: string): Promise<StoredObject | undefined> {
    try {
      const file = (await this.gcs).bucket.file(object);
      const [meta] = await file.getMetadata();
      return toStored(file, meta);
    } catch (error) {
      const mapped = translate(error, 'reading object metadata');
      if (mapped.code === 'NOT_FOUND') return undefined;
      throw mapped;
    }
  }

  /**
   * Streams an object's media over Node's http/https (a plain socket stream, flat memory; the
   * caller checks the CRC32C, so the client library's own validation is not used).
   */
  async read(object: string): Promise<Readable> {
    const { storage } = await this.gcs;
    const url = `${storage.apiEndpoint}/download/storage/v1/b/${encodeURIComponent(this.bucketName)}/o/${encodeURIComponent(object)}?alt=media`;
    const auth = this.authenticate ? await authHeaders(storage, url) : {};
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const { request: send, agent } = requestFor(url);
      const req = send(url, { method: 'GET', agent, headers: auth, timeout: 120_000 }, resolve);
      req.on('timeout', () => req.destroy(new Error('no progress for 120 s')));
      req.on('error', (error) => reject(new AppError('UNAVAILABLE', 'reading an object: network failure', { cause: error })));
      req.end();
    });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      res.resume();
      if (status === 404) throw new AppError('NOT_FOUND', `reading an object: ${object} not found`);
      throw new AppError(status === 408 || status === 429 || status >= 500 ? 'UNAVAILABLE' : 'INTERNAL', `reading an object: HTTP ${status}`);
    }
    // A connection that breaks mid-body is transient.
    const body = new PassThrough({ highWaterMark: 256 * 1024 });
    res.on('error', (error) => body.destroy(new AppError('UNAVAILABLE', 'reading an object: the connection broke', { cause: error })));
    res.on('aborted', () => body.destroy(new AppError('UNAVAILABLE', 'reading an object: the connection broke')));
    body.on('close', () => res.destroy());
    return res.pipe(body);
  }

  /** A server-side copy (`rewriteTo`, repeated while the service asks), create-only on the destination. */
  async copy(source: string, destination: string, sourceGeneration: string): Promise<StoredObject> {
    const { bucket } = await this.gcs;
    try {
      const [copied] = await bucket.file(source, { generation: sourceGeneration }).copy(bucket.file(destination), { preconditionOpts: { ifGenerationMatch: 0 } });
      const [meta] = await copied.getMetadata();
      return toStored(copied, meta);
    } catch (error) {
      const mapped = translate(error, 'copying an object');
      if (mapped.code === 'ALREADY_EXISTS' && !(await this.stat(destination))) throw new AppError('NOT_FOUND', `copying an object: ${source} changed or is gone`);
      throw mapped;
    }
  }

  /** Cancels a resumable session with the protocol's DELETE (answered 499); gone or finalised is fine. */
  async abandonUpload(session: string): Promise<void> {
    let res;
    try {
      const auth = this.authenticate ? await authHeaders((await this.gcs).storage, session) : {};
      res = await this.http.request<unknown>({ url: session, method: 'DELETE', headers: { ...auth, 'Content-Length': '0' }, validateStatus: () => true, responseType: 'text' });
    } catch (error) {
      throw new AppError('UNAVAILABLE', 'cancelling an upload: network failure', { cause: error });
    }
    if ([499, 200, 201, 204, 404, 410].includes(res.status)) return;
    throw new AppError(res.status >= 500 || res.status === 429 ? 'UNAVAILABLE' : 'INTERNAL', `cancelling an upload: HTTP ${res.status}`);
  }

  async delete(object: string): Promise<void> {
    try {
      await (await this.gcs).bucket.file(object).delete({ ignoreNotFound: true });
    } catch (error) {
      throw translate(error, 'deleting an object');
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    try {
      const [files] = await (await this.gcs).bucket.getFiles({ prefix, autoPaginate: true });
      for (const file of files) {
        await file.delete({ ignoreNotFound: true });
        deleted++;
      }
    } catch (error) {
      throw translate(error, 'deleting objects');
    }
    return deleted;
  }
}

function toStored(file: File, meta: { size?: string | number; crc32c?: string; md5Hash?: string; generation?: string | number }): StoredObject {
  return {
    name: file.name,
    bytes: Number(meta.size ?? 0),
    crc32c: meta.crc32c ?? '',
    md5: meta.md5Hash ?? null,
    generation: String(meta.generation ?? ''),
  };
}

/** The client's own credentials as plain headers (its bundled auth library returns a Headers or a record). */
async function authHeaders(storage: Storage, url: string): Promise<Record<string, string>> {
  const headers: unknown = await (storage.authClient as unknown as { getRequestHeaders(url?: string): Promise<unknown> }).getRequestHeaders(url);
  if (headers && typeof (headers as Headers).entries === 'function') return Object.fromEntries((headers as Headers).entries());
  return { ...(headers as Record<string, string>) };
}

function headerOf(headers: unknown, name: string): string | null {
  if (headers && typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  const value = (headers as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : null;
}

function translate(error: unknown, what: string): AppError {
  if (isAppError(error)) return error;
  const code = Number((error as { code?: unknown }).code ?? (error as { response?: { status?: unknown } }).response?.status);
  const message = String((error as { message?: unknown }).message ?? '');
  if (code === 412) return new AppError('ALREADY_EXISTS', `${what}: the object already exists`);
  if (code === 404) return new AppError('NOT_FOUND', `${what}: not found`);
  if (/crc32c|checksum|mismatch/i.test(message) && !/[?&]X-Goog-Signature/i.test(message)) {
    return new AppError('INTERNAL', `${what}: checksum mismatch`, { reason: 'CHECKSUM_MISMATCH' });
  }
  if (code === 408 || code === 429 || code >= 500 || Number.isNaN(code))
    return new AppError('UNAVAILABLE', `${what}: ${Number.isNaN(code) ? 'failure' : `HTTP ${code}`}`, { cause: error });
  return new AppError('INTERNAL', `${what}: HTTP ${code}`, { cause: error });
}

interface PutAnswer {
  readonly status: number;
  readonly range: string | null;
  readonly retryAfter: string | null;
  readonly text: string;
}

/** One PUT to a resumable session with a streamed body; the answer's body is small (an object resource or an error). */
function put(session: string, body: PassThrough, headers: Record<string, string>, signal: AbortSignal): Promise<PutAnswer> {
  return new Promise((resolve, reject) => {
    const { request: send, agent } = requestFor(session);
    const req = send(session, { method: 'PUT', agent, headers, timeout: 120_000, signal }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text = text.length < 65_536 ? text + d : text));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, range: header(res, 'range'), retryAfter: header(res, 'retry-after'), text });
        // Answered before the whole body was sent: stop feeding it (the writer sees it closed).
        if (!body.writableFinished) body.destroy();
      });
      res.on('error', (error) => reject(new AppError('UNAVAILABLE', 'upload: the answer broke off', { cause: error })));
    });
    req.on('timeout', () => req.destroy(new Error('no progress for 120 s')));
    req.on('error', (error) => {
      body.destroy();
      reject(new AppError('UNAVAILABLE', signal.aborted ? 'upload: abandoned' : 'upload: network failure', { cause: error }));
    });
    body.pipe(req);
  });
}

/** The bytes a session holds, from a 308's `Range: bytes=0-N` (none: 0). */
function persistedOffset(range: string | null): number {
  const m = /bytes=0-(\d+)/.exec(range ?? '');
  return m ? Number(m[1]) + 1 : 0;
}

function failure(answer: PutAnswer, what: string): AppError {
  if (answer.status === 412) return new AppError('ALREADY_EXISTS', `${what}: the object already exists`);
  if (answer.status === 404 || answer.status === 410) return new AppError('FAILED_PRECONDITION', 'upload session expired', { reason: 'UPLOAD_SESSION_GONE' });
  if (answer.status === 408 || answer.status === 429 || answer.status >= 500) {
    return new AppError('UNAVAILABLE', `${what}: HTTP ${answer.status}`, answer.retryAfter ? { metadata: { retryAfterSeconds: answer.retryAfter } } : {});
  }
  if (answer.status === 400 && /crc32c|md5|checksum|hash/i.test(answer.text)) return new AppError('INTERNAL', `${what}: checksum mismatch`, { reason: 'CHECKSUM_MISMATCH' });
  return new AppError('INTERNAL', `${what}: HTTP ${answer.status}`);
}
