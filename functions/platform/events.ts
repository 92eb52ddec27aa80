import type { CloudEvent } from '@google-cloud/functions-framework';
import { createHash } from 'node:crypto';
import { AppError, type FieldViolation } from '../core/errors.js';
import { recordUndeliverable, type ReceivedMessage } from '../core/undeliverable.js';
import { toEventOutcome } from './errors.js';
import { parseWith, toWellFormed } from './validation.js';
import { forInvocation, type Logger } from './logger.js';
import type { Runtime } from './runtime.js';
import type { z } from 'zod';

/** The body of a Pub/Sub push delivered as a CloudEvent (`google.cloud.pubsub.topic.v1.messagePublished`). */
export interface MessagePublishedData {
  readonly message?: {
    readonly data?: string;
    readonly attributes?: Record<string, string>;
    readonly messageId?: string;
    readonly publishTime?: string;
  };
  readonly subscription?: string;
}

export interface EventContext {
  readonly logger: Logger;
  readonly message: ReceivedMessage;
  readonly subscription: string | undefined;
}

/**
 * A Pub/Sub-triggered function. `decode` turns the raw message into a typed command (throwing
 * INVALID_ARGUMENT when it is malformed); `handle` runs the use case. A message is known by its
 * Pub/Sub message id, or, when that id could not name a record (a `/`, over 256 bytes), by
 * `id-sha256-<hash of the id>`, or, when it has none, by `body-sha256-<hash of its data,
 * attributes and subscription>`; so each malformed message is recorded once, under its own id.
 * (Requests that are not push deliveries at all, a GET or a POST without a JSON body, are refused
 * with 400 before they get here: platform/framework-errors.ts.) Outcome:
 * - success → ack;
 * - permanent error (malformed message, documented refusal) → recorded as REJECTED, then ack;
 * - transient error → thrown, so Pub/Sub redelivers it under the subscription's retry policy and,
 *   when attempts run out, moves it to the dead-letter topic.
 */
export function pubsubFunction<T>(name: string, rt: Runtime, decode: (message: ReceivedMessage) => T, handle: (command: T, ctx: EventContext) => Promise<void>) {
  return async (event: CloudEvent<MessagePublishedData>): Promise<void> => {
    const message = receivedMessage(event);
    const logger = forInvocation(rt.logger, rt.config.projectId, {
      function: name,
      eventId: message.messageId,
      traceId: traceIdOf(event),
    });
    try {
      const command = decode(message);
      await handle(command, { logger, message, subscription: event.data?.subscription });
    } catch (error) {
      if (toEventOutcome(error) === 'retry') {
        logger.warn({ err: error }, 'transient failure; the message will be redelivered');
        throw error;
      }
      const e = error instanceof AppError ? error : new AppError('INTERNAL', 'unexpected error');
      logger.error({ err: error, errorCode: e.code, violations: e.violations }, 'message rejected; acked and recorded');
      await recordUndeliverable(rt.undeliverableDeps(), message, {
        kind: 'REJECTED',
        source: name,
        errorCode: e.code,
        errorMessage: e.message,
        violations: e.violations,
      });
    }
  };
}

/**
 * A worker whose message is a JSON object checked by `schema`: `run` handles the command and
 * returns what to log, once, as `<name> handled` (a malformed message is rejected and recorded
 * by pubsubFunction).
 */
export function jsonWorker<S extends z.ZodType>(name: string, rt: Runtime, schema: S, run: (command: z.output<S>) => Promise<Readonly<Record<string, unknown>>>) {
  return pubsubFunction(
    name,
    rt,
    (m) => parseWith(schema, jsonPayload(m)),
    async (command, ctx) => ctx.logger.info(await run(command), `${name} handled`),
  );
}

/** Decodes a JSON payload; anything else is a permanent INVALID_ARGUMENT naming `message.data`. */
export function jsonPayload(message: ReceivedMessage): unknown {
  if (message.data.length === 0) throw malformed('is empty');
  try {
    return JSON.parse(message.data.toString('utf8'));
  } catch {
    throw malformed('is not valid JSON');
  }
}

function malformed(description: string): AppError {
  const violation: FieldViolation = { field: 'message.data', description };
  return new AppError('INVALID_ARGUMENT', `message.data ${description}`, { violations: [violation] });
}

function receivedMessage(event: CloudEvent<MessagePublishedData>): ReceivedMessage {
  // A push body the framework did not convert (it converts only those with a message id) arrives as is.
  const envelope = event.data ?? (event as unknown as MessagePublishedData);
  const m = typeof envelope.message === 'object' && envelope.message !== null ? envelope.message : undefined;
  const attributes: Record<string, string> = {};
  // Within Pub/Sub's own limits (100 attributes, keys of 256 and values of 1,024 bytes), as well-formed
  // strings: a forged envelope beyond them must not make the record unwritable.
  for (const [k, v] of Object.entries(m?.attributes ?? {}).slice(0, 100)) {
    if (typeof v === 'string' && k.length <= 256) attributes[toWellFormed(k)] = toWellFormed(v.slice(0, 1024));
  }
  const publishTime = m?.publishTime ? new Date(m.publishTime) : null;
  const data = typeof m?.data === 'string' ? Buffer.from(m.data, 'base64') : Buffer.alloc(0);
  const id = typeof m?.messageId === 'string' && m.messageId ? m.messageId : typeof event.id === 'string' && event.id ? event.id : undefined;
  return {
    messageId: id === undefined ? `body-sha256-${sha256(JSON.stringify([data.toString('base64'), attributes, envelope.subscription ?? null]))}` : safeIdPart(id, 'id-sha256-'),
    publishTime: publishTime && !Number.isNaN(publishTime.getTime()) && Math.abs(publishTime.getUTCFullYear() - 5000) < 5000 ? publishTime : null,
    attributes,
    data,
  };
}

/**
 * A value that becomes part of a record id (a message id, a subscription name): kept when it is
 * short printable ASCII (without `/` unless `slashes`, for a value whose `/` the id escapes), so a
 * Firestore document id can hold it (under 1,500 bytes, no `/`); otherwise `prefix` + its SHA-256.
 * Pub/Sub's own message ids (digits) and subscription names are always kept.
 */
export function safeIdPart(value: string, prefix = 'sha256-', slashes = false): string {
  return (slashes ? /^[\x21-\x7e]{1,256}$/ : /^[\x21-\x2e\x30-\x7e]{1,256}$/).test(value) ? value : `${prefix}${sha256(value)}`;
}

function sha256(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

function traceIdOf(event: CloudEvent<unknown>): string | undefined {
  const traceparent = (event as { traceparent?: unknown }).traceparent;
  const match = typeof traceparent === 'string' ? /^[0-9a-f]{2}-([0-9a-f]{32})-/.exec(traceparent) : null;
  return match?.[1];
}
