import type { Writable } from 'node:stream';

/**
 * The application's archive bucket. Objects are created once (a create-only precondition): a
 * duplicate or late finalisation fails instead of overwriting.
 *
 * Resumable uploads: `beginUpload` returns a session (a secret: store it sealed); `persisted`
 * asks how far it got; `continueUpload` writes from that offset on, given the CRC32C of what is
 * already there, and validates the whole object's CRC32C when it finalises.
 *
 * Errors: AppError `ALREADY_EXISTS` when the object exists, retryable AppErrors for transient
 * failures, `INTERNAL` reason `CHECKSUM_MISMATCH` when validation fails.
 */
export interface ArchiveStore {
  beginUpload(object: string, contentType: string): Promise<string>;
  persisted(session: string, object: string): Promise<{ readonly kind: 'partial'; readonly offset: number } | { readonly kind: 'complete'; readonly object: StoredObject }>;
  continueUpload(request: { session: string; object: string; offset: number; crc32cSoFar: string }): UploadSink;
  writeJson(object: string, value: unknown): Promise<StoredObject>;
  stat(object: string): Promise<StoredObject | undefined>;
  /** Deletes every object under `prefix`; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
}

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
