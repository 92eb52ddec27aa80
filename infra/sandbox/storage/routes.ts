// Cloud Storage JSON-API subset: buckets, simple/multipart/resumable uploads, metadata, media
// downloads with Range, listing, delete, patch, rewrite (server-side copy). Served under Google's paths (`/storage/v1/b…`,
// `/upload/storage/v1/b…`, `/download/storage/v1/b…`) and under `/b…`, which is where
// @google-cloud/storage sends JSON-API calls when STORAGE_EMULATOR_HOST is set.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { copyFileSync, linkSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { parseRange } from '../archives/routes.js';
import type { Clock } from '../lib/clock.js';
import { RequestError } from '../lib/errors.js';
import { readJsonObject, sendJson } from '../lib/http.js';
import type { RequestContext, Route, SandboxModule } from '../lib/router.js';
import { crc32cBase64 } from '../lib/crc32c.js';
import { boundaryOf, readMultipart } from './multipart.js';
import type { MultipartHead } from './multipart.js';
import type { ContentRange, ObjectFields, Preconditions } from './protocol.js';
import {
  CHUNK_QUANTUM,
  GcsError,
  OffsetGapError,
  bucketNameProblem,
  checkObjectName,
  compareNames,
  conditionNotMet,
  decodePageToken,
  encodePageToken,
  invalid,
  parseContentRange,
  parseGoogHash,
  parseObjectResource,
  parsePreconditions,
  preconditionsHold,
  required,
} from './protocol.js';
import type { PageToken } from './protocol.js';
import { BlobWriter, StorageStore } from './store.js';
import type { BucketRecord, ObjectRecord, SessionRecord } from './store.js';

export interface StorageDeps {
  clock: Clock;
  baseUrl(): string;
  /** With a data folder, buckets, objects and sessions survive restarts (`<dataDir>/storage`). */
  dataDir?: string | undefined;
  /** Without one, content lives in a per-process folder under `<cacheDir>/storage-runs`. */
  cacheDir: string;
}

const enc = encodeURIComponent;
const iso = (ms: number): string => new Date(ms).toISOString();

function projectNumber(project: string): string {
  const n = createHash('sha256').update(project).digest().readBigUInt64BE(0) % 1_000_000_000_000n;
  return String(n + 100_000_000_000n);
}

export function bucketResource(b: BucketRecord, base: string): Record<string, unknown> {
  return {
    kind: 'storage#bucket',
    selfLink: `${base}/storage/v1/b/${enc(b.name)}`,
    id: b.name,
    name: b.name,
    projectNumber: projectNumber(b.project),
    metageneration: '1',
    location: 'US',
    storageClass: 'STANDARD',
    etag: 'CAE=',
    timeCreated: iso(b.timeCreated),
    updated: iso(b.timeCreated),
    locationType: 'multi-region',
    rpo: 'DEFAULT',
  };
}

