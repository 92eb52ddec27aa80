/**
 * The deployment as data: which functions exist, what triggers them, and the Pub/Sub topics and
 * push subscriptions between them. Both the local launcher (infra/local) and the deploy scripts
 * (infra/deploy) read this table, so the local stack has the same shape as production.
 */
import type { Topic } from '../functions/core/ports/work-queue.js';
import type { FunctionName } from '../functions/platform/config.js';

export interface HttpFunctionSpec {
  readonly name: FunctionName;
  readonly trigger: 'http';
  /** Public functions are reached by users' browsers; the others verify a Google ID token. */
  readonly public: boolean;
}

export interface EventFunctionSpec {
  readonly name: FunctionName;
  readonly trigger: 'topic';
  readonly topic: Topic;
  /** Seconds Pub/Sub waits for an answer before redelivering; at most 600. */
  readonly ackDeadlineSeconds: number;
  /** Send exhausted messages to the dead-letter topic (not for the dead-letter recorder itself). */
  readonly deadLetter: boolean;
  /** Deliveries before the dead-letter topic, when not MAX_DELIVERY_ATTEMPTS (Pub/Sub allows 5 to 100). */
  readonly maxDeliveryAttempts?: number;
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
  // Webhooks: every application event fans out to one delivery per matching webhook; a delivery is
  // retried with backoff for up to a day (the worker gives up then; 100 attempts are the backstop).
  { name: 'webhooks', trigger: 'topic', topic: 'export-events', ackDeadlineSeconds: 60, deadLetter: true },
  { name: 'webhook-delivery', trigger: 'topic', topic: 'webhook-delivery', ackDeadlineSeconds: 60, deadLetter: true, maxDeliveryAttempts: 100 },
  { name: 'deadletter', trigger: 'topic', topic: 'dead-letter', ackDeadlineSeconds: 60, deadLetter: false },
];

/** Redelivery of push messages after a non-2xx answer: exponential backoff within these bounds. */
export const RETRY_POLICY = { minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 } as const;
/** Deliveries before a message moves to the dead-letter topic (Pub/Sub allows 5 to 100). */
export const MAX_DELIVERY_ATTEMPTS = 5;

export function eventFunctions(): EventFunctionSpec[] {
  return FUNCTIONS.filter((f): f is EventFunctionSpec => f.trigger === 'topic');
}

/** How each function runs in Cloud Functions (gen2); the deploy runner (infra/deploy) reads it. */
export interface FunctionDeploySpec {
  /** Memory of an instance (gen2 gives CPU in proportion). */
  readonly memory: '256Mi' | '512Mi' | '1Gi' | '2Gi';
  /**
   * Request time limit. Workers: at most 540 s and at most their push subscription's ack deadline
   * (which is also the push request's timeout), so Pub/Sub never redelivers a message still running.
   */
  readonly timeoutSeconds: number;
  /** 0 costs nothing at rest; 1 keeps an instance warm (billed while idle). */
  readonly minInstances: number;
  readonly maxInstances: number;
  /** Account id of the function's own runtime service account (`ID@PROJECT.iam.gserviceaccount.com`). */
  readonly serviceAccount: string;
  /** Topics the function publishes to: it gets `roles/pubsub.publisher` on these topics only. */
  readonly publishes: readonly Topic[];
  /** Reads and deletes objects of the archive bucket (transfer, and the erasure path of `api`). */
  readonly archiveObjects: boolean;
}

export const FUNCTION_DEPLOY: Readonly<Record<FunctionName, FunctionDeploySpec>> = {
  api: {
    memory: '512Mi',
    timeoutSeconds: 60,
    minInstances: 0,
    maxInstances: 20,
    serviceAccount: 'dp-api',
    publishes: ['export-requested', 'job-poll', 'archive-transfer', 'export-events', 'bundle-requested'],
    archiveObjects: true,
  },
  oauth: {
    memory: '256Mi',
    timeoutSeconds: 60,
    minInstances: 0,
    maxInstances: 10,
    serviceAccount: 'dp-oauth',
    publishes: ['export-requested', 'export-events'],
    archiveObjects: false,
  },
  scheduler: {
    memory: '256Mi',
    timeoutSeconds: 60,
    minInstances: 0,
    maxInstances: 3,
    serviceAccount: 'dp-scheduler',
    publishes: ['export-requested', 'job-poll', 'archive-transfer', 'schedule-page', 'export-events', 'bundle-requested'],
    archiveObjects: false,
  },
  initiate: {
    memory: '256Mi',
    timeoutSeconds: 120,
    minInstances: 0,
    maxInstances: 20,
    serviceAccount: 'dp-initiate',
    publishes: ['job-poll', 'export-events', 'bundle-requested'],
    archiveObjects: false,
  },
  poll: {
    memory: '256Mi',
    timeoutSeconds: 120,
    minInstances: 0,
    maxInstances: 20,
    serviceAccount: 'dp-poll',
    publishes: ['job-poll', 'archive-transfer', 'export-events', 'bundle-requested'],
    archiveObjects: false,
  },
  transfer: {
    memory: '1Gi',
    timeoutSeconds: 540,
    minInstances: 0,
    maxInstances: 50,
    serviceAccount: 'dp-transfer',
    publishes: ['archive-transfer', 'export-events', 'bundle-requested'],
    archiveObjects: true,
  },
  schedule: {
    memory: '512Mi',
    timeoutSeconds: 300,
    minInstances: 0,
    maxInstances: 5,
    serviceAccount: 'dp-schedule',
    publishes: ['schedule-page', 'export-requested', 'export-events', 'bundle-requested'],
    archiveObjects: false,
  },
  bundle: {
    memory: '512Mi',
    timeoutSeconds: 540,
    minInstances: 0,
    maxInstances: 10,
    serviceAccount: 'dp-bundle',
    publishes: ['bundle-requested', 'export-events'],
    archiveObjects: true,
  },
  webhooks: {
    memory: '256Mi',
    timeoutSeconds: 60,
    minInstances: 0,
    maxInstances: 10,
    serviceAccount: 'dp-webhooks',
    publishes: ['webhook-delivery'],
    archiveObjects: false,
  },
  'webhook-delivery': {
    memory: '256Mi',
    timeoutSeconds: 60,
    minInstances: 0,
    maxInstances: 20,
    serviceAccount: 'dp-webhook-delivery',
    publishes: [],
    archiveObjects: false,
  },
  deadletter: { memory: '256Mi', timeoutSeconds: 60, minInstances: 0, maxInstances: 3, serviceAccount: 'dp-deadletter', publishes: [], archiveObjects: false },
};

/** Service account (account id) whose OIDC tokens Pub/Sub push subscriptions send to the workers. */
export const PUSH_INVOKER_ACCOUNT = 'dp-push';
