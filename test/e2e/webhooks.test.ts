import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../../functions/core/webhooks/signature.js';
import { notYet, waitUntil } from '../fixtures/wait.js';
import { oneTimeConsent, requestExports, waitTerminal } from './exports.js';
import { startE2EStack, type E2EStack } from './stack.js';

/**
 * Signed webhooks on the local stack: `export-events` → the `webhooks` fan-out → `webhook-delivery`
 * → a POST to a receiver served by this test. One receiver takes every event and checks each
 * signature; another answers 500 three times per event before it accepts, and gets the event
 * exactly once more (Pub/Sub's redelivery with backoff; the success is acked).
 */
interface Hit {
  readonly path: string;
  readonly id: string;
  readonly timestamp: string;
  readonly signature: string;
  readonly body: string;
  readonly status: number;
}
const hits: Hit[] = [];
const failuresLeft = new Map<string, number>();
let receiver: Server;
let receiverUrl: string;
let stack: E2EStack;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = String(req.headers['webhook-id'] ?? '');
      let status = 200;
      if (req.url === '/flaky') {
        const left = failuresLeft.get(id) ?? 3;
        failuresLeft.set(id, left - 1);
        if (left > 0) status = 500;
      }
      const header = (name: string) => String(req.headers[name] ?? '');
      hits.push({ path: req.url ?? '', id, timestamp: header('webhook-timestamp'), signature: header('webhook-signature'), body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  stack = await startE2EStack('webhooks', { jobDurationSeconds: 0 });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  receiver?.closeAllConnections();
  await new Promise((resolve) => receiver?.close(resolve));
});

async function register(body: Record<string, unknown>): Promise<{ name: string; secret: string }> {
  const res = await stack.api('/v1/webhooks', { body });
  if (res.status !== 200) throw new Error(`POST /v1/webhooks: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as { name: string; secret: string };
}

/** The delivery worker's log: 'handled' entries for this webhook and event (the message was acked). */
function handled(webhook: string, event: string): unknown[] {
  let text = '';
  try {
    text = readFileSync(join(stack.info.logDir, 'webhook-delivery.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { message?: string; webhook?: string; event?: string; result?: string })
    .filter((e) => e.message === 'webhook-delivery handled' && e.webhook === webhook && e.event === event)
    .map((e) => e.result);
}

describe('signed webhooks on the local stack', () => {
  it('a receiver gets export.delivered signed; one failing 3 times gets it exactly once more', async () => {
    const all = await register({ url: `${receiverUrl}/all` });
    const flaky = await register({ url: `${receiverUrl}/flaky`, eventTypes: ['export.delivered'] });
    const consent = await oneTimeConsent(stack, 'webhook-user', ['myactivity.search']);
    await requestExports(stack, { consent });
    const [job] = await waitTerminal(stack, consent, 1, 90_000);
    expect(job?.state).toBe('DELIVERED');
    const received = await waitUntil(
      () => hits.find((h) => h.path === '/all' && h.id.startsWith(`export.delivered/${job!.name}`)) ?? notYet(hits.map((h) => `${h.path} ${h.id}`)),
      {
        what: `export.delivered of ${job!.name} at the receiver`,
        timeoutMs: 60_000,
      },
    );
    const eventId = received.id;
    const event = JSON.parse(received.body) as { id: string; type: string; subject: string };
    expect(event).toMatchObject({ id: eventId, type: 'export.delivered', subject: job!.name });
    expect(received.signature).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature({ secret: all.secret, body: received.body, timestamp: received.timestamp, signature: received.signature })).toBe(true);
    expect(
      verifyWebhookSignature({
        secret: all.secret,
        body: received.body.replace('export.delivered', 'export.failed'),
        timestamp: received.timestamp,
        signature: received.signature,
      }),
    ).toBe(false);
    expect(verifyWebhookSignature({ secret: flaky.secret, body: received.body, timestamp: received.timestamp, signature: received.signature })).toBe(false);

    // The flaky receiver: 500, 500, 500, then 200; the delivery worker logs the success as handled (acked).
    const flakyId = flaky.name.slice('webhooks/'.length);
    await waitUntil(() => (handled(flakyId, eventId).length > 0 ? true : notYet(hits.filter((h) => h.path === '/flaky').map((h) => h.status))), {
      what: 'the flaky receiver to accept the event',
      timeoutMs: 90_000,
    });
    const attempts = hits.filter((h) => h.path === '/flaky' && h.id === eventId);
    expect(attempts.map((h) => h.status)).toEqual([500, 500, 500, 200]);
    expect(handled(flakyId, eventId)).toEqual(['DELIVERED']);
    for (const a of attempts) expect(verifyWebhookSignature({ secret: flaky.secret, body: a.body, timestamp: a.timestamp, signature: a.signature })).toBe(true);
    // Only export.delivered reached it; the other receiver got every event (consent.granted too).
    expect(new Set(hits.filter((h) => h.path === '/flaky').map((h) => h.id))).toEqual(new Set([eventId]));
    expect(hits.some((h) => h.path === '/all' && h.id.startsWith('consent.granted/'))).toBe(true);
  }, 240_000);
});
