/**
 * The work queues that drive the pipeline, and the application-facing event topic. Logical names
 * only: the adapter maps each to its physical topic (with the deployment's prefix).
 */
export const TOPICS = ['export-requested', 'job-poll', 'archive-transfer', 'schedule-page', 'bundle-requested', 'export-events', 'webhook-delivery', 'dead-letter'] as const;
export type Topic = (typeof TOPICS)[number];

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** Largest message the queue accepts (Pub/Sub's limit is 10 MB; ours are small by design). */
export const MAX_MESSAGE_BYTES = 1_000_000;

/**
 * Publishes work for another function.
 *
 * Contract:
 * - `publish` resolves with the broker's message id once the message is durably accepted.
 * - Delivery is at least once: a consumer may see a message twice, late, or out of order, so every
 *   consumer is idempotent on a business key carried in `data`, never on the message id.
 * - A message that can never be published (larger than MAX_MESSAGE_BYTES, attribute values that
 *   are not strings) rejects with AppError `INVALID_ARGUMENT`; a broker that is unavailable
 *   rejects with a retryable AppError (`UNAVAILABLE`).
 * - Messages never carry secrets (tokens, codes, signed URLs): they name records instead.
 */
export interface WorkQueue {
  publish(topic: Topic, data: JsonValue, attributes?: Readonly<Record<string, string>>): Promise<string>;
}
