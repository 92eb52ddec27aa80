import type { CloudEvent } from '@google-cloud/functions-framework';
import { AppError, type FieldViolation } from '../core/errors.js';
import { recordUndeliverable, type ReceivedMessage } from '../core/undeliverable.js';
import { toEventOutcome } from './errors.js';
import { forInvocation, type Logger } from './logger.js';
import type { Runtime } from './runtime.js';

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
 * INVALID_ARGUMENT when it is malformed); `handle` runs the use case. Outcome:
 * - success → ack;
 * - permanent error (malformed message, documented refusal) → recorded as REJECTED, then ack;
 * - transient error → thrown, so Pub/Sub redelivers it under the subscription's retry policy and,
 *   when attempts run out, moves it to the dead-letter topic.
 */
export function pubsubFunction<T>(
  name: string,
  rt: Runtime,
  decode: (message: ReceivedMessage) => T,
  handle: (command: T, ctx: EventContext) => Promise<void>,
) {
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
  const m = event.data?.message;
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(m?.attributes ?? {})) if (typeof v === 'string') attributes[k] = v;
  const publishTime = m?.publishTime ? new Date(m.publishTime) : null;
  return {
    messageId: typeof m?.messageId === 'string' && m.messageId ? m.messageId : String(event.id ?? 'unknown'),
    publishTime: publishTime && !Number.isNaN(publishTime.getTime()) ? publishTime : null,
    attributes,
    data: typeof m?.data === 'string' ? Buffer.from(m.data, 'base64') : Buffer.alloc(0),
  };
}

function traceIdOf(event: CloudEvent<unknown>): string | undefined {
  const traceparent = (event as { traceparent?: unknown }).traceparent;
  const match = typeof traceparent === 'string' ? /^[0-9a-f]{2}-([0-9a-f]{32})-/.exec(traceparent) : null;
  return match?.[1];
}