export function objectResource(o: ObjectRecord, base: string): Record<string, unknown> {
  const path = `b/${enc(o.bucket)}/o/${enc(o.name)}`;
  return {
    kind: 'storage#object',
    id: `${o.bucket}/${o.name}/${o.generation}`,
    selfLink: `${base}/storage/v1/${path}`,
    mediaLink: `${base}/download/storage/v1/${path}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket: o.bucket,
    generation: o.generation,
    metageneration: String(o.metageneration),
    contentType: o.contentType,
    storageClass: 'STANDARD',
    size: String(o.size),
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    etag: Buffer.from(`${o.generation}/${o.metageneration}`).toString('base64'),
    timeCreated: iso(o.timeCreated),
    updated: iso(o.updated),
    timeStorageClassUpdated: iso(o.timeCreated),
    timeFinalized: iso(o.timeCreated),
    ...(o.contentEncoding !== undefined ? { contentEncoding: o.contentEncoding } : {}),
    ...(o.contentDisposition !== undefined ? { contentDisposition: o.contentDisposition } : {}),
    ...(o.contentLanguage !== undefined ? { contentLanguage: o.contentLanguage } : {}),
    ...(o.cacheControl !== undefined ? { cacheControl: o.cacheControl } : {}),
    ...(o.metadata !== undefined ? { metadata: o.metadata } : {}),
  };
}

/** Renders storage errors in Google's JSON-API shape (the offset gap as GCS's bare text 503). */
function renderStorageError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof OffsetGapError) {
    res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(err.message)) });
    res.end(err.message);
    return;
  }
  if (err instanceof RequestError) {
    const reason = err.httpStatus === 413 ? 'uploadTooLarge' : err.httpStatus === 404 ? 'notFound' : err.message.startsWith('Invalid JSON') ? 'parseError' : 'invalid';
    err = new GcsError(err.httpStatus, reason, err.message);
  }
  if (err instanceof GcsError) {
    sendJson(res, err.httpStatus, err.body(), { ...err.headers });
    return;
  }
  throw err;
}

type Handler = (ctx: RequestContext) => Promise<void>;

function guard(handler: Handler): Handler {
  return async (ctx) => {
    try {
      await handler(ctx);
    } catch (err) {
      ctx.req.resume();
      // The client went away mid-body: nobody to answer (and not a sandbox error).
      if (ctx.req.errored && (ctx.res.socket === null || ctx.res.socket.destroyed)) {
        ctx.res.destroy();
        return;
      }
      renderStorageError(ctx.res, err);
    }
  };
}

async function drain(req: IncomingMessage): Promise<void> {
  try {
    for await (const _ of req) {
      // discard
    }
  } catch {
    // the client went away
  }
}

function single(query: URLSearchParams, key: string): string | undefined {
  const all = query.getAll(key);
  if (all.length > 1) throw invalid(`Parameter ${key} given more than once.`);
  return all[0];
}

function generationParam(query: URLSearchParams): string | undefined {
  const g = single(query, 'generation');
  if (g === undefined) return undefined;
  if (!/^\d{1,19}$/.test(g)) throw invalid(`Invalid value for generation: ${g.slice(0, 40)}`);
  return String(BigInt(g));
}

/** Preconditions on reads: a failed *Match is 412, a failed *NotMatch is 304 (as GCS answers GETs). */
function checkRead(pre: Preconditions, o: ObjectRecord): 'ok' | 'not-modified' {
  const g = BigInt(o.generation);
  const mg = BigInt(o.metageneration);
  if (pre.ifGenerationMatch !== undefined && pre.ifGenerationMatch !== g) throw conditionNotMet();
  if (pre.ifMetagenerationMatch !== undefined && pre.ifMetagenerationMatch !== mg) throw conditionNotMet();
  if (pre.ifGenerationNotMatch === g || pre.ifMetagenerationNotMatch === mg) return 'not-modified';
  return 'ok';
}

export function storageModule(deps: StorageDeps): SandboxModule {
  const store = StorageStore.open(deps.clock, deps.dataDir, deps.cacheDir);
  const base = (): string => deps.baseUrl();

  // ---- buckets ----

  async function bucketsRoot(ctx: RequestContext): Promise<void> {
    const project = single(ctx.query, 'project');
    if (ctx.method === 'POST') {
      const body = await readJsonObject(ctx.req);
      if (!project) throw required('Required parameter: project');
      const name = body.name;
      if (typeof name !== 'string' || name === '') throw required('Required bucket name.');
      const problem = bucketNameProblem(name);
      if (problem) throw invalid(problem);
      sendJson(ctx.res, 200, bucketResource(store.createBucket(name, project), base()));
      return;
    }
    if (!project) throw required('Required parameter: project');
    const items = [...store.buckets.values()].filter((b) => b.project === project).sort((a, b) => compareNames(a.name, b.name));
    sendJson(ctx.res, 200, { kind: 'storage#buckets', ...(items.length > 0 ? { items: items.map((b) => bucketResource(b, base())) } : {}) });
  }

  async function bucketOne(ctx: RequestContext): Promise<void> {
    const [bucket = ''] = ctx.params;
    if (ctx.method === 'DELETE') {
      store.deleteBucket(bucket);
      ctx.res.writeHead(204, { 'Content-Length': '0' });
      ctx.res.end();
      return;
    }
    sendJson(ctx.res, 200, bucketResource(store.bucket(bucket), base()));
  }

  // ---- listing ----

  async function listObjects(ctx: RequestContext): Promise<void> {
    const [bucket = ''] = ctx.params;
    const q = ctx.query;
    const prefix = single(q, 'prefix') ?? '';
    const delimiter = single(q, 'delimiter') ?? '';
    const startOffset = single(q, 'startOffset');
    const endOffset = single(q, 'endOffset');
    const trailing = single(q, 'includeTrailingDelimiter') === 'true';
    const maxText = single(q, 'maxResults');
    if (maxText !== undefined && !/^\d{1,10}$/.test(maxText)) throw invalid(`Invalid value for maxResults: ${maxText.slice(0, 40)}`);
    const max = maxText === undefined ? 1000 : Math.min(1000, Number(maxText));
    if (max < 1) throw invalid('maxResults must be positive.');
    const tokenText = single(q, 'pageToken');
    const token: PageToken | undefined = tokenText ? decodePageToken(tokenText) : undefined;
    const sorted = [...store.list(bucket)].filter((o) => o.name.startsWith(prefix)).sort((a, b) => compareNames(a.name, b.name));

    const items: ObjectRecord[] = [];
    const prefixes: string[] = [];
    let count = 0;
    let last: PageToken | undefined;
    let more = false;
    for (const o of sorted) {
      const name = o.name;
      if (startOffset !== undefined && compareNames(name, startOffset) < 0) continue;
      if (endOffset !== undefined && endOffset !== '' && compareNames(name, endOffset) >= 0) continue;
      if (token && (compareNames(name, token.after) <= 0 || (token.prefix && name.startsWith(token.after)))) continue;
      const cut = delimiter === '' ? -1 : name.indexOf(delimiter, prefix.length);
      if (cut >= 0) {
        const p = name.slice(0, cut + delimiter.length);
        if (prefixes[prefixes.length - 1] === p) {
          if (trailing && name === p) items.push(o);
          continue;
        }
        if (count === max) {
          more = true;
          break;
        }
        prefixes.push(p);
        if (trailing && name === p) items.push(o);
        count += 1;
        last = { after: p, prefix: true };
        continue;
      }
      if (count === max) {
        more = true;
        break;
      }
      items.push(o);
      count += 1;
      last = { after: name, prefix: false };
    }
    sendJson(ctx.res, 200, {
      kind: 'storage#objects',
      ...(more && last ? { nextPageToken: encodePageToken(last) } : {}),
      ...(prefixes.length > 0 ? { prefixes } : {}),
      ...(items.length > 0 ? { items: items.map((o) => objectResource(o, base())) } : {}),
    });
  }

  // ---- one object: metadata, media, patch, delete ----

  async function objectOne(ctx: RequestContext): Promise<void> {
    const [bucket = '', name = ''] = ctx.params;
    const q = ctx.query;
    const generation = generationParam(q);
    const pre = parsePreconditions(q);
    if (ctx.method === 'DELETE') {
      store.delete(bucket, name, generation, pre);
      ctx.res.writeHead(204, { 'Content-Length': '0' });
      ctx.res.end();
      return;
    }
    if (ctx.method === 'PATCH') {
      const body = await readJsonObject(ctx.req);
      const parsed = parseObjectResource(body);
      sendJson(ctx.res, 200, objectResource(store.patch(bucket, name, generation, pre, parsed.fields, parsed.cleared), base()));
      return;
    }
    const alt = single(q, 'alt') ?? 'json';
    if (alt === 'media') {
      await download(ctx, bucket, name, generation, pre);
      return;
    }
    if (alt !== 'json') throw invalid(`Invalid value for alt: ${alt.slice(0, 40)}`);
    const o = store.get(bucket, name, generation);
    if (checkRead(pre, o) === 'not-modified') {
      ctx.res.writeHead(304, {});
      ctx.res.end();
      return;
    }
    sendJson(ctx.res, 200, objectResource(o, base()));
  }

  async function downloadRoute(ctx: RequestContext): Promise<void> {
    const [bucket = '', name = ''] = ctx.params;
    const alt = single(ctx.query, 'alt') ?? 'media';
    if (alt !== 'media') throw invalid(`Invalid value for alt: ${alt.slice(0, 40)}`);
    await download(ctx, bucket, name, generationParam(ctx.query), parsePreconditions(ctx.query));
  }

  async function download(ctx: RequestContext, bucket: string, name: string, generation: string | undefined, pre: Preconditions): Promise<void> {
    const o = store.get(bucket, name, generation);
    if (checkRead(pre, o) === 'not-modified') {
      ctx.res.writeHead(304, {});
      ctx.res.end();
      return;
    }
    let file: FileHandle;
    try {
      file = await open(store.blobPath(o), 'r');
    } catch {
      // replaced or deleted between the lookup and the open
      throw new GcsError(404, 'notFound', `No such object: ${bucket}/${name}`);
    }
    try {
      const range = o.size === 0 ? undefined : parseRange(ctx.req.headers.range, o.size);
      if (range === 'unsatisfiable') {
        throw new GcsError(416, 'requestedRangeNotSatisfiable', 'Request range not satisfiable', {}, { 'Content-Range': `bytes */${o.size}` });
      }
      const start = range?.start ?? 0;
      const end = range?.end ?? o.size - 1;
      const length = Math.max(0, end - start + 1);
      ctx.res.writeHead(range ? 206 : 200, {
        'Content-Type': o.contentType,
        'Content-Length': String(length),
        ...(range ? { 'Content-Range': `bytes ${start}-${end}/${o.size}` } : {}),
        'Accept-Ranges': 'bytes',
        ETag: `"${Buffer.from(o.md5Hash, 'base64').toString('hex')}"`,
        'Last-Modified': new Date(o.updated).toUTCString(),
        'Cache-Control': o.cacheControl ?? 'no-cache, no-store, max-age=0, must-revalidate',
        ...(o.contentDisposition !== undefined ? { 'Content-Disposition': o.contentDisposition } : {}),
        ...(o.contentEncoding !== undefined ? { 'Content-Encoding': o.contentEncoding } : {}),
        'x-goog-generation': o.generation,
        'x-goog-metageneration': String(o.metageneration),
        'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5Hash}`,
        'x-goog-stored-content-length': String(o.size),
        'x-goog-stored-content-encoding': o.contentEncoding ?? 'identity',
        'x-goog-storage-class': 'STANDARD',
      });
      if (ctx.method === 'HEAD' || length === 0) {
        ctx.res.end();
        return;
      }
      try {
        await pipeline(file.createReadStream({ start, end, highWaterMark: 1024 * 1024, autoClose: false }), ctx.res);
      } catch {
        // the client went away (or a fault cut the connection)
        ctx.res.destroy();
      }
    } finally {
      await file.close();
    }
  }

  // ---- rewrite: a server-side copy ----

  /**
   * `POST …/b/{b}/o/{o}/rewriteTo/b/{b2}/o/{o2}`: copies the (generation of the) source object to
   * the destination in one call (`done: true`, as GCS answers a copy within one location and
   * storage class), the destination's preconditions (`ifGenerationMatch=0`: create-only) checked
   * at the commit. The content is shared with the source (blobs never change in place), so the
   * copy costs no bytes, as on GCS. The body may set the destination's metadata.
   */
  async function rewrite(ctx: RequestContext): Promise<void> {
    const [srcBucket = '', srcName = '', dstBucket = '', dstName = ''] = ctx.params;
    const q = ctx.query;
    const body = await readJsonObject(ctx.req);
    const parsed = parseObjectResource(body);
    const pre = parsePreconditions(q);
    const sourceGeneration = single(q, 'sourceGeneration');
    if (sourceGeneration !== undefined && !/^\d{1,19}$/.test(sourceGeneration)) throw invalid(`Invalid value for sourceGeneration: ${sourceGeneration.slice(0, 40)}`);
    const src = store.get(srcBucket, srcName, sourceGeneration === undefined ? undefined : String(BigInt(sourceGeneration)));
    const ifSource = single(q, 'ifSourceGenerationMatch');
    if (ifSource !== undefined && ifSource !== src.generation) throw conditionNotMet();
    store.bucket(dstBucket);
    const name = checkObjectName(dstName);
    const temp = store.tempPath();
    try {
      linkSync(store.blobPath(src), temp);
    } catch {
      copyFileSync(store.blobPath(src), temp);
    }
    const { bucket: _b, name: _n, generation: _g, metageneration: _m, size, crc32c, md5Hash, timeCreated: _t, updated: _u, blob: _blob, ...fields } = src;
    let record: ObjectRecord;
    try {
      record = store.commit(temp, dstBucket, name, { size, crc: Buffer.from(crc32c, 'base64').readUInt32BE(0), md5: md5Hash }, { ...fields, ...parsed.fields }, pre);
    } catch (err) {
      rmSync(temp, { force: true });
      throw err;
    }
    sendJson(ctx.res, 200, {
      kind: 'storage#rewriteResponse',
      totalBytesRewritten: String(size),
      objectSize: String(size),
      done: true,
      resource: objectResource(record, base()),
    });
  }

  // ---- uploads ----

  /** Streams a body into a temp file while hashing it; the file is removed on failure. */
  async function receive(fill: (write: (buf: Buffer) => Promise<void>) => Promise<void>): Promise<{ temp: string; size: number; crc: number; md5: string }> {
    const temp = store.tempPath();
    const file = await open(temp, 'w');
    try {
      const writer = new BlobWriter(file, { at: 0, crc: 0 }, (written) => store.md5.advance(temp, written));
      await fill((buf) => writer.write(buf));
      await writer.flush();
      await file.close();
      return { temp, size: writer.pos, crc: writer.crc, md5: await store.md5.digest(temp, writer.pos) };
    } catch (err) {
      await file.close().catch(() => undefined);
      await rm(temp, { force: true });
      throw err;
    } finally {
      store.md5.forget(temp);
    }
  }

  /** Checks announced hashes, then commits the received file as the object (preconditions checked there). */
  function commitUpload(
    ctx: RequestContext,
    received: { temp: string; size: number; crc: number; md5: string },
    target: { bucket: string; name: string; fields: ObjectFields & { contentType: string } },
    pre: Preconditions,
    expected: { crc32c?: string | undefined; md5?: string | undefined },
  ): void {
    try {
      const crc32c = crc32cBase64(received.crc);
      for (const [label, want, got] of [
        ['CRC32C', expected.crc32c, crc32c],
        ['MD5', expected.md5, received.md5],
      ] as const) {
        if (want !== undefined && want !== got) throw new GcsError(400, 'invalid', `Provided ${label} "${want}" doesn't match calculated ${label} "${got}".`);
      }
      const record = store.commit(received.temp, target.bucket, target.name, received, target.fields, pre);
      sendJson(ctx.res, 200, objectResource(record, base()));
    } catch (err) {
      rmSync(received.temp, { force: true });
      throw err;
    }
  }

  async function insert(ctx: RequestContext): Promise<void> {
    const [bucket = ''] = ctx.params;
    const q = ctx.query;
    const uploadType = single(q, 'uploadType');
    if (uploadType !== 'media' && uploadType !== 'multipart' && uploadType !== 'resumable') {
      throw invalid('Upload requests must include an uploadType URL parameter and a URL-encoded object name.');
    }
    const pre = parsePreconditions(q);
    const queryName = single(q, 'name');
    store.bucket(bucket);
    const headerHash = parseGoogHash(ctx.req.headers['x-goog-hash']);

    if (uploadType === 'media') {
      if (queryName === undefined) throw required('Upload requests must include an uploadType URL parameter and a URL-encoded object name.');
      const name = checkObjectName(queryName);
      if (!preconditionsHold(pre, store.find(bucket, name))) throw conditionNotMet();
      const contentType = String(ctx.req.headers['content-type'] ?? '') || 'application/octet-stream';
      const got = await receive(async (write) => {
        for await (const chunk of ctx.req) await write(chunk as Buffer);
      });
      commitUpload(ctx, got, { bucket, name, fields: { contentType } }, pre, headerHash);
      return;
    }

    if (uploadType === 'multipart') {
      const boundary = boundaryOf(ctx.req.headers['content-type']);
      let head: MultipartHead | undefined;
      const got = await receive(async (write) => {
        head = await readMultipart(ctx.req, boundary, write);
      });
      try {
        if (!head) throw invalid('Malformed multipart body.');
        const h: MultipartHead = head;
        const parsed = parseObjectResource(h.metadata);
        const name = checkObjectName(nameOf(queryName, parsed.name));
        const fields = { ...parsed.fields, contentType: parsed.fields.contentType ?? h.mediaType ?? 'application/octet-stream' };
        commitUpload(ctx, got, { bucket, name, fields }, pre, { crc32c: headerHash.crc32c ?? parsed.crc32c, md5: headerHash.md5 ?? parsed.md5Hash });
      } finally {
        rmSync(got.temp, { force: true });
      }
      return;
    }

    // resumable: open a session
    const body = await readJsonObject(ctx.req);
    const parsed = parseObjectResource(body);
    const name = checkObjectName(nameOf(queryName, parsed.name));
    const lengthHeader = ctx.req.headers['x-upload-content-length'];
    let total: number | undefined;
    if (lengthHeader !== undefined) {
      if (!/^\d{1,16}$/.test(String(lengthHeader))) throw invalid('Invalid X-Upload-Content-Length.');
      total = Number(lengthHeader);
    }
    const contentType = parsed.fields.contentType ?? (String(ctx.req.headers['x-upload-content-type'] ?? '') || 'application/octet-stream');
    const expected: SessionRecord['expected'] = {};
    if (parsed.crc32c !== undefined) expected.crc32c = parsed.crc32c;
    if (parsed.md5Hash !== undefined) expected.md5Hash = parsed.md5Hash;
    const session = store.createSession(bucket, name, { ...parsed.fields, contentType }, expected, pre, total);
    const location = `${base()}/upload/storage/v1/b/${enc(bucket)}/o?uploadType=resumable&name=${enc(name)}&upload_id=${session.id}`;
    ctx.res.writeHead(200, { Location: location, 'X-GUploader-UploadID': session.id, 'Content-Length': '0' });
    ctx.res.end();
  }

  function nameOf(queryName: string | undefined, bodyName: string | undefined): string {
    if (queryName !== undefined && bodyName !== undefined && queryName !== bodyName) {
      throw invalid(`Value '${bodyName.slice(0, 200)}' in content does not agree with value '${queryName.slice(0, 200)}'.`);
    }
    const name = queryName ?? bodyName;
    if (name === undefined) throw required('Upload requests must include an uploadType URL parameter and a URL-encoded object name.');
    return name;
  }

  // ---- resumable session requests ----

  function sessionOf(ctx: RequestContext): SessionRecord {
    const [bucket = ''] = ctx.params;
    const id = single(ctx.query, 'upload_id');
    if (id === undefined) throw required('Missing upload_id.');
    const session = store.session(id);
    if (!session || session.bucket !== bucket) throw new GcsError(404, 'notFound', 'No such upload session.');
    return session;
  }

  function incomplete(ctx: RequestContext, session: SessionRecord): void {
    const headers: Record<string, string> = { 'X-GUploader-UploadID': session.id, 'Content-Length': '0' };
    if (session.persisted > 0) headers.Range = `bytes=0-${session.persisted - 1}`;
    // Clients that cannot take a 308 ask for a 200 carrying the real status in a header.
    if (String(ctx.req.headers['x-guploader-no-308'] ?? '').toLowerCase() === 'yes') {
      ctx.res.writeHead(200, { ...headers, 'X-HTTP-Status-Code-Override': '308' });
    } else {
      ctx.res.writeHead(308, headers);
    }
    ctx.res.end();
  }

  function answerFinal(ctx: RequestContext, record: ObjectRecord): void {
    sendJson(ctx.res, 200, objectResource(record, base()));
  }

  function settled(ctx: RequestContext, session: SessionRecord): boolean {
    if (session.state === 'final' && session.result) {
      answerFinal(ctx, session.result);
      return true;
    }
    if (session.state === 'failed' && session.failure) {
      throw new GcsError(session.failure.status, session.failure.reason, session.failure.message);
    }
    if (session.state === 'cancelled') throw new GcsError(404, 'notFound', 'The upload session was cancelled.');
    return false;
  }

  function noteTotal(session: SessionRecord, total: number | undefined): void {
    if (total === undefined) return;
    if (session.total !== undefined && session.total !== total) {
      throw invalid(`The total size ${total} differs from the size announced earlier (${session.total}).`);
    }
    if (total < session.persisted) throw invalid(`The total size ${total} is below the ${session.persisted} bytes already persisted.`);
    if (session.total === undefined) store.setTotal(session, total);
  }

  async function sessionPut(ctx: RequestContext): Promise<void> {
    const session = sessionOf(ctx);
    const range = parseContentRange(ctx.req.headers['content-range']);
    await store.withSession(session.id, async () => {
      if (range.kind === 'query' || settledOrGap(session, range)) {
        await drain(ctx.req);
        if (settled(ctx, session)) return;
        if (range.kind === 'data') throw new OffsetGapError(range.start, session.persisted);
        noteTotal(session, range.total);
        if (range.total !== undefined && range.total === session.persisted) {
          answerFinal(ctx, await store.finalise(session, await store.digest(session), parseGoogHash(ctx.req.headers['x-goog-hash'])));
          return;
        }
        incomplete(ctx, session);
        return;
      }
      await writeChunk(ctx, session, range);
    });
  }

  /** True when the request must not write: the session is settled, or the chunk starts past the persisted end. */
  function settledOrGap(session: SessionRecord, range: Extract<ContentRange, { kind: 'data' }>): boolean {
    return session.state !== 'active' || range.start > session.persisted;
  }

  async function writeChunk(ctx: RequestContext, session: SessionRecord, range: Extract<ContentRange, { kind: 'data' }>): Promise<void> {
    noteTotal(session, range.total);
    const declared = range.end === undefined ? undefined : range.end - range.start + 1;
    let skip = session.persisted - range.start;
    const digest = await store.digest(session);
    const file = await open(store.partPath(session.id), 'r+');
    const writer = new BlobWriter(file, digest, store.followPart(session));
    let received = 0;
    let aborted = false;
    let writeError: unknown;
    try {
      try {
        for await (const chunk of ctx.req) {
          if (writeError !== undefined) continue;
          let buf = chunk as Buffer;
          const room = declared === undefined ? buf.length : Math.max(0, declared - received);
          received += buf.length;
          buf = buf.subarray(0, room);
          if (skip > 0) {
            const s = Math.min(skip, buf.length);
            skip -= s;
            buf = buf.subarray(s);
          }
          if (buf.length === 0) continue;
          try {
            await writer.write(buf);
          } catch (err) {
            writeError = err;
          }
        }
      } catch {
        aborted = true;
      }
      if (writeError === undefined) {
        try {
          await writer.flush();
        } catch (err) {
          writeError = err;
        }
      }
    } finally {
      await writer.flush().catch(() => undefined);
      await file.close();
    }
    if (writeError !== undefined) {
      store.trim(session, true);
      throw writeError;
    }
    const end = writer.pos;
    const complete = !aborted && (declared === undefined || received === declared);
    const total = range.total ?? session.total ?? (complete && range.end === undefined ? end : undefined);
    if (complete && total !== undefined && end === total) {
      const final = writer.digestAt(end);
      if (final) {
        answerFinal(ctx, await store.finalise(session, final, parseGoogHash(ctx.req.headers['x-goog-hash'])));
        return;
      }
    }
    // Not final: keep what arrived, up to the last 256 KiB boundary.
    const aligned = Math.floor(end / CHUNK_QUANTUM) * CHUNK_QUANTUM;
    if (aligned > session.persisted) {
      const d = writer.digestAt(aligned);
      if (d) store.advance(session, d);
    }
    // Anything not kept below `aligned` voids what the MD5 thread was told of these bytes.
    store.trim(session, aligned > session.persisted);
    if (aborted) return; // the connection is gone: nothing to answer
    if (!complete) throw invalid(`The Content-Range header announces ${declared ?? 0} byte(s) but the body had ${received}.`);
    if (total !== undefined && end > total) throw invalid(`The upload has more bytes than its total size ${total}.`);
    incomplete(ctx, session);
  }

  async function sessionDelete(ctx: RequestContext): Promise<void> {
    const session = sessionOf(ctx);
    await store.withSession(session.id, async () => {
      if (session.state === 'active') store.cancel(session);
      else if (settled(ctx, session)) return;
      // GCS answers a cancelled upload with 499.
      ctx.res.writeHead(499, { 'Content-Length': '0' });
      ctx.res.end();
    });
  }

  async function uploads(ctx: RequestContext): Promise<void> {
    if (ctx.method === 'POST') {
      if (ctx.query.has('upload_id')) throw invalid('Send resumable session data with PUT.');
      await insert(ctx);
    } else if (ctx.method === 'PUT') await sessionPut(ctx);
    else await sessionDelete(ctx);
  }

  const J = '(?:\\/storage\\/v1)?';
  const routes: Route[] = [
    { methods: ['GET', 'POST'], path: new RegExp(`^${J}\\/b$`), style: 'google', handle: guard(bucketsRoot) },
    { methods: ['GET', 'DELETE'], path: new RegExp(`^${J}\\/b\\/([^/]+)$`), style: 'google', handle: guard(bucketOne) },
    { methods: ['GET'], path: new RegExp(`^${J}\\/b\\/([^/]+)\\/o$`), style: 'google', handle: guard(listObjects) },
    { methods: ['POST'], path: new RegExp(`^${J}\\/b\\/([^/]+)\\/o\\/([^/]+)\\/rewriteTo\\/b\\/([^/]+)\\/o\\/([^/]+)$`), style: 'google', handle: guard(rewrite) },
    { methods: ['GET', 'PATCH', 'DELETE'], path: new RegExp(`^${J}\\/b\\/([^/]+)\\/o\\/(.+)$`), style: 'google', handle: guard(objectOne) },
    { methods: ['POST', 'PUT', 'DELETE'], path: /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/, style: 'google', handle: guard(uploads) },
    { methods: ['GET'], path: /^\/download\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/, style: 'google', handle: guard(downloadRoute) },
  ];
  return { name: 'storage', routes, close: () => store.md5.close() };
}
