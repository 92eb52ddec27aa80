import { AppError, isAppError, isRetryable, type ErrorCode } from '../core/errors.js';

/**
 * The one place where typed errors get their meaning for a trigger:
 * - HTTP: a status and a Google-style error body `{"error":{"code","status","message","details"}}`;
 * - events: `ack` (permanent: record and return) or `retry` (transient: throw for redelivery).
 * Unknown errors are internal: HTTP 500 with a generic message, and retried for events.
 */
const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  ABORTED: 409,
  PERMISSION_DENIED: 403,
  UNAUTHENTICATED: 401,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  INTERNAL: 500,
};

export const ERROR_DOMAIN = 'dataportability-pipeline';

export interface GoogleErrorBody {
  readonly error: {
    readonly code: number;
    readonly status: ErrorCode;
    readonly message: string;
    readonly details: readonly Record<string, unknown>[];
  };
}

export function toHttpError(error: unknown): { status: number; body: GoogleErrorBody } {
  const e = isAppError(error) ? error : new AppError('INTERNAL', 'internal error');
  const details: Record<string, unknown>[] = [];
  if (e.violations.length > 0) {
    details.push({
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      fieldViolations: e.violations.map((v) => ({ field: v.field, description: v.description })),
    });
  }
  if (e.reason) {
    details.push({
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: e.reason,
      domain: ERROR_DOMAIN,
      metadata: e.metadata,
    });
  }
  const status = HTTP_STATUS[e.code];
  // 5xx messages are generic: internal details stay in the logs.
  const message = status >= 500 && e.code !== 'UNAVAILABLE' ? 'internal error' : e.message;
  return { status, body: { error: { code: status, status: e.code, message, details } } };
}

export type EventOutcome = 'ack' | 'retry';

export function toEventOutcome(error: unknown): EventOutcome {
  return isRetryable(error) ? 'retry' : 'ack';
}
