import type { Readable, Writable } from 'node:stream';

/**
 * The application's archive bucket. Objects are created once (a create-only precondition): a
 * duplicate or late finalisation fails instead of overwriting.
 *
 * Resumable uploads: `beginUpload` returns a session (a secret: store it sealed); `persisted`
 * asks how far it got; `continueUpload` writes from that offset on and resolves with the
 * finalised object's metadata (size, CRC32C computed by the store), which the caller compares
 * with the CRC32C it computed over the bytes it sent.
 *
 * Errors: AppError `ALREADY_EXISTS` when the object exists, retryable AppErrors for transient
 * failures, `FAILED_PRECONDITION` reason `UPLOAD_SESSION_GONE` when a session can no longer be
 * continued.
 */
export interface ArchiveStore {
  beginUpload(object: string, contentType: string): Promise<string>;
  persisted(session: string, object: string): Promise<{ readonly kind: 'partial'; readonly offset: number } | { readonly kind: 'complete'; readonly object: StoredObject }>;
  continueUpload(request: UploadRequest): UploadSink;
  writeJson(object: string, value: unknown): Promise<StoredObject>;
  stat(object: string): Promise<StoredObject | undefined>;
  /**
   * Cancels a resumable upload session that will not be continued, dropping the bytes it holds
   * (sessions otherwise live up to a week). A session already gone or finalised is fine.
   */
  abandonUpload(session: string): Promise<void>;
  /**
   * Reads a finalised object from its first byte (the body streams with backpressure). Rejects
   * with AppError `NOT_FOUND` when it is absent; the stream errors with a retryable AppError when
   * the connection breaks.
   */
  read(object: string): Promise<Readable>;
  /**
   * Copies a finalised object to a new name inside the bucket, create-only (a server-side copy:
   * the bytes do not pass through the caller), only if `source` still has `sourceGeneration`.
   * Resolves with the new object's metadata. Rejects with `ALREADY_EXISTS` when `destination`
   * exists, `NOT_FOUND` when the source (of that generation) is gone.
   */
  copy(source: string, destination: string, sourceGeneration: string): Promise<StoredObject>;
  /** Deletes one object; absent is fine. */
  delete(object: string): Promise<void>;
  /** Deletes every object under `prefix`; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
}

export interface UploadRequest {
  readonly session: string;
  readonly object: string;
  /** Where the bytes written to the sink start (what `persisted` reported). */
  readonly offset: number;
  /** The whole object's size when the source told it (the upload can then be split and checked). */
  readonly totalBytes: number | null;
}

/** Destroying `stream` before it ends abandons the upload (unfinalised); ending it finalises. */
export interface UploadSink {
  readonly stream: Writable;
  /** Settles when the object is finalised (or the upload failed). */
  readonly done: Promise<StoredObject>;
}

export interface StoredObject {
  readonly name: string;
  readonly bytes: number;
  readonly crc32c: string;
  readonly md5: string | null;
  readonly generation: string;
}
