// The console's calls to the API (same origin: the proxy in front adds the caller's ID token) and
// the words it shows for the API's states and errors.

/** An API answer that was not 2xx, with the words to show. */
export class ApiError extends Error {
  constructor(status, body) {
    super(plainError(status, body));
    this.status = status;
    this.body = body;
  }
}

/** Calls `/v1/...`; resolves with the parsed JSON body, or throws ApiError with plain words. */
export async function api(path, { method = 'GET', body } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, undefined);
  }
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed ?? {};
}

function plainError(status, body) {
  const error = body && typeof body === 'object' ? body.error : undefined;
  const message = error && typeof error.message === 'string' ? error.message : '';
  const fields = [];
  for (const detail of error && Array.isArray(error.details) ? error.details : []) {
    for (const v of Array.isArray(detail.fieldViolations) ? detail.fieldViolations : []) fields.push(`${v.field} ${v.description}`);
  }
  const said = fields.length > 0 ? fields.join('; ') : message;
  switch (true) {
    case status === 0:
      return 'The console could not reach the service. Check that the local stack (npm start) or the gcloud proxy is still running.';
    case status === 401:
      return `The service could not tell who you are (${message || 'no valid ID token'}). Open the console through its proxy: the address npm start prints first, or gcloud run services proxy in production.`;
    case status === 403:
      return `Your identity is not allowed to use this API (${message || 'not an allowed caller'}). Ask for it to be added to API_ALLOWED_CALLERS.`;
    case status === 404:
      return `Not found: ${message || 'it does not exist'}. It may have been erased.`;
    case status === 409:
      return `Not done, because something else is in the way: ${said}`;
    case status >= 500:
      return `The service had a problem (${status}); nothing is lost, try again in a moment. ${message}`.trim();
    default:
      return said ? `The request was refused: ${said}` : `The request was refused (HTTP ${status}).`;
  }
}

export const CONSENT_STATES = {
  PENDING_CONFIRMATION: 'Waiting for the application to confirm the connection',
  ACTIVE: 'Active',
  CLOSING: 'Closing (one-time grant being released)',
  CLOSED: 'Closed (one-time grant used and released)',
  NEEDS_RECONSENT: 'Needs a new consent: the grant stopped working at Google',
  EXPIRED: 'Expired',
  REVOKED: 'Revoked',
};

export const EXPORT_STATES = {
  PENDING: 'Queued',
  WAITING: 'Waiting: Google allows one export per 24 hours',
  STARTING: 'Starting at Google',
  IN_PROGRESS: 'Google is preparing the archive',
  TRANSFERRING: 'Copying into the bucket',
  DELIVERED: 'Delivered',
  EXHAUSTED: 'Not exported: the one-time grant was already used',
  NOT_GRANTED: 'Not exported: the user did not grant this group',
  FAILED: 'Failed',
  CANCELLED: 'Cancelled',
  ABORTED: 'Stopped: the consent ended',
};

export const END_REASONS = {
  ONE_TIME_USED: 'Google allows one export per one-time grant, and it was already used.',
  NOT_GRANTED: 'The user did not grant this data group.',
  UPSTREAM_FAILED: 'Google could not produce the archive, even after retrying.',
  UPSTREAM_CANCELLED: 'The export was cancelled at Google.',
  ARCHIVE_GONE: 'The archive expired at Google before it could be copied.',
  TRANSFER_FAILED: 'Copying the archive into the bucket failed; Retry copies it again.',
  START_FAILED: 'The export could not be started on our side; Retry starts it again.',
  CANCELLED_BY_APP: 'Cancelled from the application or this console.',
  CONSENT_ENDED: 'The consent ended (revoked, expired, or it needs a new consent).',
};

export const TERMINAL = new Set(['DELIVERED', 'EXHAUSTED', 'NOT_GRANTED', 'FAILED', 'CANCELLED', 'ABORTED']);
