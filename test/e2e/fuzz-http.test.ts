import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePageToken } from '../../functions/core/ports/record-store.js';
import { startE2EStack, type E2EStack } from './stack.js';
import { prng, type Prng } from '../fixtures/prng.js';
import { writeZeros } from '../fixtures/http.js';

/**
 * Scenario 11 for the api and oauth functions: a few hundred hostile requests (bodies, query
 * strings, path segments, headers, unknown routes, wrong methods) generated from a fixed seed, so a
 * failure is reproducible. Pass = zero 5xx; every 4xx of the api function is a Google-style JSON
 * error, and every 400 about a body, query or path value names the field; the oauth function
 * answers people's browsers with an HTML page and `Referrer-Policy: no-referrer`. That includes
 * the requests the Functions Framework's own parsers refuse (bodies, charsets, encodings, paths):
 * platform/framework-errors.ts hands them to our functions.
 */
const SEED = 0x5eed_2026;

let stack: E2EStack;
let token: string;
beforeAll(async () => {
  stack = await startE2EStack('fuzz-http');
  token = await stack.callerToken();
});
afterAll(async () => {
  await stack?.stop();
});

type Rng = Prng;

type Fn = 'api' | 'oauth';
type Kind = 'body' | 'query' | 'path' | 'auth' | 'route' | 'cookie';
interface Case {
  readonly fn: Fn;
  readonly kind: Kind;
  readonly method: string;
  /** Path and query exactly as sent (may hold invalid percent-encoding). */
  readonly target: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  /**
   * The Functions Framework's body parser refuses this request before our code runs (a JSON body
   * that is not JSON, or not an object or array under its strict parser; an unsupported charset or
   * Content-Encoding; too many form parameters): our function must still answer 400 naming `body`.
   * (A path with invalid percent-encoding, refused by its router, is recognised from the target,
   * and is refused first: the router never reads the body.)
   */
  readonly frameworkParses?: boolean;
}

const HOSTILE_STRINGS = [
  '',
  ' ',
  'a',
  '0',
  '-1',
  'null',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'toString',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  "' OR '1'='1",
  '%00',
  '%',
  '%E0%A4%A',
  '\u0000',
  '\u0007bell',
  '\u202eevil',
  '€𝄞ü',
  '\ud800',
  'chrome.history',
  'consents/abc',
  'http://127.0.0.1:1/connected',
  'javascript:alert(1)',
];

function randomString(r: Rng): string {
  const roll = r.int(0, 9);
  if (roll <= 5) return r.pick(HOSTILE_STRINGS);
  if (roll <= 7) return Array.from({ length: r.int(1, 64) }, () => String.fromCharCode(r.int(0, 0x2fff))).join('');
  return r.pick(['x', 'é', '\u0001', 'ab']).repeat(r.pick([257, 2049, 20_000, 300_000]));
}

function randomJson(r: Rng, depth = 0): unknown {
  const roll = r.int(0, depth > 3 ? 4 : 7);
  switch (roll) {
    case 0:
      return randomString(r);
    case 1:
      return r.pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 42]);
    case 2:
      return r.chance(0.5);
    case 3:
      return null;
    case 4:
      return r.pick(['chrome.history', 'myactivity.search', 'nope']);
    case 5:
      return Array.from({ length: r.int(0, 5) }, () => randomJson(r, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = r.int(0, 4); i > 0; i--)
        out[r.pick(['appUserId', 'resources', 'returnUrl', 'autoStart', '__proto__', 'constructor', 'x', '', '$where'])] = randomJson(r, depth + 1);
      return out;
    }
  }
}

