import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { AppError } from '../core/errors.js';
import type { ArchiveDownload, ArchiveDownloader } from '../core/ports/archive-download.js';
import { retryAfterSeconds } from './http-errors.js';

/**
 * ArchiveDownloader over HTTP (Node's fetch): `Range: bytes=<offset>-` when resuming, the total
 * size from `Content-Range`/`Content-Length`, and the checksums from `x-goog-hash` (Cloud Storage
 * gives the whole object's on every answer). The URL is a secret: it never enters an error.
 */
export class HttpArchiveDownloader implements ArchiveDownloader {
  async open(url: string, offset: number): Promise<ArchiveDownload> {
    let res: Response;
    try {
      res = await fetch(url, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, signal: AbortSignal.timeout(120_000) });
    } catch (error) {
      throw new AppError('UNAVAILABLE', 'archive download: network failure', { cause: error });
    }
    const expected = offset > 0 ? 206 : 200;
    if (res.status !== expected) {
      await res.body?.cancel().catch(() => undefined);
      if (res.status === 400 || res.status === 401 || res.status === 403) {
        throw new AppError('PERMISSION_DENIED', `archive download: HTTP ${res.status} (URL expired or refused)`, { reason: 'URL_EXPIRED' });
      }
      if (res.status === 408 || res.status === 429 || res.status >= 500 || res.status === 416 || res.status === 200) {
        const wait = retryAfterSeconds(res.headers.get('retry-after'));
        throw new AppError('UNAVAILABLE', `archive download: HTTP ${res.status}`, wait === undefined ? {} : { metadata: { retryAfterSeconds: String(wait) } });
      }
      throw new AppError('NOT_FOUND', `archive download: HTTP ${res.status}`);
    }
    if (!res.body) throw new AppError('UNAVAILABLE', 'archive download: empty body');
    const range = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
    const length = res.headers.get('content-length');
    const totalBytes = range ? Number(range[1]) : offset === 0 && length !== null ? Number(length) : null;
    const hashes = parseGoogHash(res.headers.get('x-goog-hash'));
    return {
      body: Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>, { highWaterMark: 1 << 20 }),
      totalBytes,
      crc32c: hashes['crc32c'] ?? null,
      md5: hashes['md5'] ?? null,
    };
  }
}

export function parseGoogHash(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return out;
}
