import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeWebhookTransport } from '../../../functions/adapters/node-webhook-transport.js';
import type { WebhookRequest } from '../../../functions/core/ports/webhook-transport.js';
import { isPublicAddress } from '../../../functions/core/webhooks/addresses.js';

/** The HTTP adapter against a local receiver: what reaches it, and every way an attempt can end. */
const received: { path: string; headers: IncomingMessage['headers']; body: string }[] = [];
const routes: Record<string, (res: ServerResponse) => void> = {
  '/ok': (res) => res.writeHead(204).end(),
  '/redirect': (res) => res.writeHead(307, { Location: '/ok' }).end(),
  '/slow': () => undefined, // never answers
  '/huge': (res) => {
    res.writeHead(500);
    const chunk = Buffer.alloc(64 * 1024, 120);
    const write = () => {
      while (res.write(chunk));
      res.once('drain', write);
    };
    write();
  },
};
let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      (routes[req.url ?? ''] ?? ((r: ServerResponse) => r.writeHead(404).end()))(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const transport = new NodeWebhookTransport();
const post = (path: string, overrides: Partial<WebhookRequest> = {}) =>
  transport.post({
    url: `${base}${path}`,
    headers: { 'Webhook-Id': 'e1', 'Content-Type': 'application/json' },
    body: '{"a":1}',
    timeoutMs: 2_000,
    maxResponseBytes: 1024,
    addressAllowed: () => true,
    ...overrides,
  });

describe('NodeWebhookTransport', () => {
  it('POSTs the body and headers as given', async () => {
    expect(await post('/ok')).toEqual({ kind: 'answered', status: 204 });
    const last = received.at(-1);
    expect(last).toMatchObject({ path: '/ok', body: '{"a":1}' });
    expect(last?.headers['webhook-id']).toBe('e1');
  });

  it('does not follow a redirect: the 3xx is the outcome', async () => {
    const before = received.length;
    expect(await post('/redirect')).toEqual({ kind: 'answered', status: 307 });
    expect(received.slice(before).map((r) => r.path)).toEqual(['/redirect']);
  });

  it('ends an attempt that gets no answer within the timeout', async () => {
    const started = Date.now();
    expect(await post('/slow', { timeoutMs: 300 })).toEqual({ kind: 'failed', reason: 'no answer within 300 ms' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('reads a bounded part of an endless answer, then closes the connection', async () => {
    expect(await post('/huge')).toEqual({ kind: 'answered', status: 500 });
  });

  it('refuses addresses the policy refuses, literal or resolved, before sending anything', async () => {
    const before = received.length;
    expect(await post('/ok', { addressAllowed: isPublicAddress })).toMatchObject({ kind: 'refused' });
    const port = new URL(base).port;
    expect(
      await transport.post({ url: `http://localhost:${port}/ok`, headers: {}, body: '', timeoutMs: 2_000, maxResponseBytes: 10, addressAllowed: isPublicAddress }),
    ).toMatchObject({
      kind: 'refused',
    });
    expect(received.length).toBe(before);
  });

  it('resolves names (none for a name that does not exist) and reports a refused connection', async () => {
    expect(await transport.resolve('localhost')).toEqual(expect.arrayContaining([expect.stringMatching(/^(127\.0\.0\.1|::1)$/)]));
    expect(await transport.resolve('does-not-exist.invalid')).toEqual([]);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await transport.post({ url: `http://127.0.0.1:${port}/`, headers: {}, body: '', timeoutMs: 2_000, maxResponseBytes: 10, addressAllowed: () => true })).toEqual({
      kind: 'failed',
      reason: 'connection refused',
    });
  });
});
