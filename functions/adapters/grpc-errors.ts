import { AppError, isAppError } from '../core/errors.js';

/**
 * Translates a Google Cloud client error (gRPC status in `code`) into a typed AppError, so the
 * core sees one error vocabulary. Shared by the Firestore and Pub/Sub adapters.
 */
const GRPC: Record<number, AppError['code']> = {
  1: 'ABORTED', // CANCELLED
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'UNAVAILABLE', // RESOURCE_EXHAUSTED: quota, retry later
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  13: 'UNAVAILABLE', // INTERNAL on Google's side is documented as retryable
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};

export function fromGrpcError(error: unknown, what: string): AppError {
  if (isAppError(error)) return error;
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const mapped = typeof code === 'number' ? GRPC[code] : undefined;
  return new AppError(mapped ?? 'UNAVAILABLE', `${what} failed${mapped ? ` (${mapped})` : ''}`, { cause: error });
}
