import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../functions/core/errors.js';
import type { RecordStore } from '../../functions/core/ports/record-store.js';
import { forwardFrameworkRefusals } from '../../functions/platform/framework-errors.js';
import { jsonPayload, pubsubFunction } from '../../functions/platform/events.js';
import { httpFunction, type Route } from '../../functions/platform/http.js';
import { parseWith } from '../../functions/platform/validation.js';
import type { UndeliverableMessage } from '../../functions/core/undeliverable.js';
import { z } from 'zod';
import { createRuntime } from '../../functions/platform/runtime.js';
import { MemoryRecordStore } from '../fakes/memory-record-store.js';
import { developmentEnv } from '../fixtures/env.js';
import { writeZeros } from '../fixtures/http.js';

/**
 * Requests the Functions Framework refuses before a function runs (a body it cannot parse, a path
 * it cannot decode), through the real framework server: they reach httpFunction's error answer.
 */
const rt = createRuntime(developmentEnv(), { store: <T>() => new MemoryRecordStore<unknown>() as unknown as RecordStore<T> });
let handled = 0;
let events = 0;
const routes: Route[] = [
  { method: 'POST', path: /^\/v1\/things$/, handle: async (req) => (handled++, { status: 200, body: { got: req.body as unknown } }) },
  { method: 'GET', path: /^\/v1\/things\/(?<id>[^/]+)$/, handle: async (_req, ctx) => (handled++, { status: 200, body: { id: ctx.params['id'] } }) },
  { method: 'GET', path: /^\/v1\/safe$/, head: true, handle: async () => ({ status: 200, body: { ok: true } }) },
];
const authenticate = async (req: { headers: IncomingHttpHeaders }) => {
  if (req.headers.authorization !== 'Bearer good') throw new AppError('UNAUTHENTICATED', 'missing or invalid credentials');
  return { email: 'caller@example.com' };
};

forwardFrameworkRefusals();
ff.http('refusals-api', httpFunction('api', rt, routes, { authenticate }));
ff.http('refusals-oauth', httpFunction('oauth', rt, routes, { htmlErrors: true, headers: { 'Referrer-Policy': 'no-referrer' } }));
ff.cloudEvent('refusals-event', async () => void events++);
ff.http(
  'refusals-worker',
  pubsubFunction(
    'worker',
    rt,
    (m) => parseWith(z.object({ job: z.string() }).strict(), jsonPayload(m)),
    async () => void events++,
  ),
);

const servers = new Map<string, { server: Server; port: number }>();
beforeAll(async () => {
  for (const name of ['refusals-api', 'refusals-oauth', 'refusals-event', 'refusals-worker']) {
    const server = getTestServer(name);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.set(name, { server, port: (server.address() as AddressInfo).port });
  }
});
afterAll(async () => {
  for (const { server } of servers.values()) await new Promise((resolve) => server.close(resolve));
});

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** A raw request (path and headers exactly as given); `zeros` streams that many zero bytes as the body. */
function send(fn: string, method: string, path: string, headers: Record<string, string>, body?: string | Buffer | { zeros: number }): Promise<Answer> {
  const { port } = servers.get(fn)!;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    writeZeros(req, body.zeros);
  });
}

const JSON_AUTHED = { 'Content-Type': 'application/json', Authorization: 'Bearer good' };

/** The Google-style error of an answer, checked for shape; returns its field violations. */
function googleError(a: Answer, status = 400): { field: string; description: string }[] {
  expect(a.status, a.text).toBe(status);
  expect(a.headers['content-type']).toMatch(/^application\/json/);
  expect(a.headers['cache-control']).toBe('no-store');
  const body = JSON.parse(a.text) as {
    error: { code: number; status: string; message: string; details: { '@type': string; fieldViolations?: { field: string; description: string }[] }[] };
  };
  expect(body.error.code).toBe(status);
  expect(typeof body.error.message).toBe('string');
  const badRequest = body.error.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest');
  if (status === 400) expect(body.error.status).toBe('INVALID_ARGUMENT');
  return badRequest?.fieldViolations ?? [];
}

