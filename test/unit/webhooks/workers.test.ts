import { describe, expect, it } from 'vitest';
import type { RecordStore } from '../../../functions/core/ports/record-store.js';
import type { UndeliverableMessage } from '../../../functions/core/undeliverable.js';
import { registerWebhook } from '../../../functions/core/webhooks/manage.js';
import type { WebhookDelivery } from '../../../functions/core/webhooks/model.js';
import { webhookDelivery, webhooks } from '../../../functions/entrypoints/workers.js';
import { createRuntime } from '../../../functions/platform/runtime.js';
import { ManualClock } from '../../fakes/fake-oauth.js';
import { FakeWebhookTransport } from '../../fakes/fake-webhook-transport.js';
import { MemoryRecordStore } from '../../fakes/memory-record-store.js';
import { MemoryWorkQueue } from '../../fakes/memory-work-queue.js';
import { developmentEnv } from '../../fixtures/env.js';
import { deliver, pushEnvelope } from '../../fixtures/push.js';

/** The two webhook workers at their Pub/Sub edge: what is acked, retried, and recorded as given up. */
function setup() {
  const stores = new Map<string, MemoryRecordStore<unknown>>();
  const clock = new ManualClock();
  const queue = new MemoryWorkQueue();
  const transport = new FakeWebhookTransport();
  const rt = createRuntime(developmentEnv(), {
    clock,
    queue,
    webhookTransport: transport,
    store: <T>(name: string) => {
      if (!stores.has(name)) stores.set(name, new MemoryRecordStore<unknown>());
      return stores.get(name) as unknown as RecordStore<T>;
    },
  });
  return { rt, clock, queue, transport, undeliverable: () => rt.store<UndeliverableMessage>('undeliverable') };
}

const event = { id: 'export.failed/exports/j/run-1', type: 'export.failed', subject: 'exports/j', appUserId: 'u', time: '2026-12-03T10:00:00.000Z', data: {} };

describe('webhook workers', () => {
  it('fan-out → delivery; a failing attempt is nacked (thrown) inside the window, given up and recorded once outside it', async () => {
    const w = setup();
    await registerWebhook(w.rt.webhookDeps(), { url: 'http://127.0.0.1:1/h' });
    expect(await deliver(webhooks(w.rt), pushEnvelope(event, 'e1'))).toMatchObject({ statusCode: 204 });
    const [delivery] = w.queue.on('webhook-delivery').map((m) => m.data as WebhookDelivery);
    expect(delivery?.event).toEqual(event);

    w.transport.outcomes.push({ kind: 'answered', status: 500 });
    // A failed attempt answers an error status, so Pub/Sub redelivers it with backoff.
    expect(await deliver(webhookDelivery(w.rt), pushEnvelope(delivery, 'd1'))).toMatchObject({ statusCode: 503 });
    expect((await w.undeliverable().list({ pageSize: 10 })).items).toEqual([]);

    w.clock.advance(24 * 3600 * 1000);
    w.transport.outcomes.push({ kind: 'failed', reason: 'connection refused' });
    expect(await deliver(webhookDelivery(w.rt), pushEnvelope(delivery, 'd1'))).toMatchObject({ statusCode: 204 });
    const records = (await w.undeliverable().list({ pageSize: 10 })).items.map((i) => i.value);
    expect(records.map((r) => [r.kind, r.source, r.errorCode])).toEqual([['REJECTED', 'webhook-delivery', 'FAILED_PRECONDITION']]);
    expect(records[0]?.errorMessage).toMatch(/^WEBHOOK_GAVE_UP: webhooks\/[0-9a-f]{32}, event export\.failed\/exports\/j\/run-1: .*connection refused$/);
    expect(w.transport.sent).toHaveLength(2);
  });

  it('a message that is not an event, or not a delivery, is rejected naming the field', async () => {
    const w = setup();
    expect(await deliver(webhooks(w.rt), pushEnvelope({}, 'e2'))).toMatchObject({ statusCode: 204 });
    expect(await deliver(webhookDelivery(w.rt), pushEnvelope({ webhook: 'x', event, enqueuedAt: 'yesterday' }, 'd2'))).toMatchObject({ statusCode: 204 });
    const records = (await w.undeliverable().list({ pageSize: 10 })).items.map((i) => i.value);
    expect(records.map((r) => [r.source, r.violations.map((v) => v.field).sort()]).sort()).toEqual([
      ['webhook-delivery', ['enqueuedAt', 'webhook']],
      ['webhooks', ['id', 'type']],
    ]);
  });
});
