import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Bucket, File, Storage } from '@google-cloud/storage';
import { gaxios } from 'google-auth-library';
import { AppError, isAppError } from '../core/errors.js';
import type { ArchiveStore, StoredObject, UploadSink } from '../core/ports/archive-store.js';

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
    private readonly chunkSize: number,
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
      const range = /bytes=0-(\d+)/.exec(String(headerOf(res.headers, 'range') ?? ''));
      return { kind: 'partial', offset: range ? Number(range[1]) + 1 : 0 };
    }
    if (res.status === 200 || res.status === 201) {
      const stored = await this.stat(object);
      if (stored) return { kind: 'complete', object: stored };
    }
    if (res.status === 404 || res.status === 410) throw new AppError('FAILED_PRECONDITION', 'upload session expired', { reason: 'UPLOAD_SESSION_GONE' });
    throw new AppError(res.status >= 500 || res.status === 429 ? 'UNAVAILABLE' : 'INTERNAL', `upload status: HTTP ${res.status}`);
  }

  continueUpload(request: { session: string; object: string; offset: number }): UploadSink {
    const input = new PassThrough({ highWaterMark: 64 * 1024 });
    const done = this.gcs.then(async ({ bucket }) => {
      const file = bucket.file(request.object);
      await pipeline(input, this.uploadStream(file, request));
      // The final upload response is the object's resource; read it only if the client kept none.
      const stored = file.metadata?.crc32c ? toStored(file, file.metadata) : await this.stat(request.object);
      if (!stored) throw new AppError('UNAVAILABLE', 'the finalised object is not visible yet');
      return stored;
    });
    const settled = done.catch((error: unknown) => {
      input.destroy();
      throw translate(error, 'uploading');
    });
    settled.catch(() => undefined);
    return { stream: input, done: settled };
  }

  private uploadStream(file: File, request: { session: string; object: string; offset: number }) {
    // The pipeline computes CRC32C over exactly the bytes it sends (several GB/s) and compares it
    // with the finalised object's; the client's own validation would hash everything again.
    return file.createWriteStream({
      uri: request.session,
      offset: request.offset,
      resumable: true,
      validation: false,
      chunkSize: this.chunkSize,
      preconditionOpts: { ifGenerationMatch: 0 },
    });
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
  if (code === 408 || code === 429 || code >= 500 || Number.isNaN(code)) return new AppError('UNAVAILABLE', `${what}: ${Number.isNaN(code) ? 'failure' : `HTTP ${code}`}`, { cause: error });
  return new AppError('INTERNAL', `${what}: HTTP ${code}`, { cause: error });
}
