import type { Request, Response } from '@google-cloud/functions-framework';
import { createHash } from 'node:crypto';
import { AppError, type FieldViolation } from '../core/errors.js';
import { recordUndeliverable, type ReceivedMessage } from '../core/undeliverable.js';
import { toEventOutcome, toHttpError } from './errors.js';
import { frameworkRefusal, MAX_EVENT_BODY_BYTES, pushRequestProblem, readBody, SECURITY_HEADERS, toHttpAnswer } from './framework-errors.js';
import { parseWith, toWellFormed } from './validation.js';
import { forInvocation, traceIdFrom, type Logger } from './logger.js';
import type { Runtime } from './runtime.js';
import type { z } from 'zod';

/**
 * The body of a Pub/Sub push request (https://cloud.google.com/pubsub/docs/push#receive_push):
 * the message, the subscription it came through, and, when the subscription has a dead-letter
 * policy, the delivery attempt.
 */
export interface PushEnvelope {
  readonly message?: {
    readonly data?: string;
    readonly attributes?: Record<string, string>;
    readonly messageId?: string;
    readonly publishTime?: string;
  };
  readonly subscription?: string;
  readonly deliveryAttempt?: number;
}

export interface EventContext {
  readonly logger: Logger;
  readonly message: ReceivedMessage;
  readonly subscription: string | undefined;
}

/**
 * A Pub/Sub worker: an HTTP function (deployed `--trigger-http --no-allow-unauthenticated`) fed by
 * a push subscription with OIDC authentication, which Cloud Run checks before a request gets here.
 * `decode` turns the raw message into a typed command (throwing INVALID_ARGUMENT when it is
 * malformed); `handle` runs the use case. A message is known by its Pub/Sub message id, or, when
 * that id could not name a record (a `/`, over 256 bytes), by `id-sha256-<hash of the id>`, or,
 * when it has none, by `body-sha256-<hash of its data, attributes and subscription>`; so each
 * malformed message is recorded once, under its own id. A request that is not a push delivery at
 * all (not a POST, no JSON body, compressed, too large, not JSON) is refused with a Google-style
 * 400 naming `body` (Pub/Sub redelivers it, and dead-letters it when attempts run out). Outcome:
 * - success → 204, which acks;
 * - permanent error (malformed message, documented refusal) → recorded as REJECTED, then 204;
 * - transient error → an error status (5xx, or 429), so Pub/Sub redelivers it under the
 *   subscription's retry policy and, when attempts run out, moves it to the dead-letter topic.
 */
export function pubsubFunction<T>(name: string, rt: Runtime, decode: (message: ReceivedMessage) => T, handle: (command: T, ctx: EventContext) => Promise<void>) {
  return async (req: Request, res: Response): Promise<void> => {
    const traceId = traceIdFrom(req.headers);
    for (const [k, v] of Object.entries({ ...SECURITY_HEADERS, 'Cache-Control': 'no-store' })) res.set(k, v);
    try {
      const refusal = frameworkRefusal(req);
      if (refusal) throw refusal.kind === 'body' ? refusal.error : new AppError('INVALID_ARGUMENT', 'the path could not be decoded');
      const problem = pushRequestProblem(req);
      if (problem) throw problem;
      await readBody(req, res, MAX_EVENT_BODY_BYTES);
    } catch (error) {
      const mapped = toHttpAnswer(error);
      for (const [k, v] of Object.entries(mapped.headers)) res.set(k, v);
      forInvocation(rt.logger, rt.config.projectId, { function: name, traceId }).info(
        { status: mapped.status, errorCode: mapped.body.error.status, method: req.method, detail: mapped.body.error.message },
        'request refused: not a push delivery',
      );
      res.status(mapped.status).json(mapped.body);
      return;
    }
    const envelope = pushEnvelope(req.body);
    const message = receivedMessage(envelope);
    const logger = forInvocation(rt.logger, rt.config.projectId, {
      function: name,
      eventId: message.messageId,
      traceId,
      ...(typeof envelope.deliveryAttempt === 'number' ? { deliveryAttempt: envelope.deliveryAttempt } : {}),
    });
    try {
      await deliver(name, rt, decode, handle, { logger, message, subscription: typeof envelope.subscription === 'string' ? envelope.subscription : undefined });
    } catch (error) {
      // Transient: an error status, so Pub/Sub redelivers (logged once, in deliver).
      const mapped = toHttpError(error);
      res.status(mapped.status >= 400 ? mapped.status : 500).json(mapped.body);
      return;
    }
    res.status(204).end();
  };
}

async function deliver<T>(
  name: string,
  rt: Runtime,
  decode: (message: ReceivedMessage) => T,
  handle: (command: T, ctx: EventContext) => Promise<void>,
  ctx: EventContext,
): Promise<void> {
  const { logger, message } = ctx;
  try {
    const command = decode(message);
    await handle(command, ctx);
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
}

/**
 * The push envelope of a parsed JSON body; a structured CloudEvent
 * (`application/cloudevents+json`, as Eventarc would send) carries it as its `data`.
 */
function pushEnvelope(body: unknown): PushEnvelope & { readonly eventId?: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return {};
  const b = body as Record<string, unknown>;
  if (typeof b['specversion'] === 'string' && typeof b['data'] === 'object' && b['data'] !== null) {
    return { ...(b['data'] as PushEnvelope), ...(typeof b['id'] === 'string' && !(b['data'] as PushEnvelope).message?.messageId ? { eventId: b['id'] } : {}) };
  }
  return b as PushEnvelope;
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

function receivedMessage(envelope: PushEnvelope & { eventId?: string }): ReceivedMessage {
  const m = typeof envelope.message === 'object' && envelope.message !== null ? envelope.message : undefined;
  const attributes: Record<string, string> = {};
  // Within Pub/Sub's own limits (100 attributes, keys of 256 and values of 1,024 bytes), as well-formed
  // strings: a forged envelope beyond them must not make the record unwritable.
  const given = typeof m?.attributes === 'object' && m.attributes !== null ? m.attributes : {};
  for (const [k, v] of Object.entries(given).slice(0, 100)) {
    if (typeof v === 'string' && k.length <= 256) attributes[toWellFormed(k)] = toWellFormed(v.slice(0, 1024));
  }
  const publishTime = typeof m?.publishTime === 'string' ? new Date(m.publishTime) : null;
  const data = typeof m?.data === 'string' ? Buffer.from(m.data, 'base64') : Buffer.alloc(0);
  const id = typeof m?.messageId === 'string' && m.messageId ? m.messageId : typeof envelope.eventId === 'string' && envelope.eventId ? envelope.eventId : undefined;
  const subscription = typeof envelope.subscription === 'string' ? envelope.subscription : null;
  return {
    messageId: id === undefined ? `body-sha256-${sha256(JSON.stringify([data.toString('base64'), attributes, subscription]))}` : safeIdPart(id, 'id-sha256-'),
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