/** Percent-encodes every byte of the UTF-8 form (lone surrogates become U+FFFD first). */
function pct(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** Bodies for a JSON route: mutated valid bodies, junk, invalid JSON, other content types. */
function bodyCase(r: Rng, valid: () => Record<string, unknown>, fields: readonly string[]): Pick<Case, 'headers' | 'body' | 'frameworkParses'> {
  const roll = r.int(0, 11);
  if (roll <= 2) {
    const body = valid();
    body[r.pick(fields)] = randomJson(r);
    return { headers: JSON_HEADERS, body: JSON.stringify(body) };
  }
  if (roll === 3) {
    const body = valid();
    body[r.pick(['extra', 'unknownField', 'returnURL', 'app_user_id', 'name'])] = randomJson(r);
    return { headers: JSON_HEADERS, body: JSON.stringify(body) };
  }
  if (roll === 4) {
    const body = valid();
    delete body[r.pick(fields)];
    return { headers: JSON_HEADERS, body: JSON.stringify(body) };
  }
  if (roll === 5) {
    const value = r.pick<unknown>([[], [valid()], { nested: { deeper: [valid()] } }, randomJson(r), Object.fromEntries(fields.map((f) => [f, randomJson(r)]))]);
    // The framework's strict JSON parser refuses top-level primitives itself.
    return { headers: JSON_HEADERS, body: JSON.stringify(value), ...(typeof value === 'object' && value !== null ? {} : { frameworkParses: true }) };
  }
  if (roll === 6) {
    // JSON text that is not an object or array: the framework's strict JSON parser refuses it.
    return { headers: JSON_HEADERS, body: r.pick(['"text"', '42', 'null', 'true', '"\\u0000"']), frameworkParses: true };
  }
  if (roll === 7) {
    const invalid = [
      '{',
      '{"appUserId":}',
      "{'appUserId':'a'}",
      '{"appUserId":"a",}',
      '[1,2',
      'NaN',
      '{"a":1}garbage',
      '\u0000',
      '{"appUserId":"\\x41"}',
      '['.repeat(100_000),
      '<xml/>',
    ];
    return { headers: JSON_HEADERS, body: r.pick(invalid), frameworkParses: true };
  }
  if (roll === 8) {
    // Valid JSON nested deeply in a field.
    const body = valid();
    body[r.pick(fields)] = JSON.parse('['.repeat(500) + ']'.repeat(500));
    return { headers: JSON_HEADERS, body: JSON.stringify(body) };
  }
  if (roll === 9) {
    const type = r.pick(['text/plain', 'application/xml', 'application/octet-stream', 'multipart/form-data; boundary=x', 'image/png', 'application/json-patch+json']);
    return {
      headers: { 'Content-Type': type },
      body: r.pick([JSON.stringify(valid()), '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--', '<a/>', 'plain text']),
    };
  }
  if (roll === 10) {
    const form = new URLSearchParams();
    for (const f of fields) if (r.chance(0.7)) form.append(f, randomString(r).slice(0, 200));
    if (r.chance(0.5)) form.append('resources[]', 'chrome.history');
    if (r.chance(0.3)) form.append('resources[0][x]', 'y');
    return { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() };
  }
  return { headers: r.pick([JSON_HEADERS, {}]), body: '' };
}

function randomQueryValue(r: Rng): string {
  return r.pick([pct(randomString(r).slice(0, 500)), '%E0%A4%A', '%', '%%', '%zz', '%00', '%C0%AF', '', 'x'.repeat(r.pick([10, 3000, 6000]))]);
}

function queryString(r: Rng, keys: readonly string[]): string {
  const parts: string[] = [];
  for (let i = r.int(0, 5); i > 0; i--) {
    const key = r.chance(0.75) ? r.pick(keys) : r.pick(['unknown', '__proto__', 'constructor', 'a[]', 'a[b]', '', '%ZZ', 'key with space']);
    const form = r.int(0, 5);
    if (form === 0) parts.push(key);
    else if (form === 1) parts.push(`${key}[]=${randomQueryValue(r)}`);
    else if (form === 2) parts.push(`${key}=${randomQueryValue(r)}`, `${key}=${randomQueryValue(r)}`);
    else parts.push(`${key}=${randomQueryValue(r)}`);
  }
  if (r.chance(0.1)) parts.push('&&&', '=', '==');
  return parts.length ? `?${parts.join('&')}` : r.pick(['', '?', '?&']);
}

function garbageHeader(r: Rng): string {
  const printable = () => String.fromCharCode(r.int(0x20, 0x7e));
  return r.pick([
    '',
    'Bearer',
    'Bearer ',
    'Bearer null',
    `Bearer ${'A'.repeat(r.pick([10, 4000]))}`,
    'Bearer a.b.c',
    'Bearer e30.e30.',
    `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"email":"x@y"}').toString('base64url')}.`,
    `Basic ${Buffer.from('user:pass').toString('base64')}`,
    Array.from({ length: r.int(1, 200) }, printable).join(''),
    'Bearer é\u00ff',
  ]);
}

function garbageCookie(r: Rng, state?: string): string {
  const printable = () => String.fromCharCode(r.int(0x21, 0x7e));
  return r.pick([
    '',
    ';;;',
    '=',
    'dp_oauth_state',
    'dp_oauth_state=',
    `dp_oauth_state=${state ?? 'x'}`,
    `dp_oauth_state=${'x'.repeat(4000)}`,
    `a=b; dp_oauth_state=${state ?? 'y'}; dp_oauth_state=z`,
    `dp_oauth_state="${state ?? 'q'}"`,
    Array.from({ length: r.int(1, 300) }, printable).join(''),
    '__proto__=1; constructor=2',
  ]);
}

function generateCases(r: Rng): Case[] {
  const cases: Case[] = [];
  const authed = () => ({ Authorization: `Bearer ${token}` });
  const validSession = () => ({ appUserId: 'fuzz-user', resources: ['chrome.history'], returnUrl: stack.info.returnUrls[0] ?? '' });
  const consentIds = () =>
    r.pick([
      'abcDEF123',
      'A'.repeat(64),
      'A'.repeat(65),
      '%ZZ',
      '%E0%A4%A',
      '%2F..%2F',
      '..',
      '.',
      '%00',
      encodeURIComponent('ü'),
      'a%3Ab',
      'x'.repeat(3000),
      pct(randomString(r).slice(0, 100)) || 'y',
      '__name__',
    ]);

  // POST /v1/connectSessions: bodies.
  for (let i = 0; i < 90; i++) {
    cases.push({
      fn: 'api',
      kind: 'body',
      method: 'POST',
      target: '/v1/connectSessions',
      ...mergeHeaders(bodyCase(r, validSession, ['appUserId', 'resources', 'returnUrl', 'autoStart']), authed()),
    });
  }
  // GET /v1/consents: query strings.
  for (let i = 0; i < 70; i++) {
    let target = `/v1/consents${queryString(r, ['appUserId', 'pageSize', 'pageToken'])}`;
    if (i % 5 === 0) target = `/v1/consents?appUserId=fuzz-user&pageToken=${r.pick(['', 'x', 'cDE6', '!!!', 'p1:abc', 'cDE6YWJj', 'A'.repeat(2001), encodePageToken('zzz')])}`;
    if (i % 7 === 0) target = `/v1/consents?appUserId=fuzz-user&pageSize=${r.pick(['abc', '-1', '0', '101', '1.5', '1e3', 'Infinity', '0x10', '%20', ''])}`;
    cases.push({ fn: 'api', kind: 'query', method: 'GET', target, headers: authed() });
  }
  // GET /v1/consents/{id} and POST /v1/consents/{id}:revoke: path segments, bodies.
  for (let i = 0; i < 50; i++) {
    const id = consentIds();
    if (r.chance(0.5)) {
      cases.push({ fn: 'api', kind: 'path', method: 'GET', target: `/v1/consents/${id}${r.chance(0.2) ? queryString(r, ['x']) : ''}`, headers: authed() });
    } else {
      cases.push({
        fn: 'api',
        kind: 'path',
        method: 'POST',
        target: `/v1/consents/${id}:revoke`,
        ...mergeHeaders(
          bodyCase(r, () => ({}), ['reason', 'etag']),
          authed(),
        ),
      });
    }
  }
  // Garbage Authorization on every api route.
  for (let i = 0; i < 30; i++) {
    const route = r.pick<[string, string]>([
      ['POST', '/v1/connectSessions'],
      ['GET', '/v1/consents?appUserId=a'],
      ['GET', '/v1/consents/abc'],
      ['POST', '/v1/consents/abc:revoke'],
      ['GET', '/v1/nothing'],
    ]);
    const authorization = garbageHeader(r);
    cases.push({
      fn: 'api',
      kind: 'auth',
      method: route[0],
      target: route[1],
      headers: { ...(authorization === '' && r.chance(0.5) ? {} : { Authorization: authorization }), ...JSON_HEADERS, Cookie: garbageCookie(r) },
      ...(route[0] === 'POST' ? { body: JSON.stringify(validSession()) } : {}),
    });
  }
  // Unknown paths and wrong methods on the api function.
  const apiRoutes = ['/v1/connectSessions', '/v1/consents', '/v1/consents/abc', '/v1/consents/abc:revoke', '/healthz'];
  for (let i = 0; i < 30; i++) {
    const unknown = r.chance(0.5);
    const target = unknown
      ? r.pick([
          '/',
          '/v1',
          '/v2/consents',
          '/v1/consents/abc/def',
          '/v1/consents/abc:delete',
          '/v1/consents:revoke',
          '/v1/connectSessions/x',
          '/%ZZ',
          '/v1/consents/',
          '/admin',
          '/.env',
          '//v1/consents',
        ])
      : r.pick(apiRoutes);
    const method = unknown ? r.pick(['GET', 'POST', 'DELETE']) : r.pick(['PUT', 'PATCH', 'DELETE', 'OPTIONS', 'POST', 'GET']);
    cases.push({ fn: 'api', kind: 'route', method, target, headers: { ...authed(), ...JSON_HEADERS }, ...(method === 'GET' || method === 'OPTIONS' ? {} : { body: '{}' }) });
  }
  // GET /connect/{session} on the oauth function.
  for (let i = 0; i < 30; i++) {
    const session = r.pick([
      'A'.repeat(43),
      'A'.repeat(128),
      'A'.repeat(129),
      '%ZZ',
      '..',
      '%2e%2e',
      'a%2Fb',
      pct(randomString(r).slice(0, 200)) || 'z',
      Array.from({ length: 43 }, () => r.pick([...'abcXYZ019_-'])).join(''),
    ]);
    cases.push({
      fn: 'oauth',
      kind: 'path',
      method: r.pick(['GET', 'GET', 'GET', 'POST', 'HEAD']),
      target: `/connect/${session}${r.chance(0.3) ? queryString(r, ['state', 'x']) : ''}`,
      headers: { Cookie: garbageCookie(r) },
    });
  }
  // GET /oauth2/callback: query strings and cookies.
  for (let i = 0; i < 70; i++) {
    const state = r.pick(['A'.repeat(43), 'x', '', randomString(r).slice(0, 100)]);
    const target = r.chance(0.5)
      ? `/oauth2/callback${queryString(r, ['state', 'code', 'error', 'scope', 'error_description'])}`
      : `/oauth2/callback?state=${pct(state)}&${r.pick(['code=4/0sandbox-x', 'error=access_denied', 'error=%E0%A4%A', `error=${'e'.repeat(3000)}`, 'code=', 'code=a&code=b', 'error[]=x'])}`;
    cases.push({ fn: 'oauth', kind: 'cookie', method: r.pick(['GET', 'GET', 'GET', 'POST']), target, headers: { Cookie: garbageCookie(r, pct(state)) } });
  }
  // Unknown paths on the oauth function.
  for (let i = 0; i < 15; i++) {
    cases.push({
      fn: 'oauth',
      kind: 'route',
      method: r.pick(['GET', 'POST', 'PUT', 'DELETE']),
      target: r.pick(['/', '/connect', '/connect/', '/oauth2', '/oauth2/callback/x', '/%ZZ', '/v1/consents', '/.git/config']),
      headers: {},
    });
  }
  // Bodies the framework's parsers refuse for reasons other than JSON syntax (fixed, after the
  // seeded cases so they do not shift them).
  const valid = JSON.stringify(validSession());
  const refusedBodies: { headers: Record<string, string>; body: string }[] = [
    { headers: { 'Content-Type': 'application/json; charset=iso-8859-1' }, body: valid },
    { headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'compress' }, body: valid },
    { headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, body: valid },
    { headers: { 'Content-Type': 'text/plain; charset=koi8-xx' }, body: valid },
    { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: Array.from({ length: 1001 }, (_, i) => `p${i}=1`).join('&') },
    { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `a${'[b]'.repeat(40)}=1` },
  ];
  for (const { headers, body } of refusedBodies) {
    cases.push({ fn: 'api', kind: 'body', method: 'POST', target: '/v1/connectSessions', headers: { ...headers, ...authed() }, body, frameworkParses: true });
    cases.push({ fn: 'api', kind: 'body', method: 'POST', target: '/v1/consents/abc:revoke', headers: { ...headers, ...authed() }, body, frameworkParses: true });
    cases.push({ fn: 'oauth', kind: 'body', method: 'POST', target: '/connect/abc', headers, body, frameworkParses: true });
  }
  return cases;
}

