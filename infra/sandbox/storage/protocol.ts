// Pure parsing of the Cloud Storage JSON-API inputs: Content-Range of resumable uploads, names,
// preconditions, page tokens, object metadata fields, and Google's JSON error shape.

/** Non-final data of a resumable upload is persisted in multiples of this (as GCS does). */
export const CHUNK_QUANTUM = 256 * 1024;

/** A Cloud Storage JSON-API error: `{"error":{"code","message","errors":[{message,domain,reason,…}]}}`. */
export class GcsError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly reason: string,
    message: string,
    readonly extra: Readonly<Record<string, string>> = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  body(): unknown {
    return { error: { code: this.httpStatus, message: this.message, errors: [{ message: this.message, domain: 'global', reason: this.reason, ...this.extra }] } };
  }
}

/**
 * GCS answers a chunk that starts past the persisted end with a 503 and a bare text body (not
 * JSON); clients treat it as retryable and re-query the offset.
 */
export class OffsetGapError extends Error {
  constructor(
    readonly start: number,
    readonly persisted: number,
  ) {
    super(`Invalid request.  According to the Content-Range header, the upload offset is ${start} byte(s), which exceeds already uploaded size of ${persisted} byte(s).`);
  }
}

export const invalid = (message: string): GcsError => new GcsError(400, 'invalid', message);
export const required = (message: string): GcsError => new GcsError(400, 'required', message);
export const bucketNotFound = (): GcsError => new GcsError(404, 'notFound', 'The specified bucket does not exist.');
export const objectNotFound = (bucket: string, name: string): GcsError => new GcsError(404, 'notFound', `No such object: ${bucket}/${name}`);
export const conditionNotMet = (): GcsError =>
  new GcsError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.', { locationType: 'header', location: 'If-Match' });

/** `Content-Range` of a request to a resumable session. */
export type ContentRange =
  /** `bytes *\/total` or `bytes *\/*`: a status query (finalises when total equals the persisted size). */
  | { kind: 'query'; total?: number }
  /** `bytes a-b/total`; `end` undefined for `bytes a-*\/…` (the rest of the object); `end = start - 1` for an empty body. */
  | { kind: 'data'; start: number; end?: number; total?: number };

const CONTENT_RANGE = /^bytes (?:\*|(\d{1,16})-(-1|\d{1,16}|\*))\/(\d{1,16}|\*)$/;

/** Parses a session request's Content-Range; absent = the whole object in this request. */
export function parseContentRange(header: string | undefined): ContentRange {
  if (header === undefined) return { kind: 'data', start: 0 };
  const m = CONTENT_RANGE.exec(header.trim());
  if (!m) throw invalid(`Failed to parse Content-Range header.`);
  const total = m[3] === '*' || m[3] === undefined ? undefined : Number(m[3]);
  if (m[1] === undefined) return total === undefined ? { kind: 'query' } : { kind: 'query', total };
  const start = Number(m[1]);
  const out: ContentRange = { kind: 'data', start };
  if (m[2] !== '*' && m[2] !== undefined) {
    const end = Number(m[2]);
    if (end < start - 1) throw invalid('Failed to parse Content-Range header.');
    if (total !== undefined && end >= total) throw invalid(`Content-Range end ${end} is not below the total size ${total}.`);
    out.end = end;
  }
  if (total !== undefined) {
    if (start > total) throw invalid(`Content-Range start ${start} is past the total size ${total}.`);
    out.total = total;
  }
  return out;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Cloud Storage object naming rules; undefined when the name is acceptable. */
export function objectNameProblem(name: string): string | undefined {
  if (name === '') return 'Required object name.';
  if (LONE_SURROGATE.test(name)) return 'The object name is not valid UTF-8.';
  if (Buffer.byteLength(name) > 1024) return `The maximum object length is 1024 characters, but got a name with ${Buffer.byteLength(name)} characters.`;
  if (/[\r\n]/.test(name)) return 'Object names cannot contain carriage return or line feed characters.';
  if (name === '.' || name === '..') return `Object name "${name}" is not allowed.`;
  if (name.startsWith('.well-known/acme-challenge/')) return 'Object names cannot start with .well-known/acme-challenge/.';
  return undefined;
}

export function checkObjectName(name: string): string {
  const problem = objectNameProblem(name);
  if (problem) throw invalid(problem);
  return name;
}

/** Bucket naming rules (the common subset: 3–63 of a-z 0-9 - _ . starting and ending alphanumeric). */
export function bucketNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(name)) return `Invalid bucket name: '${name.slice(0, 100)}'`;
  if (name.startsWith('goog') || name.includes('..')) return `Invalid bucket name: '${name}'`;
  return undefined;
}

export interface Preconditions {
  ifGenerationMatch?: bigint;
  ifGenerationNotMatch?: bigint;
  ifMetagenerationMatch?: bigint;
  ifMetagenerationNotMatch?: bigint;
}

export const PRECONDITION_KEYS = ['ifGenerationMatch', 'ifGenerationNotMatch', 'ifMetagenerationMatch', 'ifMetagenerationNotMatch'] as const;

