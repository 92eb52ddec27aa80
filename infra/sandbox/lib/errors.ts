// Typed errors thrown by route handlers. The router renders each one in the shape of the route
// that failed (Google API envelope, OAuth JSON, HTML error page or Cloud Storage XML).

/** One entry of `error.details` in Google's envelope (`@type` plus the message's fields). */
export type ErrorDetail = { '@type': string } & Record<string, unknown>;

export const DP_DOMAIN = 'dataportability.googleapis.com';

/** A Google API error: `{"error":{"code","message","status","details"}}`. */
export class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly status: string,
    message: string,
    readonly details: ErrorDetail[] = [],
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** An OAuth 2.0 error answered as `{"error","error_description"}`. */
export class OAuthError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(`${error}: ${description}`);
  }
}

/** Malformed input found by a shared helper (body too large, bad JSON, bad path). */
export class RequestError extends Error {
  constructor(
    readonly httpStatus: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A Mews Connector API error: `{"Message": "…"}` (plus operation-specific properties, e.g. the
 * `ExportId` of the export that blocks `exports/add`).
 */
export class MewsError extends Error {
  constructor(
    readonly httpStatus: number,
    message: string,
    readonly extra: Readonly<Record<string, unknown>> = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** A Cloud Storage XML error (`<Error><Code>…</Code><Message>…</Message></Error>`). */
export class StorageXmlError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
    readonly details = '',
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export function errorInfo(reason: string, metadata: Record<string, string> = {}, domain = DP_DOMAIN): ErrorDetail {
  return { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain, metadata };
}

export function debugInfo(detail: string): ErrorDetail {
  return { '@type': 'type.googleapis.com/google.rpc.DebugInfo', detail };
}

export function badRequest(field: string, description: string): ErrorDetail {
  return {
    '@type': 'type.googleapis.com/google.rpc.BadRequest',
    fieldViolations: [{ field, description }],
  };
}

const STATUS_BY_HTTP: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  411: 'INVALID_ARGUMENT',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  416: 'OUT_OF_RANGE',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

export function statusOfHttp(code: number): string {
  return STATUS_BY_HTTP[code] ?? (code >= 500 ? 'UNAVAILABLE' : 'INVALID_ARGUMENT');
}

export function invalidArgument(message: string, details: ErrorDetail[] = []): ApiError {
  return new ApiError(400, 'INVALID_ARGUMENT', message, details);
}

export function failedPrecondition(message: string, details: ErrorDetail[] = []): ApiError {
  return new ApiError(400, 'FAILED_PRECONDITION', message, details);
}

export function notFound(message: string): ApiError {
  return new ApiError(404, 'NOT_FOUND', message);
}