function mergeHeaders(part: Pick<Case, 'headers' | 'body' | 'frameworkParses'>, extra: Record<string, string>) {
  return { ...part, headers: { ...part.headers, ...extra } };
}

/** True when the path (not the query) holds percent-encoding that does not decode. */
function badPathEncoding(target: string): boolean {
  try {
    decodeURIComponent(target.split('?')[0] ?? '');
    return false;
  } catch {
    return true;
  }
}

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly referrerPolicy: string | null;
  readonly text: string;
}

async function send(c: Case): Promise<Answer> {
  const base = stack.info.functions[c.fn]!.url;
  const res = await fetch(base + c.target, { method: c.method, headers: c.headers, redirect: 'manual', ...(c.body === undefined ? {} : { body: c.body }) });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', referrerPolicy: res.headers.get('referrer-policy'), text: await res.text() };
}

interface GoogleError {
  error?: {
    code?: unknown;
    status?: unknown;
    message?: unknown;
    details?: { '@type'?: string; fieldViolations?: { field?: unknown; description?: unknown }[]; reason?: string }[];
  };
}

/** What is wrong with one answer, or undefined. */
function check(c: Case, a: Answer): string | undefined {
  if (a.status >= 500) return `5xx: ${a.status} ${a.text.slice(0, 300)}`;
  // No answer shows a stack trace or source paths.
  if (/node_modules|\.[cm]?[jt]s:\d+|\n\s+at /.test(a.text)) return `${c.fn} ${a.status} leaks a stack trace: ${a.text.slice(0, 300)}`;
  // What the framework's parsers refuse is bad input like any other: 400, answered by our function
  // (every api case of this kind carries a valid token, so authentication does not come first).
  const refusedByFramework = c.frameworkParses === true || badPathEncoding(c.target);
  // A method the path does not take is refused (405) before its body would be read.
  if (refusedByFramework && a.status !== 400 && a.status !== 405) return `${c.fn} ${a.status} for a request the framework cannot parse, not 400: ${a.text.slice(0, 200)}`;
  if (a.status < 400) return undefined;
  if (c.fn === 'oauth') {
    if (a.referrerPolicy !== 'no-referrer') return `oauth ${a.status} without Referrer-Policy: no-referrer`;
    if (c.method !== 'HEAD' && !a.contentType.startsWith('text/html')) return `oauth ${a.status} answered ${a.contentType || 'no content type'}, not an HTML page`;
    return undefined;
  }
  if (!a.contentType.startsWith('application/json')) {
    return `api ${a.status} answered ${a.contentType || 'no content type'}: ${a.text.slice(0, 200)}`;
  }
  let body: GoogleError;
  try {
    body = JSON.parse(a.text) as GoogleError;
  } catch {
    return `api ${a.status}: JSON content type but unparsable body`;
  }
  const e = body.error;
  if (!e || e.code !== a.status || typeof e.status !== 'string' || typeof e.message !== 'string' || e.message === '' || !Array.isArray(e.details)) {
    return `api ${a.status}: not a Google-style error body: ${a.text.slice(0, 200)}`;
  }
  if (a.status === 400 && e.status === 'INVALID_ARGUMENT' && (c.kind === 'body' || c.kind === 'query' || c.kind === 'path' || refusedByFramework)) {
    const violations = e.details.filter((d) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest').flatMap((d) => d.fieldViolations ?? []);
    const named = violations.length > 0 && violations.every((v) => typeof v.field === 'string' && typeof v.description === 'string' && v.description !== '');
    const methodRefusal = e.details.some((d) => d.reason === 'METHOD_NOT_ALLOWED');
    if (!named && !methodRefusal) return `api 400 without a named field: ${a.text.slice(0, 300)}`;
    // A path that does not decode is refused first (the framework's router never reads the body).
    if (c.frameworkParses && !badPathEncoding(c.target) && !violations.some((v) => v.field === 'body'))
      return `api 400 for an unparsable body does not name body: ${a.text.slice(0, 300)}`;
  }
  return undefined;
}

describe('fuzzed HTTP requests to the api and oauth functions', () => {
  it(`a few hundred hostile requests (seed ${SEED.toString(16)}) → zero 5xx, Google-style 4xx naming the field`, async () => {
    const cases = generateCases(prng(SEED));
    expect(cases.length).toBeGreaterThanOrEqual(300);
    const violations: string[] = [];
    let frameworkRefused = 0;
    const statuses = new Map<number, number>();
    let namedFieldErrors = 0;
    for (const [i, c] of cases.entries()) {
      let answer: Answer;
      try {
        answer = await send(c);
      } catch (error) {
        violations.push(`#${i} ${c.fn} ${c.method} ${c.target.slice(0, 120)}: no answer (${String(error)})`);
        continue;
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.text.includes('fieldViolations')) namedFieldErrors++;
      if (c.frameworkParses || badPathEncoding(c.target)) frameworkRefused++;
      const problem = check(c, answer);
      if (problem) {
        violations.push(
          `#${i} ${c.fn} ${c.kind} ${c.method} ${c.target.slice(0, 160)} ${JSON.stringify(c.headers).slice(0, 120)} body=${JSON.stringify(c.body?.slice(0, 120))}: ${problem}`,
        );
      }
    }
    // Still alive and serving after the barrage.
    expect((await stack.api('/healthz', { token: null })).status).toBe(200);
    expect((await stack.api('/v1/consents?appUserId=fuzz-user')).status).toBe(200);
    console.info(
      `fuzz-http: ${cases.length} requests; statuses ${JSON.stringify(Object.fromEntries(statuses))}; refused by the Functions Framework's parsers and answered by our functions: ${frameworkRefused}`,
    );
    expect(violations).toEqual([]);
    expect(frameworkRefused).toBeGreaterThan(20);
    // The barrage reached our validation, not only the edges.
    expect(namedFieldErrors).toBeGreaterThan(50);
    expect(statuses.get(401) ?? 0).toBeGreaterThan(10);
  });

  it('page tokens that decode to ids Firestore cannot use as a cursor → 400 naming pageToken (not 5xx)', async () => {
    const problems: string[] = [];
    for (const id of ['a/b', '../x', '__x__', '__name__', 'a'.repeat(1600)]) {
      const pageToken = encodePageToken(id);
      const res = await stack.api(`/v1/consents?appUserId=fuzz-user&pageToken=${pageToken}`);
      const text = await res.text();
      if (res.status !== 400 || !text.includes('"field":"pageToken"'))
        problems.push(`pageToken=${pageToken} (p1:${JSON.stringify(id).slice(0, 20)}) → ${res.status} ${text.slice(0, 200)}`);
    }
    expect(problems).toEqual([]);
  });

  it('bodies the framework cannot parse, over the size limit, and paths it cannot decode → our 400 (Google-style; the HTML page on oauth), never a 5xx or a write', async () => {
    const api = stack.info.functions['api']!.url;
    const authed = { ...JSON_HEADERS, Authorization: `Bearer ${token}` };
    const sessionsBefore = await stack.count('connectSessions');
    for (const [body, description] of [
      ['{', 'is not valid JSON'],
      ['{"appUserId":}', 'is not valid JSON'],
      ['"text"', 'must be a JSON object, not a bare JSON value'],
      ['42', 'must be a JSON object, not a bare JSON value'],
      ['null', 'must be a JSON object, not a bare JSON value'],
    ]) {
      const res = await fetch(`${api}/v1/connectSessions`, { method: 'POST', headers: authed, body });
      expect(await violationsOf(res), body).toEqual([{ field: 'body', description }]);
    }
    // Over the api's 1 MiB limit, with a Content-Length: refused before a byte is read (the client
    // still sends 1 GiB, which Node discards).
    const limit = 1024 ** 2;
    const big = await postZeros(`${api}/v1/connectSessions`, { ...authed, 'Content-Length': String(1024 ** 3) }, 1024 ** 3);
    expect({ status: big.status, json: big.contentType.startsWith('application/json') }).toEqual({ status: 400, json: true });
    expect(JSON.parse(big.text)).toMatchObject({
      error: { code: 400, status: 'INVALID_ARGUMENT', details: [{ fieldViolations: [{ field: 'body', description: `exceeds the size limit of ${limit} bytes` }] }] },
    });
    // A gzip body from an authenticated caller: refused on its Content-Encoding, never inflated. (A
    // small one: a body of many packets races the server's answer and close; the real bomb is
    // decompression-bomb.test.ts's.)
    const bomb = await fetch(`${api}/v1/connectSessions`, { method: 'POST', headers: { ...authed, 'Content-Encoding': 'gzip' }, body: gzipSync(Buffer.alloc(64 * 1024)) });
    expect(await violationsOf(bomb)).toEqual([{ field: 'body', description: 'has an unsupported Content-Encoding (send it uncompressed)' }]);
    expect(await stack.count('connectSessions')).toBe(sessionsBefore);

    const path = await fetch(`${api}/v1/consents/%ZZ`, { headers: { Authorization: `Bearer ${token}` } });
    expect(await violationsOf(path)).toEqual([{ field: 'id', description: 'is not valid percent-encoding' }]);
    const page = await fetch(`${stack.info.functions['oauth']!.url}/connect/%E0%A4%A`, { redirect: 'manual' });
    expect(page.status).toBe(400);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('location')).toBeNull();
    expect(await page.text()).not.toMatch(/Failed to decode|URIError/);
  });
});

