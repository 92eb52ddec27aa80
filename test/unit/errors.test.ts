import { describe, expect, it } from 'vitest';
import { AppError, ERROR_CODES, invalidArgument, isRetryable, transient } from '../../functions/core/errors.js';
import { toEventOutcome, toHttpError } from '../../functions/platform/errors.js';

describe('error mapping at the edge', () => {
  it('maps every code to an HTTP status and a Google-style body', () => {
    const expected: Record<string, number> = {
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
    for (const code of ERROR_CODES) {
      const { status, body } = toHttpError(new AppError(code, 'boom'));
      expect(status, code).toBe(expected[code]);
      expect(body.error.code).toBe(status);
      expect(body.error.status).toBe(code);
    }
  });

  it('names each invalid field in a BadRequest detail', () => {
    const { status, body } = toHttpError(
      invalidArgument([
        { field: 'resources[1]', description: 'is not a known resource group' },
        { field: 'returnUrl', description: 'is not allowed' },
      ]),
    );
    expect(status).toBe(400);
    expect(body.error.message).toBe('resources[1]: is not a known resource group; returnUrl: is not allowed');
    expect(body.error.details).toEqual([
      {
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        fieldViolations: [
          { field: 'resources[1]', description: 'is not a known resource group' },
          { field: 'returnUrl', description: 'is not allowed' },
        ],
      },
    ]);
  });

  it('adds an ErrorInfo when the error has a reason', () => {
    const { body } = toHttpError(new AppError('FAILED_PRECONDITION', 'consent revoked', { reason: 'CONSENT_REVOKED', metadata: { consent: 'c1' } }));
    expect(body.error.details).toEqual([
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'CONSENT_REVOKED', domain: 'dataportability-pipeline', metadata: { consent: 'c1' } },
    ]);
  });

  it('hides the message of unknown errors behind a generic 500', () => {
    const { status, body } = toHttpError(new Error('secret internals at /srv/x.ts'));
    expect(status).toBe(500);
    expect(body.error.message).toBe('internal error');
  });

  it('acks permanent errors and retries transient and unknown ones', () => {
    expect(toEventOutcome(invalidArgument([{ field: 'x', description: 'bad' }]))).toBe('ack');
    expect(toEventOutcome(new AppError('NOT_FOUND', 'gone'))).toBe('ack');
    expect(toEventOutcome(new AppError('INTERNAL', 'bug'))).toBe('ack');
    expect(toEventOutcome(transient('flaky'))).toBe('retry');
    expect(toEventOutcome(new AppError('ABORTED', 'contention'))).toBe('retry');
    expect(toEventOutcome(new AppError('DEADLINE_EXCEEDED', 'slow'))).toBe('retry');
    expect(toEventOutcome(new TypeError('unexpected'))).toBe('retry');
    expect(isRetryable(new AppError('UNAVAILABLE', 'x'))).toBe(true);
  });
});
