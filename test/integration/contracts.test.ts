import { randomBytes } from 'node:crypto';
import type { Message, Subscription } from '@google-cloud/pubsub';
import { afterAll } from 'vitest';
import { FirestoreRecordStore } from '../../functions/adapters/firestore-record-store.js';
import { PubSubWorkQueue } from '../../functions/adapters/pubsub-work-queue.js';
import { TOPICS, type Topic } from '../../functions/core/ports/work-queue.js';
import { recordStoreContract } from '../contracts/record-store.contract.js';
import { workQueueContract, type QueueUnderTest } from '../contracts/work-queue.contract.js';
import { MemoryRecordStore } from '../fakes/memory-record-store.js';
import { MemoryWorkQueue } from '../fakes/memory-work-queue.js';
import { notYet, waitUntil } from '../fixtures/wait.js';
import { emulatorClients, testProjectId } from './support.js';

// Each contract runs against the in-memory fake and the adapter on the emulator.
const projectId = testProjectId('contracts');
const { firestore, pubsub } = emulatorClients(projectId);
const subscriptions: Subscription[] = [];
afterAll(async () => {
  await Promise.all(subscriptions.map((s) => s.close()));
  await firestore.terminate();
  await pubsub.close();
});

let collections = 0;
recordStoreContract('memory fake', () => new MemoryRecordStore());
recordStoreContract('Firestore adapter (emulator)', () => new FirestoreRecordStore(firestore, `records-${++collections}`));

workQueueContract('memory fake', async () => {
  const queue = new MemoryWorkQueue();
  return {
    queue,
    received: async (topic) => queue.on(topic).map((m) => ({ id: m.id, data: m.data, attributes: { ...m.attributes } })),
  };
});

workQueueContract('Pub/Sub adapter (emulator)', async (): Promise<QueueUnderTest> => {
  const prefix = `q${randomBytes(3).toString('hex')}`;
  const inbox = new Map<Topic, { id: string; data: unknown; attributes: Record<string, string> }[]>();
  for (const topic of TOPICS) {
    const [created] = await pubsub.createTopic(`${prefix}-${topic}`);
    const [subscription] = await created.createSubscription(`${prefix}-${topic}-contract`);
    inbox.set(topic, []);
    subscription.on('message', (m: Message) => {
      inbox.get(topic)?.push({ id: m.id, data: JSON.parse(m.data.toString('utf8')), attributes: { ...m.attributes } });
      m.ack();
    });
    subscriptions.push(subscription);
  }
  return {
    queue: new PubSubWorkQueue(pubsub, (t) => `${prefix}-${t}`),
    received: (topic, atLeast) =>
      waitUntil(
        () => {
          const got = inbox.get(topic) ?? [];
          return got.length >= atLeast ? got : notYet(`${got.length} message(s)`);
        },
        { what: `${atLeast} message(s) on ${topic}`, timeoutMs: 15_000 },
      ),
  };
});
