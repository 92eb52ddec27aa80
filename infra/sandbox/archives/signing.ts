// Signed archive URLs shaped like Cloud Storage V4 signed URLs. The "signature" is an HMAC over
// the method, path and the other query parameters with a sandbox secret.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { StorageXmlError } from '../lib/errors.js';

export const ARCHIVE_BUCKET = 'dataportability-sandbox-archives';
const SIGNER = 'sandbox-archive-signer@dataportability-sandbox.iam.gserviceaccount.com';
const SIGNED_PARAMS = ['X-Goog-Algorithm', 'X-Goog-Credential', 'X-Goog-Date', 'X-Goog-Expires', 'X-Goog-SignedHeaders'] as const;

function googDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function parseGoogDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isFinite(ms) ? ms : undefined;
}

function canonicalQuery(values: Readonly<Record<string, string>>): string {
  return SIGNED_PARAMS.map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(values[k] ?? '')}`).join('&');
}

export class UrlSigner {
  constructor(private readonly secret: string) {}

  private signature(path: string, values: Readonly<Record<string, string>>): string {
    return createHmac('sha256', this.secret)
      .update(`GET\n${path}\n${canonicalQuery(values)}`)
      .digest('hex');
  }

  /** A signed URL for `path` (already percent-encoded), valid for `ttlSeconds` from `nowMs`. */
  sign(baseUrl: string, path: string, nowMs: number, ttlSeconds: number): string {
    const date = googDate(nowMs);
    const values: Record<string, string> = {
      'X-Goog-Algorithm': 'GOOG4-RSA-SHA256',
      'X-Goog-Credential': `${SIGNER}/${date.slice(0, 8)}/auto/storage/goog4_request`,
      'X-Goog-Date': date,
      'X-Goog-Expires': String(ttlSeconds),
      'X-Goog-SignedHeaders': 'host',
    };
    return `${baseUrl}${path}?${canonicalQuery(values)}&X-Goog-Signature=${this.signature(path, values)}`;
  }

  /** Throws a GCS-shaped 403 when the URL was not signed by us, was altered, or has expired. */
  verify(path: string, query: URLSearchParams, nowMs: number): void {
    const values: Record<string, string> = {};
    for (const k of [...SIGNED_PARAMS, 'X-Goog-Signature']) {
      const all = query.getAll(k);
      if (all.length !== 1 || all[0] === undefined) {
        throw new StorageXmlError(403, 'AccessDenied', 'Access denied.', 'Anonymous caller does not have storage.objects.get access to the Google Cloud Storage object.');
      }
      values[k] = all[0];
    }
    const given = values['X-Goog-Signature'] ?? '';
    const expected = this.signature(path, values);
    const ok = /^[0-9a-f]{64}$/.test(given) && timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(expected, 'hex'));
    if (!ok || values['X-Goog-Algorithm'] !== 'GOOG4-RSA-SHA256') {
      throw new StorageXmlError(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your Google secret key and signing method.',
      );
    }
    const date = parseGoogDate(values['X-Goog-Date'] ?? '');
    const expires = Number(values['X-Goog-Expires']);
    if (date === undefined || !Number.isInteger(expires)) {
      throw new StorageXmlError(403, 'AuthenticationRequired', 'Invalid argument.', 'Malformed X-Goog-Date or X-Goog-Expires.');
    }
    if (nowMs >= date + expires * 1000) {
      throw new StorageXmlError(
        403,
        'ExpiredToken',
        'Invalid argument.',
        `The provided token has expired. Request signature expired at: ${new Date(date + expires * 1000).toISOString()}`,
      );
    }
  }
}
