import type { PubSub, Topic as PubSubTopic } from '@google-cloud/pubsub';
import { invalidArgument } from '../core/errors.js';
import { MAX_MESSAGE_BYTES, type JsonValue, type Topic, type WorkQueue } from '../core/ports/work-queue.js';
import { fromGrpcError } from './grpc-errors.js';

/**
 * WorkQueue on Pub/Sub: one physical topic per logical topic, named by `topicName`. `pubsub` is
 * a client or a factory that builds it on the first publish (a function that never publishes never
 * loads the library).
 */
export class PubSubWorkQueue implements WorkQueue {
  private readonly topics = new Map<Topic, PubSubTopic>();
  private client: Promise<PubSub> | undefined;

  constructor(
    private readonly pubsub: PubSub | (() => Promise<PubSub>),
    private readonly topicName: (topic: Topic) => string,
  ) {}

  async publish(topic: Topic, data: JsonValue, attributes: Readonly<Record<string, string>> = {}): Promise<string> {
    const payload = Buffer.from(JSON.stringify(data), 'utf8');
    if (payload.length > MAX_MESSAGE_BYTES) {
      throw invalidArgument([{ field: 'data', description: `is ${payload.length} bytes; at most ${MAX_MESSAGE_BYTES}` }]);
    }
    for (const [key, value] of Object.entries(attributes)) {
      if (typeof value !== 'string') throw invalidArgument([{ field: `attributes.${key}`, description: 'must be a string' }]);
    }
    try {
      return await (await this.topic(topic)).publishMessage({ data: payload, attributes: { ...attributes } });
    } catch (error) {
      throw fromGrpcError(error, `publishing to ${topic}`);
    }
  }

  private async topic(topic: Topic): Promise<PubSubTopic> {
    let t = this.topics.get(topic);
    if (!t) {
      const pubsub = this.pubsub;
      this.client ??= typeof pubsub === 'function' ? pubsub() : Promise.resolve(pubsub);
      // Each publish is awaited by a worker that has nothing else to send: no batching window
      // (the client's default holds a message up to 10 ms waiting for company).
      t = (await this.client).topic(this.topicName(topic), { batching: { maxMessages: 1 } });
      this.topics.set(topic, t);
    }
    return t;
  }
}