describe('requests the Functions Framework refuses itself', () => {
  it('a body that is not valid JSON → Google-style 400 naming the body; the route never runs', async () => {
    const before = handled;
    for (const body of ['{"a":', '{"a":1}garbage', "{'a':1}", '[1,2', '<xml/>']) {
      expect(googleError(await send('refusals-api', 'POST', '/v1/things', JSON_AUTHED, body)), body).toEqual([{ field: 'body', description: 'is not valid JSON' }]);
    }
    for (const body of ['"text"', '42', 'null', 'true']) {
      expect(googleError(await send('refusals-api', 'POST', '/v1/things', JSON_AUTHED, body)), body).toEqual([
        { field: 'body', description: 'must be a JSON object, not a bare JSON value' },
      ]);
    }
    expect(handled).toBe(before);
    // A body that parses still reaches the route.
    const ok = await send('refusals-api', 'POST', '/v1/things', JSON_AUTHED, '{"a":1}');
    expect({ status: ok.status, body: JSON.parse(ok.text) as unknown }).toEqual({ status: 200, body: { got: { a: 1 } } });
  });

  it('a path that is not valid percent-encoding → 400 naming the route parameter, or the path', async () => {
    const before = handled;
    expect(googleError(await send('refusals-api', 'GET', '/v1/things/%E0%A4%A', { Authorization: 'Bearer good' }))).toEqual([
      { field: 'id', description: 'is not valid percent-encoding' },
    ]);
    expect(googleError(await send('refusals-api', 'GET', '/%ZZ/things', { Authorization: 'Bearer good' }))).toEqual([
      { field: 'path', description: 'is not valid percent-encoding' },
    ]);
    expect(handled).toBe(before);
  });

  it('an unsupported charset or Content-Encoding, too many or too deep form parameters → 400 naming the body', async () => {
    const cases: [Record<string, string>, string, string][] = [
      [{ 'Content-Type': 'application/json; charset=iso-8859-1' }, '{"a":1}', 'has an unsupported charset (send UTF-8)'],
      [{ 'Content-Type': 'application/json', 'Content-Encoding': 'compress' }, '{"a":1}', 'has an unsupported Content-Encoding (send it uncompressed)'],
      [{ 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, 'not gzip', 'has an unsupported Content-Encoding (send it uncompressed)'],
      [{ 'Content-Type': 'application/x-www-form-urlencoded' }, Array.from({ length: 1001 }, (_, i) => `p${i}=1`).join('&'), 'has too many form parameters'],
      [{ 'Content-Type': 'application/x-www-form-urlencoded' }, `a${'[b]'.repeat(40)}=1`, 'nests form parameters too deeply'],
      [{ 'Content-Type': 'text/plain; charset=koi8-xx' }, 'text', 'has an unsupported charset (send UTF-8)'],
    ];
    for (const [headers, body, description] of cases) {
      expect(googleError(await send('refusals-api', 'POST', '/v1/things', { ...headers, Authorization: 'Bearer good' }, body)), JSON.stringify(headers)).toEqual([
        { field: 'body', description },
      ]);
    }
  });

  it('a body over the route limit (1 MiB) → 400 naming the body, before a byte of it is read', async () => {
    const before = handled;
    const limit = 1024 * 1024;
    // 1 GiB announced: refused on its Content-Length (Node discards what the client still sends).
    const answer = await send('refusals-api', 'POST', '/v1/things', { ...JSON_AUTHED, 'Content-Length': String(1024 ** 3) }, { zeros: 1024 ** 3 });
    expect(googleError(answer)).toEqual([{ field: 'body', description: `exceeds the size limit of ${limit} bytes` }]);
    const justOver = await send('refusals-api', 'POST', '/v1/things', JSON_AUTHED, `{"a":"${'x'.repeat(limit)}"}`);
    expect(googleError(justOver)).toEqual([{ field: 'body', description: `exceeds the size limit of ${limit} bytes` }]);
    // Exactly at the limit still reaches the route.
    const at = await send('refusals-api', 'POST', '/v1/things', JSON_AUTHED, `{"a":"${'x'.repeat(limit - 8)}"}`);
    expect(at.status).toBe(200);
    expect(handled).toBe(before + 1);
  }, 60_000);

  it('a compressed body (a gzip bomb) or a chunked one → 400 naming the body, never inflated or read', async () => {
    const before = handled;
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    for (const encoding of ['gzip', 'deflate', 'br', 'GZIP', 'identity, gzip']) {
      const a = await send('refusals-api', 'POST', '/v1/things', { ...JSON_AUTHED, 'Content-Encoding': encoding }, bomb);
      expect(googleError(a), encoding).toEqual([{ field: 'body', description: 'has an unsupported Content-Encoding (send it uncompressed)' }]);
    }
    const chunked = await send('refusals-api', 'POST', '/v1/things', { ...JSON_AUTHED, 'Transfer-Encoding': 'chunked' }, '{"a":1}');
    expect(googleError(chunked)).toEqual([{ field: 'body', description: 'must be sent with a Content-Length header, not chunked' }]);
    // Identity spelled out is fine.
    expect((await send('refusals-api', 'POST', '/v1/things', { ...JSON_AUTHED, 'Content-Encoding': 'identity' }, '{"a":1}')).status).toBe(200);
    expect(handled).toBe(before + 1);
  });

  it('a body where the route takes none (GET, a route of a function without bodies) → 400 before parsing', async () => {
    const before = handled;
    for (const body of ['{"a":1}', '{"a":', 'x=1']) {
      // (Node's client sends a GET's body only with an explicit Content-Length.)
      const a = await send('refusals-api', 'GET', '/v1/things/abc', { ...JSON_AUTHED, 'Content-Length': String(body.length) }, body);
      expect(googleError(a), body).toEqual([{ field: 'body', description: 'must be empty: this request takes no body' }]);
    }
    const gz = gzipSync('{}');
    const page = await send('refusals-oauth', 'GET', '/v1/things/abc', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Content-Length': String(gz.length) }, gz);
    expect(page.status).toBe(400);
    expect(page.text).toContain('must be empty');
    // Without a body (or with an empty one) the route runs.
    expect((await send('refusals-api', 'GET', '/v1/things/abc', { Authorization: 'Bearer good', 'Content-Length': '0' })).status).toBe(200);
    expect(handled).toBe(before + 1);
  });

  it('HEAD runs only GET routes that opt in: a side-effecting GET is never run by a HEAD', async () => {
    const before = handled;
    const head = await send('refusals-api', 'HEAD', '/v1/things/abc', { Authorization: 'Bearer good' });
    expect(head.status).toBe(405);
    expect(head.headers.allow).toBe('GET');
    expect(handled).toBe(before);
    const safe = await send('refusals-api', 'HEAD', '/v1/safe', { Authorization: 'Bearer good' });
    expect(safe.status).toBe(200);
    expect(safe.text).toBe('');
  });

  it("every answer, the framework's own included, carries nosniff and a strict Content-Security-Policy", async () => {
    const answers = [
      await send('refusals-api', 'GET', '/v1/things/abc', { Authorization: 'Bearer good' }),
      await send('refusals-api', 'GET', '/v1/things/abc', {}),
      await send('refusals-api', 'GET', '/%ZZ/things', { Authorization: 'Bearer good' }),
      await send('refusals-oauth', 'GET', '/nowhere', {}),
      await send('refusals-oauth', 'GET', '/favicon.ico', {}),
      await send('refusals-oauth', 'GET', '/robots.txt', {}),
    ];
    for (const a of answers) {
      expect(a.headers['x-content-type-options']).toBe('nosniff');
      const csp = String(a.headers['content-security-policy']);
      for (const directive of ["default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]) expect(csp).toContain(directive);
      expect(csp).not.toMatch(/script-src|unsafe-eval|\*/);
    }
  });

  it('authentication still comes first: an unauthenticated caller with a broken body gets 401', async () => {
    googleError(await send('refusals-api', 'POST', '/v1/things', { 'Content-Type': 'application/json' }, '{"a":'), 401);
  });

  it('a browser-facing function answers with its HTML page and headers, escaping what it echoes', async () => {
    for (const [method, path, headers, body] of [
      ['GET', '/connect/%E0%A4%A', {}, undefined],
      ['POST', '/v1/things', { 'Content-Type': 'application/json' }, '{"<script>":'],
    ] as const) {
      const a = await send('refusals-oauth', method, path, headers, body);
      expect(a.status).toBe(400);
      expect(a.headers['content-type']).toMatch(/^text\/html/);
      expect(a.headers['referrer-policy']).toBe('no-referrer');
      expect(a.text).toContain('Something went wrong');
      expect(a.text).not.toMatch(/<script>|Failed to decode|SyntaxError|\n\s+at /);
    }
  });

  it('an event function answers a GET, an empty POST, a body that is not JSON or is compressed with a Google-style 400 (never a 5xx)', async () => {
    const before = events;
    const cases: [string, Record<string, string>, string | Buffer | undefined, string][] = [
      ['GET', {}, undefined, 'METHOD_NOT_ALLOWED'],
      ['PUT', { 'Content-Type': 'application/json' }, '{}', 'METHOD_NOT_ALLOWED'],
      ['POST', {}, undefined, 'body'],
      ['POST', { 'Content-Type': 'application/json' }, '', 'body'],
      ['POST', { 'Content-Type': 'text/plain' }, '{"message":{}}', 'body'],
      ['POST', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, gzipSync(Buffer.alloc(32 * 1024 * 1024)), 'body'],
    ];
    for (const [method, headers, body, named] of cases) {
      for (const fn of ['refusals-worker', 'refusals-event']) {
        const a = await send(fn, method, '/', headers, body);
        expect(a.status, `${fn} ${method} ${JSON.stringify(headers)}`).toBe(named === 'METHOD_NOT_ALLOWED' ? 405 : 400);
        if (named === 'METHOD_NOT_ALLOWED') expect(a.headers.allow).toBe('POST');
        expect(a.headers['content-type']).toMatch(/^application\/json/);
        expect(a.text).toContain(named);
      }
    }
    expect(events).toBe(before);
  });

  it('a push with a message id that cannot name a record, or none, is recorded once under its own safe id and acked', async () => {
    const undeliverable = rt.store<UndeliverableMessage>('undeliverable');
    const push = (messageId: string | undefined, data: string) =>
      send(
        'refusals-worker',
        'POST',
        '/',
        { 'Content-Type': 'application/json' },
        JSON.stringify({
          subscription: 'projects/p/subscriptions/s',
          message: { data: Buffer.from(data).toString('base64'), ...(messageId === undefined ? {} : { messageId }), publishTime: '2026-11-23T10:00:00Z' },
        }),
      );
    const ids = ['a/b', '../..', 'x'.repeat(2000), '€'.repeat(600), '123456789'];
    for (const id of ids) {
      for (let i = 0; i < 2; i++) expect((await push(id, '{"bad":1}')).status, id.slice(0, 20)).toBe(204);
    }
    for (const data of ['{"no-id":1}', '{"no-id":2}', '{"no-id":1}']) expect((await push(undefined, data)).status).toBe(204);
    const records = (await undeliverable.list({ pageSize: 100 })).items;
    expect(records).toHaveLength(ids.length + 2);
    for (const r of records) {
      expect(r.id).not.toContain('/');
      expect(Buffer.byteLength(r.id)).toBeLessThan(1500);
      expect(r.value.kind).toBe('REJECTED');
    }
    expect(records.map((r) => r.value.messageId)).toContain('123456789');
  });

  it('a worker answers a push body that is not valid JSON with a Google-style 400 naming the body, so it is redelivered, never acked', async () => {
    const before = events;
    const a = await send('refusals-worker', 'POST', '/', { 'Content-Type': 'application/json' }, '{"message":');
    expect(a.status).toBe(400);
    expect(a.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(a.text)).toMatchObject({ error: { status: 'INVALID_ARGUMENT', details: [{ fieldViolations: [{ field: 'body', description: 'is not valid JSON' }] }] } });
    expect(events).toBe(before);
  });

  it('an event function is left to the framework for a JSON body it cannot parse (a broken push body is not acked as an event)', async () => {
    const a = await send('refusals-event', 'POST', '/', { 'Content-Type': 'application/json' }, '{"a":');
    expect(a.status).toBe(400);
    expect(a.headers['content-type']).not.toMatch(/^application\/json/);
    expect(events).toBe(0);
  });
});
