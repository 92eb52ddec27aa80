/**
 * Typed errors of the domain. Each carries a stable code (Google's canonical status names, so the
 * edge can map them without a table of special cases) and a `retryable` meaning:
 *
 * - permanent errors (bad input, a documented refusal, a missing record) are answered or acked;
 * - transient errors (an unavailable dependency, a contention abort) are retried by the trigger
 *   (HTTP 503 / Pub/Sub redelivery, ending in the dead-letter topic).
 *
 * The core throws these and nothing else; adapters translate SDK errors into them. Messages must
 * never contain secrets (tokens, codes, verifiers, signed URLs).
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'FAILED_PRECONDITION',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'UNAUTHENTICATED',
  'RESOURCE_EXHAUSTED',
  'ABORTED',
  'UNAVAILABLE',
  'DEADLINE_EXCEEDED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

const TRANSIENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['ABORTED', 'UNAVAILABLE', 'DEADLINE_EXCEEDED']);

/** One violation of a request field: `field` is a dotted path (`resources[2]`), `reason` is for humans. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

export interface AppErrorOptions {
  readonly violations?: readonly FieldViolation[];
  /** Machine-readable reason, e.g. `UNKNOWN_RESOURCE_GROUP`; becomes ErrorInfo.reason at the edge. */
  readonly reason?: string;
  /** String metadata safe to show callers (no personal data, no secrets). */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly violations: readonly FieldViolation[];
  readonly reason: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.violations = options.violations ?? [];
    this.reason = options.reason;
    this.metadata = options.metadata ?? {};
  }

  get retryable(): boolean {
    return TRANSIENT.has(this.code);
  }
}

export function invalidArgument(violations: readonly FieldViolation[], message?: string): AppError {
  const text = message ?? violations.map((v) => `${v.field}: ${v.description}`).join('; ');
  return new AppError('INVALID_ARGUMENT', text || 'invalid argument', { violations });
}

export function transient(message: string, cause?: unknown): AppError {
  return new AppError('UNAVAILABLE', message, { cause });
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** True when retrying the same operation later may succeed. Unknown errors count as transient. */
export function isRetryable(error: unknown): boolean {
  return isAppError(error) ? error.retryable : true;
}
