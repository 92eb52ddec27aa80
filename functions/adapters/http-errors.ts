import { AppError } from '../core/errors.js';

/**
 * Translates a failed HTTP exchange with a Google API (or the sandbox) into a typed AppError:
 * the Google error envelope is parsed and its `ErrorInfo` found by `@type`, never by position.
 * Shared by the Google adapters. Secrets never enter the message: only status, API status and reason.
 */
export interface GoogleErrorInfo {
  readonly reason: string | undefined;
  readonly metadata: Record<string, string>;
}

export function errorInfoOf(body: unknown): GoogleErrorInfo & { status: string | undefined; message: string | undefined } {
  const error = isObject(body) && isObject(body['error']) ? body['error'] : undefined;
  const details = error && Array.isArray(error['details']) ? error['details'] : [];
  const info = details.find((d): d is Record<string, unknown> => isObject(d) && d['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo');
  const metadata: Record<string, string> = {};
  if (info && isObject(info['metadata'])) {
    for (const [k, v] of Object.entries(info['metadata'])) if (typeof v === 'string') metadata[k] = v;
  }
  return {
    status: typeof error?.['status'] === 'string' ? error['status'] : undefined,
    message: typeof error?.['message'] === 'string' ? error['message'] : undefined,
    reason: typeof info?.['reason'] === 'string' ? info['reason'] : undefined,
    metadata,
  };
}

export function fromHttpStatus(status: number, body: unknown, what: string, retryAfterSeconds?: number): AppError {
  const info = errorInfoOf(body);
  const detail = [info.status, info.reason].filter(Boolean).join(' ');
  const message = `${what}: HTTP ${status}${detail ? ` ${detail}` : ''}`;
  const options = {
    ...(info.reason ? { reason: info.reason } : {}),
    metadata: { ...info.metadata, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds: String(retryAfterSeconds) } : {}) },
  };
  if (status === 401) return new AppError('UNAUTHENTICATED', message, options);
  if (status === 403) return new AppError('PERMISSION_DENIED', message, options);
  if (status === 404) return new AppError('NOT_FOUND', message, options);
  if (status === 409) return new AppError('ALREADY_EXISTS', message, options);
  // A documented refusal carries an ErrorInfo reason; a bare 429 is rate limiting: retry later.
  if (status === 429) return new AppError(info.reason ? 'RESOURCE_EXHAUSTED' : 'UNAVAILABLE', message, options);
  if (status === 408 || status >= 500) return new AppError('UNAVAILABLE', message, options);
  if (info.status === 'FAILED_PRECONDITION') return new AppError('FAILED_PRECONDITION', message, options);
  return new AppError('INVALID_ARGUMENT', message, options);
}

export function retryAfterSeconds(header: string | null | undefined): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
