import type { Server } from 'node:http';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Message, Subscription } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppError, transient } from '../../functions/core/errors.js';
import type { UndeliverableMessage } from '../../functions/core/undeliverable.js';
import { undeliverableId } from '../../functions/core/undeliverable.js';
import { deadletter } from '../../functions/entrypoints/deadletter.js';
import { jsonPayload, pubsubFunction, type PushEnvelope } from '../../functions/platform/events.js';
import { createRuntime, type Runtime } from '../../functions/platform/runtime.js';
import { parseWith } from '../../functions/platform/validation.js';
import { notYet, waitUntil } from '../fixtures/wait.js';
import { emulatorClients, testEnv, testProjectId } from './support.js';

/**
 * The event path on the real Pub/Sub emulator: push subscriptions with a retry policy and a
 * dead-letter topic, delivering to functions served by the Functions Framework. Shows that a
 * permanent error is acked (once, recorded) and a transient one is redelivered until it lands in
 * the dead-letter topic, where the `deadletter` function records it.
 *
 * "Not redelivered" is shown by the answer to the first delivery, not by waiting: every delivery
 * of the worker is noted with its outcome (the function returned → the framework answers 2xx,
 * which is the push subscription's ack; it threw → an error status, a nack). Pub/Sub redelivers
 * only nacked (or unanswered) messages.
 */
const projectId = testProjectId('delivery');
const { pubsub } = emulatorClients(projectId);
let rt: Runtime;
const servers: Server[] = [];
const subscriptions: Subscription[] = [];
const calls = new Map<string, number>();
/** Every delivery of the worker by message id: 'ack' (returned) or 'nack' (threw). */
const deliveries = new Map<string, ('ack' | 'nack')[]>();
const MAX_ATTEMPTS = 5;

const command = z.object({ case: z.enum(['permanent', 'transient', 'ok']), id: z.string() }).strict();

function count(id: string): number {
  return calls.get(id) ?? 0;
}

/** The answers to the deliveries of `messageId`, once it was acked (undefined until then). */
function acked(messageId: string): ('ack' | 'nack')[] | undefined {
  const answers = deliveries.get(messageId) ?? [];
  return answers.includes('ack') ? answers : undefined;
}

async function serve(name: string): Promise<string> {
  const server = getTestServer(name);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

let deadLettered: Message[] = [];

beforeAll(async () => {
  rt = createRuntime(testEnv(projectId));
  const worker = pubsubFunction(
    'worker',
    rt,
    (message) => parseWith(command, jsonPayload(message)),
    async (cmd) => {
      calls.set(cmd.id, count(cmd.id) + 1);
      if (cmd.case === 'permanent') throw new AppError('FAILED_PRECONDITION', 'refused for good');
      if (cmd.case === 'transient') throw transient('upstream unavailable');
    },
  );
  ff.http('worker', async (req, res) => {
    const id = (req.body as PushEnvelope | undefined)?.message?.messageId ?? '';
    await worker(req, res);
    // What Pub/Sub sees: a 2xx acks the message, anything else nacks it.
    deliveries.set(id, [...(deliveries.get(id) ?? []), res.statusCode >= 200 && res.statusCode < 300 ? 'ack' : 'nack']);
  });
  ff.http('deadletter', deadletter(rt));
  const [workerUrl, deadletterUrl] = [await serve('worker'), await serve('deadletter')];

  const [work] = await pubsub.createTopic('work');
  const [dlq] = await pubsub.createTopic('dead-letter');
  await work.createSubscription('work-push', {
    pushConfig: { pushEndpoint: `${workerUrl}/${work.name}` },
    ackDeadlineSeconds: 10,
    retryPolicy: { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 2 } },
    deadLetterPolicy: { deadLetterTopic: dlq.name, maxDeliveryAttempts: MAX_ATTEMPTS },
  });
  await dlq.createSubscription('deadletter-push', { pushConfig: { pushEndpoint: `${deadletterUrl}/${dlq.name}` } });
  const [tap] = await dlq.createSubscription('dead-letter-tap');
  tap.on('message', (m: Message) => {
    deadLettered.push(m);
    m.ack();
  });
  subscriptions.push(tap);
});

