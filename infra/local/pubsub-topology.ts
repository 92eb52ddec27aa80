import type { PubSub } from '@google-cloud/pubsub';
import { TOPICS, type Topic } from '../../functions/core/ports/work-queue.js';
import { eventFunctions } from '../topology.js';

export interface RetrySettings {
  readonly minimumBackoffSeconds: number;
  readonly maximumBackoffSeconds: number;
  readonly maxDeliveryAttempts: number;
}

export interface ProvisionedTopology {
  /** Logical topic → full topic name. */
  readonly topics: Readonly<Record<Topic, string>>;
  /** Function name → full push subscription name. */
  readonly subscriptions: Readonly<Record<string, string>>;
}

/**
 * Creates every topic and one push subscription per event function (retry policy and dead-letter
 * topic as in production) on the emulator. Idempotent: existing topics and subscriptions are kept.
 */
export async function provisionTopology(
  pubsub: PubSub,
  options: {
    projectId: string;
    physicalName: (name: string) => string;
    /** Base URL of a served function, without a trailing slash. */
    functionUrl: (functionName: string) => string;
    retry: RetrySettings;
  },
): Promise<ProvisionedTopology> {
  const topics = {} as Record<Topic, string>;
  for (const topic of TOPICS) {
    const name = options.physicalName(topic);
    await ignoreAlreadyExists(pubsub.createTopic(name));
    topics[topic] = `projects/${options.projectId}/topics/${name}`;
  }
  const subscriptions: Record<string, string> = {};
  for (const fn of eventFunctions()) {
    const name = options.physicalName(`${fn.name}-push`);
    await ignoreAlreadyExists(
      pubsub.topic(options.physicalName(fn.topic)).createSubscription(name, {
        // The Functions Framework reads the topic from the push path (CloudEvent `source`).
        pushConfig: { pushEndpoint: `${options.functionUrl(fn.name)}/${topics[fn.topic]}` },
        ackDeadlineSeconds: fn.ackDeadlineSeconds,
        retryPolicy: {
          minimumBackoff: { seconds: options.retry.minimumBackoffSeconds },
          maximumBackoff: { seconds: options.retry.maximumBackoffSeconds },
        },
        ...(fn.deadLetter
          ? { deadLetterPolicy: { deadLetterTopic: topics['dead-letter'], maxDeliveryAttempts: fn.maxDeliveryAttempts ?? options.retry.maxDeliveryAttempts } }
          : {}),
      }),
    );
    subscriptions[fn.name] = `projects/${options.projectId}/subscriptions/${name}`;
  }
  return { topics, subscriptions };
}

async function ignoreAlreadyExists(operation: Promise<unknown>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    if ((error as { code?: number }).code !== 6) throw error;
  }
}