/** Reads the precondition query parameters (integers; a repeated or malformed one is a 400). */
export function parsePreconditions(query: URLSearchParams): Preconditions {
  const out: Preconditions = {};
  for (const key of PRECONDITION_KEYS) {
    const values = query.getAll(key);
    if (values.length === 0) continue;
    const value = values[0] ?? '';
    if (values.length > 1 || !/^-?\d{1,19}$/.test(value)) throw invalid(`Invalid value for ${key}: ${value.slice(0, 40)}`);
    out[key] = BigInt(value);
  }
  return out;
}

/** The subset of preconditions a stored session keeps (JSON has no bigint). */
export function preconditionsToJson(p: Preconditions): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of PRECONDITION_KEYS) if (p[key] !== undefined) out[key] = String(p[key]);
  return out;
}

export function preconditionsFromJson(json: Record<string, string> | undefined): Preconditions {
  const out: Preconditions = {};
  for (const key of PRECONDITION_KEYS) {
    const v = json?.[key];
    if (v !== undefined && /^-?\d{1,19}$/.test(v)) out[key] = BigInt(v);
  }
  return out;
}

/** Evaluates preconditions against the live object (undefined = absent, generation 0). */
export function preconditionsHold(p: Preconditions, live: { generation: string; metageneration: number } | undefined): boolean {
  const generation = live ? BigInt(live.generation) : 0n;
  if (p.ifGenerationMatch !== undefined && p.ifGenerationMatch !== generation) return false;
  if (p.ifGenerationNotMatch !== undefined && p.ifGenerationNotMatch === generation) return false;
  if (p.ifMetagenerationMatch !== undefined && (!live || p.ifMetagenerationMatch !== BigInt(live.metageneration))) return false;
  if (p.ifMetagenerationNotMatch !== undefined && live && p.ifMetagenerationNotMatch === BigInt(live.metageneration)) return false;
  return true;
}

/** Writable object fields (from an upload's metadata JSON or a PATCH body). */
export interface ObjectFields {
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  metadata?: Record<string, string>;
}

const STRING_FIELDS = ['contentType', 'contentEncoding', 'contentDisposition', 'contentLanguage', 'cacheControl'] as const;

export interface ParsedObjectResource {
  fields: ObjectFields;
  /** Keys present with null (cleared by a PATCH). */
  cleared: string[];
  name?: string;
  bucket?: string;
  crc32c?: string;
  md5Hash?: string;
}

/**
 * Reads an object resource body. Known writable fields are type-checked; read-only and unknown
 * fields are ignored (as GCS ignores them on insert).
 */
export function parseObjectResource(body: Record<string, unknown>): ParsedObjectResource {
  const out: ParsedObjectResource = { fields: {}, cleared: [] };
  for (const key of STRING_FIELDS) {
    if (!Object.hasOwn(body, key)) continue;
    const v = body[key];
    if (v === null) out.cleared.push(key);
    else if (typeof v === 'string' && v.length <= 8192) out.fields[key] = v;
    else throw invalid(`Invalid value for ${key}.`);
  }
  if (Object.hasOwn(body, 'metadata')) {
    const m = body.metadata;
    if (m === null) out.cleared.push('metadata');
    else if (typeof m === 'object' && !Array.isArray(m)) {
      const meta: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
        if (k === '' || k.length > 1024) throw invalid('Invalid metadata key.');
        if (v === null) continue;
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') meta[k] = String(v);
        else throw invalid(`Invalid value for metadata.${k.slice(0, 100)}.`);
      }
      out.fields.metadata = { ...meta };
    } else throw invalid('Invalid value for metadata.');
  }
  for (const key of ['name', 'bucket', 'crc32c', 'md5Hash'] as const) {
    if (!Object.hasOwn(body, key) || body[key] === null) continue;
    const v = body[key];
    if (typeof v !== 'string') throw invalid(`Invalid value for ${key}.`);
    out[key] = v;
  }
  return out;
}

/** Page tokens: where a listing continues (after an object name, or after every name under a prefix). */
export interface PageToken {
  after: string;
  prefix: boolean;
}

export function encodePageToken(t: PageToken): string {
  return Buffer.from(JSON.stringify([t.after, t.prefix ? 1 : 0])).toString('base64url');
}

export function decodePageToken(token: string): PageToken {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && typeof v[0] === 'string' && (v[1] === 0 || v[1] === 1)) return { after: v[0], prefix: v[1] === 1 };
  } catch {
    // fall through
  }
  throw invalid('Invalid pageToken.');
}

/** UTF-8 byte order, as Cloud Storage sorts names. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** `x-goog-hash: crc32c=…,md5=…` (request or response) → its values. */
export function parseGoogHash(header: string | string[] | undefined): { crc32c?: string; md5?: string } {
  const out: { crc32c?: string; md5?: string } = {};
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim().toLowerCase();
    const v = part.slice(i + 1).trim();
    if (k === 'crc32c') out.crc32c = v;
    if (k === 'md5') out.md5 = v;
  }
  return out;
}
