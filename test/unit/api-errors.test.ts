import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../functions/core/errors.js';
import { connectSessionBody, createExportsBody, listExportsQuery } from '../../functions/entrypoints/schemas.js';
import { parseWith } from '../../functions/platform/validation.js';
import { GOOD_TOKEN, startApiOnFakes } from '../fixtures/api-server.js';

/** Issue 14: errors that say what is wrong, as a new user meets them on the real api function. */
let server: Awaited<ReturnType<typeof startApiOnFakes>>;
beforeAll(async () => {
  server = await startApiOnFakes();
});
afterAll(() => server.close());

interface GoogleError {
  error: { code: number; status: string; message: string; details: { '@type': string; reason?: string; fieldViolations?: { field: string; description: string }[] }[] };
}

async function call(method: string, path: string, body?: string, headers: Record<string, string> = { 'Content-Type': 'application/json' }) {
  const res = await fetch(server.base + path, { method, headers: { Authorization: `Bearer ${GOOD_TOKEN}`, ...headers }, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as GoogleError };
}

function violationsOf(body: GoogleError) {
  return body.error.details.flatMap((d) => d.fieldViolations ?? []);
}

const session = { appUserId: 'user-1', resources: ['myactivity.search'], returnUrl: 'https://app.example.com/connected' };

describe('a body that is not JSON', () => {
  it('a form, plain text or a JSON body without its Content-Type → one 400 naming the body and the header', async () => {
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', 'appUserId=user-1&resources=myactivity.search'],
      ['text/plain', JSON.stringify(session)],
      ['application/octet-stream', JSON.stringify(session)],
    ] as const) {
      const a = await call('POST', '/v1/connectSessions', body, { 'Content-Type': type });
      expect(a.status, type).toBe(400);
      expect(violationsOf(a.body), type).toEqual([{ field: 'body', description: 'must be a JSON object sent with Content-Type: application/json' }]);
      expect(a.body.error.message).toContain('Content-Type: application/json');
    }
    // The same body as application/json (any case, with a charset) is accepted.
    const ok = await call('POST', '/v1/connectSessions', JSON.stringify(session), { 'Content-Type': 'Application/JSON; charset=utf-8' });
    expect(ok.status).toBe(200);
  });
});

describe('a field of the wrong type says so', () => {
  it('"appUserId": 5 must be a string; a missing one is required', async () => {
    const wrong = await call('POST', '/v1/connectSessions', JSON.stringify({ ...session, appUserId: 5 }));
    expect(violationsOf(wrong.body)).toEqual([{ field: 'appUserId', description: 'must be a string' }]);
    const { appUserId: _, ...missing } = session;
    expect(violationsOf((await call('POST', '/v1/connectSessions', JSON.stringify(missing))).body)).toEqual([{ field: 'appUserId', description: 'is required' }]);
  });

  it('each type in its own words', () => {
    const cases: [unknown, string, string][] = [
      [{ ...session, resources: 'myactivity.search' }, 'resources', 'must be a list of resource group names'],
      [{ ...session, resources: [7] }, 'resources[0]', 'must be a string'],
      [{ ...session, autoStart: 'yes' }, 'autoStart', 'must be true or false'],
      [{ ...session, confirmation: 3 }, 'confirmation', 'must be CODE or NONE'],
      [{ ...session, returnUrl: null }, 'returnUrl', 'must be a string'],
    ];
    for (const [body, field, description] of cases) {
      expect(errorOf(() => parseWith(connectSessionBody, body))).toEqual([{ field, description }]);
    }
    expect(errorOf(() => parseWith(createExportsBody, { consent: 'consents/c1', startTime: 1 }))).toEqual([
      { field: 'startTime', description: 'must be an RFC 3339 timestamp string' },
    ]);
    expect(errorOf(() => parseWith(listExportsQuery, {}))).toEqual([{ field: 'consent', description: 'is required: name a consent or a tenant' }]);
  });
});

describe('one violation per field', () => {
  it('an empty appUserId breaks three rules and gets one violation; two unknown fields get one each', () => {
    expect(errorOf(() => parseWith(connectSessionBody, { ...session, appUserId: '' }))).toEqual([{ field: 'appUserId', description: 'must not be empty' }]);
    expect(errorOf(() => parseWith(connectSessionBody, { ...session, appUserId: '.a b' }))).toHaveLength(1);
    expect(errorOf(() => parseWith(connectSessionBody, { ...session, extra: 1, other: 2 }))).toEqual([
      { field: 'extra', description: 'is not a known field' },
      { field: 'other', description: 'is not a known field' },
    ]);
  });
});

describe('a wrong method on a known path', () => {
  it('→ 405 with Allow listing the methods the path takes', async () => {
    const del = await call('DELETE', '/v1/consents/c1');
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, PATCH');
    expect(del.body.error.code).toBe(405);
    expect(del.body.error.details.find((d) => d.reason)?.reason).toBe('METHOD_NOT_ALLOWED');
    const get = await call('GET', '/v1/connectSessions');
    expect({ status: get.status, allow: get.headers.get('allow') }).toEqual({ status: 405, allow: 'POST' });
    expect((await call('GET', '/v1/nowhere')).status).toBe(404);
  });
});

describe('an export window in the future', () => {
  it('an endTime after now → 400 naming endTime; a startTime in the future too', async () => {
    const now = server.clock.now().getTime();
    const future = await call('POST', '/v1/exports', JSON.stringify({ consent: 'consents/c1', endTime: new Date(now + 3_600_000).toISOString() }));
    expect(future.status).toBe(400);
    expect(violationsOf(future.body).map((v) => v.field)).toEqual(['endTime']);
    expect(violationsOf(future.body)[0]?.description).toMatch(/must not be in the future/);
    const start = await call('POST', '/v1/exports', JSON.stringify({ consent: 'consents/c1', startTime: new Date(now + 60_000).toISOString() }));
    expect(violationsOf(start.body).map((v) => v.field)).toEqual(['startTime']);
    const past = await call('POST', '/v1/exports', JSON.stringify({ consent: 'consents/c1', endTime: new Date(now - 60_000).toISOString() }));
    expect(past.status).toBe(200);
  });
});

function errorOf(run: () => unknown): { field: string; description: string }[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return [...(error as AppError).violations];
  }
  throw new Error('accepted');
}
