// File URLs of Mews exports, shaped like the Azure Blob Storage SAS URLs Mews hands out: start
// and expiry times (`st`, `se`) and a signature (`sig`, HMAC-SHA256 with a sandbox secret) over
// the path and the other parameters. A URL lives `mewsFileUrlTtlSeconds` on the sandbox clock.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { StorageXmlError } from '../lib/errors.js';

export const MEWS_FILES_PREFIX = '/mews-exports';
const SIGNED = ['sv', 'st', 'se', 'sr', 'sp'] as const;
const VERSION = '2023-11-03';

/** `2024-04-11T08:54:47Z` (Azure's SAS time format: seconds). */
function sasTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function filePath(exportId: string, index: number): string {
  return `${MEWS_FILES_PREFIX}/${exportId}-${index + 1}.jsonl`;
}

function authFailed(detail: string): StorageXmlError {
  return new StorageXmlError(
    403,
    'AuthenticationFailed',
    'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
    detail,
  );
}

export class FileUrlSigner {
  constructor(private readonly secret: string) {}

  private signature(path: string, values: Readonly<Record<string, string>>): string {
    return createHmac('sha256', `mews-files|${this.secret}`)
      .update([path, ...SIGNED.map((k) => values[k] ?? '')].join('\n'))
      .digest('base64');
  }

  sign(baseUrl: string, path: string, nowMs: number, ttlSeconds: number): string {
    const values: Record<string, string> = { sv: VERSION, st: sasTime(nowMs), se: sasTime(nowMs + ttlSeconds * 1000), sr: 'b', sp: 'r' };
    const query = new URLSearchParams({ ...values, sig: this.signature(path, values) });
    return `${baseUrl}${path}?${query.toString()}`;
  }

  /** Throws Azure's 403 `AuthenticationFailed` for a URL not signed by us, altered, or expired. */
  verify(path: string, query: URLSearchParams, nowMs: number): void {
    const values: Record<string, string> = {};
    for (const k of [...SIGNED, 'sig']) {
      const all = query.getAll(k);
      if (all.length !== 1 || all[0] === undefined) throw authFailed(`Missing or repeated SAS parameter: ${k}.`);
      values[k] = all[0];
    }
    const given = Buffer.from(values.sig ?? '', 'base64');
    const expected = Buffer.from(this.signature(path, values), 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw authFailed('Signature did not match. String to sign used was r.');
    }
    const start = Date.parse(values.st ?? '');
    const expiry = Date.parse(values.se ?? '');
    if (!Number.isFinite(start) || !Number.isFinite(expiry) || nowMs < start || nowMs >= expiry) {
      throw authFailed(`Signature not valid in the specified time frame: Start [${values.st ?? ''}] - Expiry [${values.se ?? ''}] - Current [${sasTime(nowMs)}]`);
    }
  }
}