describe('requests to the worker endpoints (Pub/Sub push targets)', () => {
  const workers = ['initiate', 'poll', 'transfer', 'deadletter', 'webhooks', 'webhook-delivery'] as const;
  const post = (fn: string, init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array }) =>
    fetch(stack.info.functions[fn]!.url + '/', {
      method: init.method ?? 'POST',
      ...(init.headers ? { headers: init.headers } : {}),
      ...(init.body === undefined ? {} : { body: init.body }),
    });

  it('a GET (405, Allow: POST), an empty POST, a body that is not JSON or is compressed → a Google-style 400, never a 5xx', async () => {
    const problems: string[] = [];
    for (const fn of workers) {
      for (const init of [
        { method: 'GET' },
        { method: 'DELETE' },
        {},
        { headers: JSON_HEADERS, body: '' },
        { headers: { 'Content-Type': 'text/plain' }, body: '{"message":{}}' },
        { headers: { ...JSON_HEADERS, 'Content-Encoding': 'gzip' }, body: gzipSync('{"message":{}}') },
      ]) {
        const res = await post(fn, init);
        const text = await res.text();
        const wrongMethod = init.method !== undefined;
        if (wrongMethod && res.headers.get('allow') !== 'POST') problems.push(`${fn} ${init.method} → no Allow: POST`);
        if (res.status !== (wrongMethod ? 405 : 400) || !(res.headers.get('content-type') ?? '').startsWith('application/json') || !text.includes('INVALID_ARGUMENT'))
          problems.push(`${fn} ${JSON.stringify(init).slice(0, 120)} → ${res.status} ${text.slice(0, 160)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('malformed push envelopes (ids with "/", over 1,500 bytes, none; junk data and attributes), each sent twice → acked, never a 5xx, one undeliverable record each', async () => {
    const r = prng(SEED + 16);
    const before = await stack.count('undeliverable');
    const problems: string[] = [];
    let distinct = 0;
    for (const fn of workers) {
      for (let i = 0; i < 8; i++) {
        const id = r.pick<string | undefined>([`fz/${fn}/${i}`, `${'x'.repeat(2000)}-${fn}-${i}`, `${'€'.repeat(600)}${fn}${i}`, undefined, `..${fn}${i}`, `${fn}-${i}`]);
        const attributes = r.chance(0.5)
          ? { CloudPubSubDeadLetterSourceSubscription: r.pick(['projects/p/subscriptions/s', 's'.repeat(3000), 'a\u0000b']), junk: 'é'.repeat(r.int(0, 2000)) }
          : {};
        const data = Buffer.from(r.pick([`{"job":"${fn}-${i}"}`, `not json ${fn} ${i}`, `{"file":-1,"n":"${fn}${i}"}`, `[${i},"${fn}"]`])).toString('base64');
        const body = JSON.stringify({
          subscription: `projects/p/subscriptions/fuzz-${fn}`,
          message: { data, attributes, ...(id === undefined ? {} : { messageId: id }), publishTime: r.pick(['2026-11-23T10:00:00Z', '0000-01-01T00:00:00Z', 'junk']) },
        });
        distinct++;
        for (let delivery = 0; delivery < 2; delivery++) {
          const res = await post(fn, { headers: JSON_HEADERS, body });
          if (res.status >= 300) problems.push(`${fn} #${i} id=${String(id).slice(0, 30)} → ${res.status} ${(await res.text()).slice(0, 160)}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(await stack.count('undeliverable')).toBe(before + distinct);
  });
});

/** The field violations of a Google-style 400 INVALID_ARGUMENT answer (its shape checked). */
async function violationsOf(res: Response): Promise<unknown[]> {
  const text = await res.text();
  expect(res.status, text).toBe(400);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as GoogleError;
  expect(body.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
  return (body.error?.details ?? []).flatMap((d) => d.fieldViolations ?? []);
}

/** POSTs `bytes` zero bytes with the headers exactly as given (fetch cannot send a Content-Length). */
function postZeros(url: string, headers: Record<string, string>, bytes: number): Promise<{ status: number; contentType: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    writeZeros(req, bytes);
  });
}
