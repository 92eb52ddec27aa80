import { randomUUID } from 'node:crypto';
import { invalidArgument } from '../../functions/core/errors.js';
import { MAX_MESSAGE_BYTES, type JsonValue, type Topic, type WorkQueue } from '../../functions/core/ports/work-queue.js';

export interface PublishedMessage {
  readonly id: string;
  readonly topic: Topic;
  readonly data: unknown;
  readonly attributes: Readonly<Record<string, string>>;
}

/** In-memory WorkQueue: keeps what was published, in order, with the adapter's validation. */
export class MemoryWorkQueue implements WorkQueue {
  readonly published: PublishedMessage[] = [];

  async publish(topic: Topic, data: JsonValue, attributes: Readonly<Record<string, string>> = {}): Promise<string> {
    const payload = JSON.stringify(data);
    if (Buffer.byteLength(payload, 'utf8') > MAX_MESSAGE_BYTES) {
      throw invalidArgument([{ field: 'data', description: `is ${Buffer.byteLength(payload)} bytes; at most ${MAX_MESSAGE_BYTES}` }]);
    }
    for (const [key, value] of Object.entries(attributes)) {
      if (typeof value !== 'string') throw invalidArgument([{ field: `attributes.${key}`, description: 'must be a string' }]);
    }
    const id = randomUUID();
    this.published.push({ id, topic, data: JSON.parse(payload), attributes: { ...attributes } });
    return id;
  }

  on(topic: Topic): PublishedMessage[] {
    return this.published.filter((m) => m.topic === topic);
  }
}
