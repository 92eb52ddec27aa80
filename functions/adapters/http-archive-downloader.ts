import type { IncomingMessage } from 'node:http';
import { AppError } from '../core/errors.js';
import type { ArchiveDownload, ArchiveDownloader } from '../core/ports/archive-download.js';
import { retryAfterSeconds } from './http-errors.js';
import { header, requestFor } from './node-http.js';

/**
 * ArchiveDownloader over Node's http/https (a plain socket stream: no web-stream layer, flat
 * memory): `Range: bytes=<offset>-` when resuming, the total size from `Content-Range` /
 * `Content-Length`, and the checksums from `x-goog-hash` (Cloud Storage gives the whole object's
 * on every answer). The URL is a secret: it never enters an error.
 */
export class HttpArchiveDownloader implements ArchiveDownloader {
  async open(url: string, offset: number): Promise<ArchiveDownload> {
    const res = await get(url, offset);
    const expected = offset > 0 ? 206 : 200;
    const status = res.statusCode ?? 0;
    if (status !== expected) {
      res.resume();
      if (status === 400 || status === 401 || status === 403) {
        throw new AppError('PERMISSION_DENIED', `archive download: HTTP ${status} (URL expired or refused)`, { reason: 'URL_EXPIRED' });
      }
      if (status === 408 || status === 429 || status >= 500 || status === 416 || status === 200) {
        const wait = retryAfterSeconds(header(res, 'retry-after'));
        throw new AppError('UNAVAILABLE', `archive download: HTTP ${status}`, wait === undefined ? {} : { metadata: { retryAfterSeconds: String(wait) } });
      }
      throw new AppError('NOT_FOUND', `archive download: HTTP ${status}`);
    }
    const range = /\/(\d+)$/.exec(header(res, 'content-range') ?? '');
    const length = header(res, 'content-length');
    const totalBytes = range ? Number(range[1]) : offset === 0 && length !== null ? Number(length) : null;
    const hashes = parseGoogHash(header(res, 'x-goog-hash'));
    return { body: res, totalBytes, crc32c: hashes['crc32c'] ?? null, md5: hashes['md5'] ?? null };
  }
}

function get(url: string, offset: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const { request: send, agent } = requestFor(url);
    const request = send(url, { method: 'GET', agent, headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, timeout: 120_000 }, resolve);
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', (error) => reject(new AppError('UNAVAILABLE', 'archive download: network failure', { cause: error })));
    request.end();
  });
}

export function parseGoogHash(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return out;
}
