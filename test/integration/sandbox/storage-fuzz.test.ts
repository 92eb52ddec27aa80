// Fuzz over the Cloud Storage routes: random methods, paths, queries, headers (Content-Range,
// Range, X-Goog-Hash, multipart types) and bodies, seeded so a failure can be replayed. Every
// answer must be below 500, except GCS's own 503 for a chunk that starts past the persisted end
// (a well-formed request in the wrong state, answered with GCS's text body).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, rawRequest, startTestSandbox } from './helpers.js';
import type { TestSandbox } from './helpers.js';
import { PROJECT } from './storage-helpers.js';
import { prng } from '../../fixtures/prng.js';

const GAP = 'Invalid request.  According to the Content-Range header, the upload offset is ';
const BUCKET = 'fuzz-bucket';

let sb: TestSandbox;

beforeAll(async () => {
  sb = await startTestSandbox();
  expect((await call(sb.baseUrl, 'POST', `/storage/v1/b?project=${PROJECT}`, { name: BUCKET })).status).toBe(200);
  for (const name of ['a/b.txt', 'a/c.txt', 'ü/😀', 'top']) {
    const res = await fetch(`${sb.baseUrl}/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=${encodeURIComponent(name)}`, { method: 'POST', body: name.repeat(50) });
    expect(res.status).toBe(200);
  }
});
afterAll(async () => {
  await sb.stop();
});

function rng(seed: number): () => number {
  return prng(seed).next;
}
type Rand = () => number;
const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)] as T;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

const NASTY = [
  '',
  ' ',
  '%',
  '%zz',
  '%00',
  '%2F',
  '%E0%A4%A',
  '..',
  '.',
  '../..',
  '__proto__',
  'constructor',
  '😀',
  'a'.repeat(1100),
  '{}',
  '-1',
  '1e309',
  '99999999999999999999',
  "';--",
  '\r\n',
];

function randomString(r: Rand): string {
  if (r() < 0.4) return pick(r, NASTY);
  let s = '';
  for (let i = int(r, 30); i > 0; i -= 1) s += String.fromCharCode(32 + int(r, 95));
  return s;
}

function randomJson(r: Rand, depth = 0): unknown {
  const roll = r();
  if (depth > 3 || roll < 0.3) return pick(r, [null, true, 0, -1, 1.5, 'x', randomString(r)]);
  if (roll < 0.5) return Array.from({ length: int(r, 3) }, () => randomJson(r, depth + 1));
  const keys = ['name', 'bucket', 'contentType', 'metadata', 'crc32c', 'md5Hash', 'cacheControl', 'contentEncoding', 'size', 'generation', '__proto__', randomString(r)];
  const out: Record<string, unknown> = {};
  for (let i = int(r, 4); i > 0; i -= 1) out[pick(r, keys)] = randomJson(r, depth + 1);
  return out;
}

function randomBody(r: Rand, boundary: string): Buffer | undefined {
  const roll = r();
  if (roll < 0.2) return undefined;
  if (roll < 0.45) return Buffer.from(JSON.stringify(randomJson(r)));
  if (roll < 0.65) {
    const n = int(r, 600_000);
    const buf = Buffer.alloc(n, int(r, 256));
    for (let i = 0; i < n; i += 997) buf[i] = int(r, 256);
    return buf;
  }
  if (roll < 0.85) {
    const meta = r() < 0.7 ? JSON.stringify(randomJson(r)) : randomString(r);
    const parts = [`--${boundary}\r\nContent-Type: application/json\r\n\r\n${meta}\r\n`, `--${boundary}\r\nContent-Type: text/plain\r\n\r\n${randomString(r)}`];
    if (r() < 0.7) parts.push(`\r\n--${boundary}--`);
    return Buffer.from(parts.slice(0, 1 + int(r, 3)).join(''));
  }
  return Buffer.from(randomString(r));
}

function randomContentRange(r: Rand): string {
  const n = (): number => pick(r, [0, 1, 255, 256 * 1024, 256 * 1024 - 1, 512 * 1024, 600_000, int(r, 2_000_000)]);
  return pick(r, [
    `bytes */*`,
    `bytes */${n()}`,
    `bytes ${n()}-${n()}/*`,
    `bytes ${n()}-${n()}/${n()}`,
    `bytes ${n()}-*/*`,
    'bytes 0--1/0',
    randomString(r).replace(/[^\x20-\x7e]/g, ''),
  ]);
}

function send(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined) {
  return rawRequest(sb.baseUrl, method, path, headers, body);
}

