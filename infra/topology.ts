/**
 * The deployment as data: which functions exist, what triggers them, and the Pub/Sub topics and
 * push subscriptions between them. Both the local launcher (infra/local) and the deploy scripts
 * (infra/deploy) read this table, so the local stack has the same shape as production.
 */
import type { Topic } from '../functions/core/ports/work-queue.js';

export interface HttpFunctionSpec {
  readonly name: string;
  readonly trigger: 'http';
  /** Public functions are reached by users' browsers; the others verify a Google ID token. */
  readonly public: boolean;
}

export interface EventFunctionSpec {
  readonly name: string;
  readonly trigger: 'topic';
  readonly topic: Topic;
  /** Seconds Pub/Sub waits for an answer before redelivering; at most 600. */
  readonly ackDeadlineSeconds: number;
  /** Send exhausted messages to the dead-letter topic (not for the dead-letter recorder itself). */
  readonly deadLetter: boolean;
}

export type FunctionSpec = HttpFunctionSpec | EventFunctionSpec;

export const FUNCTIONS: readonly FunctionSpec[] = [
  { name: 'api', trigger: 'http', public: false },
  { name: 'oauth', trigger: 'http', public: true },
  { name: 'scheduler', trigger: 'http', public: false },
  { name: 'initiate', trigger: 'topic', topic: 'export-requested', ackDeadlineSeconds: 120, deadLetter: true },
  { name: 'poll', trigger: 'topic', topic: 'job-poll', ackDeadlineSeconds: 120, deadLetter: true },
  { name: 'transfer', trigger: 'topic', topic: 'archive-transfer', ackDeadlineSeconds: 600, deadLetter: true },
  { name: 'schedule', trigger: 'topic', topic: 'schedule-page', ackDeadlineSeconds: 300, deadLetter: true },
  { name: 'bundle', trigger: 'topic', topic: 'bundle-requested', ackDeadlineSeconds: 600, deadLetter: true },
  { name: 'deadletter', trigger: 'topic', topic: 'dead-letter', ackDeadlineSeconds: 60, deadLetter: false },
];

/** Redelivery of push messages after a non-2xx answer: exponential backoff within these bounds. */
export const RETRY_POLICY = { minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 } as const;
/** Deliveries before a message moves to the dead-letter topic (Pub/Sub allows 5 to 100). */
export const MAX_DELIVERY_ATTEMPTS = 5;

export function eventFunctions(): EventFunctionSpec[] {
  return FUNCTIONS.filter((f): f is EventFunctionSpec => f.trigger === 'topic');
}
