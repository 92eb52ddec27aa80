// Fuzz: random bodies, paths, query strings and headers thrown at every route. The sandbox must
// answer every one with a status below 500 (Google's error shapes) and keep serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, call, connect, rawRequest, startTestSandbox } from './helpers.js';
import type { Connected, TestSandbox } from './helpers.js';
import { prng } from '../../fixtures/prng.js';

let sb: TestSandbox;
let conn: Connected;
let jobId: string;
let archivePath: string;

beforeAll(async () => {
  sb = await startTestSandbox({ config: { archiveBytes: 20_000 } });
  conn = await connect(sb.baseUrl, ['chrome.history', 'youtube.music'], { duration: 'DAYS_30' });
  jobId = String((await api(sb.baseUrl, conn.accessToken).initiate({ resources: ['youtube.music'] })).body.archiveJobId);
  await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${jobId}:complete`, {});
  const url = new URL(((await api(sb.baseUrl, conn.accessToken).state(jobId)).body.urls as string[])[0] ?? '');
  archivePath = url.pathname + url.search;
});
afterAll(async () => {
  await sb.stop();
});

function rng(seed: number): () => number {
  return prng(seed).next;
}

type Rand = () => number;
const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)] as T;

const NASTY = [
  '',
  ' ',
  '%',
  '%zz',
  '%00',
  '%E0%A4%A',
  '\u0000',
  '../..',
  '__proto__',
  'constructor',
  '😀',
  'a'.repeat(5000),
  '{}',
  '[]',
  'null',
  '-1',
  '1e309',
  'true',
  "';--",
  '<script>',
];

function randomString(r: Rand): string {
  if (r() < 0.4) return pick(r, NASTY);
  const len = Math.floor(r() * 40);
  let s = '';
  for (let i = 0; i < len; i += 1) s += String.fromCharCode(32 + Math.floor(r() * 95));
  return s;
}

function randomJson(r: Rand, depth = 0): unknown {
  const roll = r();
  if (depth > 4 || roll < 0.3) return pick(r, [null, true, false, 0, -1, 1.5, 1e308, 'x', randomString(r)]);
  if (roll < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => randomJson(r, depth + 1));
  const keys = [
    'resources',
    'startTime',
    'start_time',
    'endTime',
    'end_time',
    'authorizeUrl',
    'grant',
    'deny',
    'user',
    'rules',
    'seconds',
    'audience',
    'email',
    'clientId',
    'clientSecret',
    'redirectUris',
    'jobDurationSeconds',
    'archiveBytes',
    '__proto__',
    randomString(r),
  ];
  const out: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 4); i > 0; i -= 1) out[pick(r, keys)] = randomJson(r, depth + 1);
  return out;
}

function randomBody(r: Rand): Buffer | undefined {
  const roll = r();
  if (roll < 0.15) return undefined;
  if (roll < 0.55) return Buffer.from(JSON.stringify(randomJson(r)));
  if (roll < 0.7) return Buffer.from(Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256)));
  if (roll < 0.85) return Buffer.from(`${randomString(r)}=${randomString(r)}&code=${randomString(r)}&grant_type=${pick(r, ['authorization_code', 'refresh_token', 'x'])}`);
  if (roll < 0.9) return Buffer.from('{"a":' + '['.repeat(5000));
  return Buffer.from(`{"resources": ["${randomString(r)}"], "startTime": "${randomString(r)}"}`);
}

function randomQuery(r: Rand): string {
  if (r() < 0.3) return '';
  const parts = Array.from(
    { length: 1 + Math.floor(r() * 5) },
    () =>
      `${pick(r, ['client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'access_token', 'id_token', 'token', 'X-Goog-Signature', 'X-Goog-Date', randomString(r)])}=${encodeURIComponent(randomString(r)).replace(/%25/g, pick(r, ['%', '%25']))}`,
  );
  return '?' + parts.join('&');
}

const PER_ROUTE = 150;

const ROUTES: Array<[string, () => string]> = [
  ['GET', () => '/o/oauth2/v2/auth'],
  ['POST', () => '/o/oauth2/v2/auth/consent'],
  ['POST', () => '/token'],
  ['POST', () => '/revoke'],
  ['GET', () => '/tokeninfo'],
  ['POST', () => '/v1/portabilityArchive:initiate'],
  ['GET', () => `/v1/archiveJobs/${jobId}/portabilityArchiveState`],
  ['POST', () => `/v1/archiveJobs/${jobId}:retry`],
  ['POST', () => `/v1/archiveJobs/${jobId}:cancel`],
  ['POST', () => '/v1/accessType:check'],
  ['GET', () => archivePath.split('?')[0] ?? ''],
  ['GET', () => '/.well-known/openid-configuration'],
  ['GET', () => '/oauth2/v3/certs'],
  ['GET', () => '/oauth2/v1/certs'],
  ['POST', () => '/sandbox/v1/consent'],
  ['POST', () => '/sandbox/v1/clients'],
  ['PUT', () => '/sandbox/v1/config'],
  ['POST', () => `/sandbox/v1/jobs/${jobId}:fail`],
  ['POST', () => '/sandbox/v1/clock:advance'],
  ['POST', () => '/sandbox/v1/faults'],
  ['GET', () => '/sandbox/v1/calls'],
  ['POST', () => '/sandbox/v1/idTokens'],
];

function randomPath(r: Rand, base: string): string {
  const roll = r();
  if (roll < 0.6) return base;
  if (roll < 0.75) return base + '/' + randomString(r).replace(/[?#\s]/g, '');
  if (roll < 0.9) return base.replace(/[^/]+$/, encodeURIComponent(randomString(r)).replace(/%25/g, '%'));
  return '/' + randomString(r).replace(/[?#\s]/g, '');
}

async function send(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined): Promise<number> {
  return (await rawRequest(sb.baseUrl, method, path, headers, body)).status;
}

describe('fuzz', () => {
  it('random requests to every route never get a 5xx', async () => {
    const r = rng(20240601);
    const failures: string[] = [];
    let sent = 0;
    const seen = new Set<number>();
    for (const [method, pathOf] of ROUTES) {
      for (let i = 0; i < PER_ROUTE; i += 1) {
        const m = r() < 0.85 ? method : pick(r, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);
        const path = (randomPath(r, pathOf()) + randomQuery(r)).replace(/[\s\u0000-\u001f\u007f-\u{10ffff}]/gu, (c) => encodeURIComponent(c));
        const body = m === 'GET' || m === 'HEAD' ? undefined : randomBody(r);
        const headers: Record<string, string> = {
          'Content-Type': pick(r, ['application/json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', '']),
        };
        const auth = r();
        if (auth < 0.5) headers.Authorization = `Bearer ${conn.accessToken}`;
        else if (auth < 0.7)
          headers.Authorization = pick(r, [
            'Bearer',
            'Basic !!!',
            'Basic ' + Buffer.from(randomString(r)).toString('base64'),
            'Bearer a b',
            randomString(r).replace(/[^\x20-\x7e]/g, ''),
          ]);
        if (r() < 0.3) headers.Range = pick(r, ['bytes=0-', 'bytes=-', 'bytes=9999999-', 'bytes=5-1', 'bytes=a-b', 'bytes=0-1,3-4', randomString(r).replace(/[^\x20-\x7e]/g, '')]);
        if (body) headers['Content-Length'] = String(body.length);
        try {
          const status = await send(m, path, headers, body);
          sent += 1;
          seen.add(status);
          if (status >= 500 || status === 0) failures.push(`${status} ${m} ${path.slice(0, 120)}`);
        } catch (err) {
          failures.push(`error ${m} ${path.slice(0, 120)}: ${(err as Error).message}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(sent).toBe(ROUTES.length * PER_ROUTE);
    // The fuzz reaches past validation too: successes and every family of 4xx occur.
    for (const s of [200, 400, 401, 404]) expect(seen).toContain(s);
    const alive = await call(sb.baseUrl, 'GET', '/oauth2/v3/certs');
    expect(alive.status).toBe(200);
  });

  it('random Mews requests (valid tokens, random fields, mangled file URLs) never get a 5xx', async () => {
    const tokens = { clientToken: 'fuzz-client', accessToken: 'fuzz-access' };
    await call(sb.baseUrl, 'POST', '/sandbox/v1/mews/tenants', tokens);
    const creds = { ClientToken: tokens.clientToken, AccessToken: tokens.accessToken, Client: 'fuzz 1.0' };
    const added = await call(sb.baseUrl, 'POST', '/mews/api/connector/v1/exports/add', { ...creds, EntityType: 'Customer' });
    const id = String((added.body.Export as { Id: string }).Id);
    await call(sb.baseUrl, 'POST', `/sandbox/v1/mews/exports/${id}:complete`, {});
    const got = await call(sb.baseUrl, 'POST', '/mews/api/connector/v1/exports/getAll', { ...creds, ExportIds: [id] });
    const fileUrl = new URL((got.body.Exports as Array<{ Files: Array<{ Url: string }> }>)[0]?.Files[0]?.Url ?? '');
    const r = rng(20261203);
    const failures: string[] = [];
    const seen = new Set<number>();
    for (let i = 0; i < 400; i += 1) {
      const roll = r();
      let method = 'POST';
      let path: string;
      let body: Buffer | undefined;
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (roll < 0.7) {
        path = `/mews/api/connector/v1/exports/${pick(r, ['add', 'getAll', 'getAll', encodeURIComponent(randomString(r))])}`;
        const fields: Record<string, unknown> = r() < 0.8 ? { ...creds } : {};
        if (r() < 0.3) fields[pick(r, ['ClientToken', 'AccessToken', 'Client'])] = randomJson(r);
        fields.EntityType = r() < 0.5 ? pick(r, ['OrderItem', 'Payment', 'Bill', 'Customer']) : randomJson(r);
        fields.ExportIds = r() < 0.5 ? [id, ...Array.from({ length: Math.floor(r() * 3) }, () => randomString(r))] : randomJson(r);
        body = r() < 0.85 ? Buffer.from(JSON.stringify(fields)) : randomBody(r);
      } else {
        method = pick(r, ['GET', 'GET', 'HEAD', 'POST']);
        const query = new URLSearchParams(fileUrl.search);
        if (r() < 0.6) query.set(pick(r, ['sv', 'st', 'se', 'sr', 'sp', 'sig', 'x']), randomString(r));
        const file = r() < 0.7 ? fileUrl.pathname : fileUrl.pathname.replace(/-1\.jsonl$/, `-${randomString(r)}.jsonl`);
        path = `${file}?${query.toString()}`.replace(/[\s\u0000-\u001f\u007f-\u{10ffff}]/gu, (c) => encodeURIComponent(c));
        if (r() < 0.4) headers.Range = pick(r, ['bytes=0-', 'bytes=-5', 'bytes=99999999-', 'bytes=5-1', 'bytes=x', randomString(r).replace(/[^\x20-\x7e]/g, '')]);
      }
      if (body) headers['Content-Length'] = String(body.length);
      try {
        const status = await send(method, path, headers, body);
        seen.add(status);
        if (status >= 500 || status === 0) failures.push(`${status} ${method} ${path.slice(0, 120)}`);
      } catch (err) {
        failures.push(`error ${method} ${path.slice(0, 120)}: ${(err as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
    for (const s of [200, 400, 401, 403, 404]) expect(seen).toContain(s);
  });

  it('huge bodies are refused with 413 in the route shape', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 0x7b);
    const status = await send(
      'POST',
      '/v1/portabilityArchive:initiate',
      { 'Content-Type': 'application/json', 'Content-Length': String(big.length), Authorization: `Bearer ${conn.accessToken}` },
      big,
    );
    expect(status).toBe(413);
    const tokenStatus = await send('POST', '/token', { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(big.length) }, big);
    expect(tokenStatus).toBe(413);
  });

  it('bad percent-encoding in paths and unknown paths get 4xx', async () => {
    expect(await send('GET', '/v1/archiveJobs/%E0%A4%A/portabilityArchiveState', {}, undefined)).toBe(400);
    expect(await send('GET', '/nothing/here', {}, undefined)).toBe(404);
    expect(await send('DELETE', '/token', {}, undefined)).toBe(405);
  });
});
