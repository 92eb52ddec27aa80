import { randomBytes } from 'node:crypto';
import type { E2EStack } from './stack.js';

/** Reading `export-events` in end-to-end tests through a pull subscription of the test's own. */
export interface PulledEvent {
  readonly attributes: Record<string, string>;
  readonly data: { id?: string; type?: string; subject?: string; data?: Record<string, unknown> };
}

/** Creates the pull subscription `name` on the stack's `export-events` topic. */
export async function tapEvents(stack: E2EStack, name: string): Promise<void> {
  await stack.pubsub.topic(stack.info.topics['export-events']).createSubscription(name);
}

/**
 * Every event published to `export-events` since the last drain: publishes a sentinel and pulls
 * (the emulator's REST API, acking as it goes) until the sentinel comes back; bounded.
 */
export async function drainEvents(stack: E2EStack, subscription: string): Promise<PulledEvent[]> {
  const sentinel = `sentinel-${randomBytes(6).toString('hex')}`;
  await stack.pubsub.topic(stack.info.topics['export-events']).publishMessage({ data: Buffer.from('{}'), attributes: { sentinel } });
  const base = `http://${stack.info.services.pubsub.host}/v1/projects/${stack.info.projectId}/subscriptions/${subscription}`;
  const events: PulledEvent[] = [];
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${base}:pull`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ maxMessages: 100, returnImmediately: true }),
    });
    if (res.status !== 200) throw new Error(`pull: HTTP ${res.status} ${await res.text()}`);
    const { receivedMessages = [] } = (await res.json()) as { receivedMessages?: { ackId: string; message: { data?: string; attributes?: Record<string, string> } }[] };
    if (receivedMessages.length > 0) {
      const ack = await fetch(`${base}:acknowledge`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ackIds: receivedMessages.map((m) => m.ackId) }),
      });
      if (ack.status !== 200) throw new Error(`acknowledge: HTTP ${ack.status}`);
    }
    let sawSentinel = false;
    for (const { message } of receivedMessages) {
      const attributes = message.attributes ?? {};
      if (attributes['sentinel'] === sentinel) {
        sawSentinel = true;
        continue;
      }
      if (attributes['sentinel']) continue;
      events.push({ attributes, data: JSON.parse(Buffer.from(message.data ?? '', 'base64').toString('utf8')) as PulledEvent['data'] });
    }
    if (sawSentinel) return events;
  }
  throw new Error('the sentinel message never came back from the export-events subscription');
}