afterAll(async () => {
  await Promise.all(subscriptions.map((s) => s.close()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await pubsub.close();
  await rt.close();
});

async function publish(data: string | object): Promise<string> {
  const payload = typeof data === 'string' ? Buffer.from(data) : Buffer.from(JSON.stringify(data));
  return pubsub.topic('work').publishMessage({ data: payload });
}

const undeliverable = () => rt.store<UndeliverableMessage>('undeliverable');

describe('Pub/Sub push delivery on the emulator', () => {
  it('a handler that succeeds is called once and nothing is recorded', async () => {
    const messageId = await publish({ case: 'ok', id: 'ok-1' });
    const answers = await waitUntil(() => acked(messageId), { what: 'the ack of ok-1', timeoutMs: 20_000 });
    expect(answers).toEqual(['ack']);
    expect(count('ok-1')).toBe(1);
    expect(await undeliverable().get(undeliverableId('REJECTED', 'worker', messageId))).toBeUndefined();
  });

  it('a permanent error is acked after one delivery and recorded, never dead-lettered', async () => {
    const messageId = await publish({ case: 'permanent', id: 'perm-1' });
    const record = await waitUntil(() => undeliverable().get(undeliverableId('REJECTED', 'worker', messageId)), { what: 'the rejection record', timeoutMs: 20_000 });
    expect(record).toMatchObject({ kind: 'REJECTED', source: 'worker', errorCode: 'FAILED_PRECONDITION', messageId });
    // Acked on its first delivery (recorded, then answered 2xx): nothing for Pub/Sub to redeliver.
    expect(await waitUntil(() => acked(messageId), { what: 'the ack of perm-1', timeoutMs: 20_000 })).toEqual(['ack']);
    expect(count('perm-1')).toBe(1);
    expect(deadLettered.map((m) => m.attributes['CloudPubSubDeadLetterSourceMessageId'] ?? m.id)).not.toContain(messageId);
  });

  it('a malformed message is acked and recorded with the field and reason, never redelivered', async () => {
    const notJson = await publish('{this is not json');
    const wrongShape = await publish({ case: 'explode', id: 7 });
    const first = await waitUntil(() => undeliverable().get(undeliverableId('REJECTED', 'worker', notJson)), { what: 'record 1', timeoutMs: 20_000 });
    const second = await waitUntil(() => undeliverable().get(undeliverableId('REJECTED', 'worker', wrongShape)), { what: 'record 2', timeoutMs: 20_000 });
    expect(first.violations).toEqual([{ field: 'message.data', description: 'is not valid JSON' }]);
    expect(Buffer.from(first.dataBase64, 'base64').toString()).toBe('{this is not json');
    expect(second.errorCode).toBe('INVALID_ARGUMENT');
    expect(second.violations.map((v) => v.field).sort()).toEqual(['case', 'id']);
    // Each acked on its first delivery: never redelivered, never dead-lettered.
    expect(await waitUntil(() => acked(notJson), { what: 'the ack of the non-JSON message', timeoutMs: 20_000 })).toEqual(['ack']);
    expect(await waitUntil(() => acked(wrongShape), { what: 'the ack of the wrongly shaped message', timeoutMs: 20_000 })).toEqual(['ack']);
    const recordsForThem = await undeliverable().list({ where: { kind: 'DEAD_LETTERED' }, pageSize: 100 });
    expect(recordsForThem.items.map((i) => i.value.messageId)).not.toContain(notJson);
  });

  it('a transient error is redelivered until attempts run out, then lands in the dead-letter topic and is recorded', async () => {
    deadLettered = [];
    const messageId = await publish({ case: 'transient', id: 'trans-1' });
    const dead = await waitUntil(() => deadLettered.find((m) => JSON.parse(m.data.toString()).id === 'trans-1'), {
      what: 'the message on the dead-letter topic',
      timeoutMs: 90_000,
    });
    expect(count('trans-1')).toBe(MAX_ATTEMPTS);
    expect(deliveries.get(messageId)).toEqual(Array(MAX_ATTEMPTS).fill('nack'));
    expect(Number(dead.attributes['CloudPubSubDeadLetterSourceDeliveryCount'])).toBe(MAX_ATTEMPTS);
    const page = await waitUntil(
      async () => {
        const p = await undeliverable().list({ where: { kind: 'DEAD_LETTERED' }, pageSize: 100 });
        return p.items.length > 0 ? p : notYet('no DEAD_LETTERED record');
      },
      { what: 'the dead-letter record', timeoutMs: 20_000 },
    );
    const recorded = page.items.map((i) => i.value).find((v) => JSON.parse(Buffer.from(v.dataBase64, 'base64').toString()).id === 'trans-1');
    expect(recorded).toMatchObject({ kind: 'DEAD_LETTERED', deliveryAttempts: MAX_ATTEMPTS });
    expect(recorded?.source).toContain('work-push');
  });
});
