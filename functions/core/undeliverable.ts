import type { ErrorCode, FieldViolation } from './errors.js';
import type { Clock } from './ports/clock.js';
import { keep, put, type RecordStore } from './ports/record-store.js';

/**
 * A message the pipeline could not process: rejected at once because it was malformed or
 * permanently refused (acked, never redelivered), or dead-lettered after its delivery attempts ran
 * out. Operators list these to replay or discard them; nothing is silently dropped.
 */
export interface UndeliverableMessage {
  readonly kind: 'REJECTED' | 'DEAD_LETTERED';
  readonly messageId: string;
  /** The function that gave up on it (rejected) or the subscription it was dead-lettered from. */
  readonly source: string;
  readonly publishTime: Date | null;
  readonly recordedAt: Date;
  readonly errorCode: ErrorCode | null;
  readonly errorMessage: string | null;
  readonly violations: readonly FieldViolation[];
  readonly deliveryAttempts: number | null;
  readonly attributes: Readonly<Record<string, string>>;
  /** The payload as received (base64), cut at MAX_KEPT_BYTES; `dataBytes` is the full size. */
  readonly dataBase64: string;
  readonly dataBytes: number;
  /** Firestore's TTL policy may delete the record after this (UNDELIVERABLE_RETENTION_MS after it was recorded). */
  readonly expireAt?: Date;
}

export const MAX_KEPT_BYTES = 16 * 1024;
/** How long operators have to replay or discard an undeliverable message before TTL deletes it. */
export const UNDELIVERABLE_RETENTION_MS = 30 * 86_400_000;

export interface ReceivedMessage {
  readonly messageId: string;
  readonly publishTime: Date | null;
  readonly attributes: Readonly<Record<string, string>>;
  readonly data: Buffer;
}

export interface UndeliverableDeps {
  readonly undeliverable: RecordStore<UndeliverableMessage>;
  readonly clock: Clock;
}

export type Rejection = Pick<UndeliverableMessage, 'kind' | 'source' | 'errorCode' | 'errorMessage' | 'violations'>;

/**
 * Records a message once per (kind, source, message id): a redelivered copy keeps the first record.
 * Returns true when this call created the record.
 */
export async function recordUndeliverable(deps: UndeliverableDeps, message: ReceivedMessage, rejection: Rejection): Promise<boolean> {
  const id = undeliverableId(rejection.kind, rejection.source, message.messageId);
  const deliveryAttempts = Number.parseInt(message.attributes['CloudPubSubDeadLetterSourceDeliveryCount'] ?? '', 10);
  const recordedAt = deps.clock.now();
  const record: UndeliverableMessage = {
    ...rejection,
    messageId: message.messageId,
    publishTime: message.publishTime,
    recordedAt,
    expireAt: new Date(recordedAt.getTime() + UNDELIVERABLE_RETENTION_MS),
    deliveryAttempts: Number.isFinite(deliveryAttempts) ? deliveryAttempts : null,
    attributes: message.attributes,
    dataBase64: message.data.subarray(0, MAX_KEPT_BYTES).toString('base64'),
    dataBytes: message.data.length,
  };
  return deps.undeliverable.update(id, (current) => (current ? keep(false) : put(record, true)));
}

export function undeliverableId(kind: UndeliverableMessage['kind'], source: string, messageId: string): string {
  // Firestore ids may not contain '/'; subscription names do.
  return `${kind}~${source.replaceAll('/', '_')}~${messageId}`;
}
