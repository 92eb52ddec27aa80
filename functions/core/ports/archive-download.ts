import type { Readable } from 'node:stream';

/**
 * Downloads an archive from its (signed, short-lived) URL, from a byte offset on.
 *
 * Errors: AppError `PERMISSION_DENIED` reason `URL_EXPIRED` when the URL no longer works (403/400
 * from the signed-URL host: fetch a fresh one), a retryable AppError for 408/429/5xx and dropped
 * connections, other AppErrors permanent. The stream errors the same way mid-body.
 */
export interface ArchiveDownloader {
  open(url: string, offset: number): Promise<ArchiveDownload>;
}

export interface ArchiveDownload {
  readonly body: Readable;
  /** The whole archive's size, when the server says it. */
  readonly totalBytes: number | null;
  /** Checksums of the whole archive (base64, as `x-goog-hash` gives them), when the server says them. */
  readonly crc32c: string | null;
  readonly md5: string | null;
}