describe('storage fuzz', () => {
  it('random requests to every storage route never get a 5xx (except GCS’s offset-gap 503)', async () => {
    const r = rng(20261123);
    const uploadIds: string[] = [];
    const open = async (): Promise<void> => {
      const res = await send(
        'POST',
        `/upload/storage/v1/b/${BUCKET}/o?uploadType=resumable&name=fuzz-${uploadIds.length}`,
        { 'Content-Type': 'application/json' },
        Buffer.from('{}'),
      );
      const id = /upload_id=([^&]+)/.exec(res.location ?? '')?.[1];
      if (id) uploadIds.push(id);
    };
    await open();
    const object = (): string => encodeURIComponent(pick(r, ['a/b.txt', 'ü/😀', 'top', 'missing', randomString(r)]));
    const bucket = (): string => (r() < 0.85 ? BUCKET : encodeURIComponent(randomString(r)) || 'x');
    const routes: Array<[string[], () => string]> = [
      [['GET', 'POST'], () => `/storage/v1/b`],
      [['GET', 'DELETE'], () => `/storage/v1/b/${bucket()}`],
      [['GET'], () => `/storage/v1/b/${bucket()}/o`],
      [['GET', 'PATCH', 'DELETE', 'HEAD'], () => `/storage/v1/b/${bucket()}/o/${object()}`],
      [['GET'], () => `/b/${bucket()}/o/${object()}`],
      [['POST'], () => `/upload/storage/v1/b/${bucket()}/o`],
      [['PUT', 'PUT', 'PUT', 'DELETE'], () => `/upload/storage/v1/b/${bucket()}/o`],
      [['GET', 'HEAD'], () => `/download/storage/v1/b/${bucket()}/o/${object()}`],
    ];
    const failures: string[] = [];
    const seen = new Set<number>();
    let gaps = 0;
    let sent = 0;
    for (let i = 0; i < 1500; i += 1) {
      if (i % 100 === 0) await open();
      const [methods, pathOf] = pick(r, routes);
      const method = r() < 0.9 ? pick(r, methods) : pick(r, ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
      const q: string[] = [];
      if (method === 'PUT' || method === 'DELETE' || r() < 0.1) q.push(`upload_id=${r() < 0.85 ? pick(r, uploadIds) : encodeURIComponent(randomString(r))}`);
      if (r() < 0.6) q.push(`uploadType=${pick(r, ['media', 'multipart', 'resumable', 'x', ''])}`);
      if (r() < 0.6) q.push(`name=${encodeURIComponent(pick(r, ['n1', 'dir/n2', randomString(r)]))}`);
      for (const key of [
        'ifGenerationMatch',
        'ifGenerationNotMatch',
        'ifMetagenerationMatch',
        'generation',
        'alt',
        'prefix',
        'delimiter',
        'maxResults',
        'pageToken',
        'project',
        'startOffset',
      ]) {
        if (r() < 0.08) q.push(`${key}=${encodeURIComponent(pick(r, ['0', '1', '-1', 'media', 'json', '/', 'abc', randomString(r)]))}`);
      }
      const path = (pathOf() + (q.length > 0 ? `?${q.join('&')}` : '')).replace(/[\s\u0000-\u001f\u007f-\u{10ffff}]/gu, (c) => encodeURIComponent(c));
      const boundary = pick(r, ['b0und4ry', 'x', '"quoted b"']);
      const headers: Record<string, string> = {};
      const ct = pick(r, ['application/json', 'application/octet-stream', `multipart/related; boundary=${boundary}`, 'multipart/related', 'text/plain', '']);
      if (ct) headers['Content-Type'] = ct;
      if (r() < 0.6) headers['Content-Range'] = randomContentRange(r);
      if (r() < 0.2) headers.Range = pick(r, ['bytes=0-', 'bytes=-5', 'bytes=999999-', 'bytes=5-1', 'bytes=a-b', 'bytes=0-1,3-4']);
      if (r() < 0.15) headers['X-Goog-Hash'] = pick(r, ['crc32c=AAAAAA==', 'md5=xx', 'crc32c=', randomString(r).replace(/[^\x20-\x7e]/g, '')]);
      if (r() < 0.1) headers['X-Upload-Content-Length'] = pick(r, ['0', '10', '-1', 'abc', '99999999999999999']);
      const body = method === 'GET' || method === 'HEAD' ? undefined : randomBody(r, boundary.replace(/"/g, ''));
      if (body) headers['Content-Length'] = String(body.length);
      try {
        const res = await send(method, path, headers, body);
        sent += 1;
        seen.add(res.status);
        const id = /upload_id=([^&]+)/.exec(res.location ?? '')?.[1];
        if (id) uploadIds.push(id);
        if (res.status === 503 && res.text.startsWith(GAP)) gaps += 1;
        else if (res.status >= 500 || res.status === 0)
          failures.push(`${res.status} ${method} ${path.slice(0, 150)} ${JSON.stringify(headers).slice(0, 200)} → ${res.text.slice(0, 200)}`);
        else if (res.status >= 400 && res.status !== 499 && method !== 'HEAD' && !(res.status === 404 && !path.includes('storage') && !path.startsWith('/b/')) && res.text !== '') {
          // Every error body is Google's JSON-API shape.
          const parsed = JSON.parse(res.text) as { error?: { code?: number; message?: string } };
          if (parsed.error?.code !== res.status || typeof parsed.error.message !== 'string')
            failures.push(`shape ${res.status} ${method} ${path.slice(0, 100)}: ${res.text.slice(0, 200)}`);
        }
      } catch (err) {
        failures.push(`error ${method} ${path.slice(0, 120)}: ${(err as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
    expect(sent).toBe(1500);
    for (const s of [200, 308, 400, 404]) expect(seen).toContain(s);
    expect(gaps).toBeGreaterThan(0);
    const alive = await call(sb.baseUrl, 'GET', `/storage/v1/b/${BUCKET}/o`);
    expect(alive.status).toBe(200);
  });
});
