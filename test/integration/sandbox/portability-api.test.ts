// Every row of the contract's method table and initiate error table, against the sandbox.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { advance, api, call, connect, errorInfoOf, errorStatus, startTestSandbox } from './helpers.js';
import type { TestSandbox } from './helpers.js';

let sb: TestSandbox;
const put = (config: Record<string, unknown>) => call(sb.baseUrl, 'PUT', '/sandbox/v1/config', config);

beforeAll(async () => {
  sb = await startTestSandbox({ config: { jobDurationSeconds: 600 } });
});
afterAll(async () => {
  await sb.stop();
});
afterEach(async () => {
  await put({
    jobDurationSeconds: 600,
    timeBasedRefusal: 'RESOURCE_EXHAUSTED',
    timestampAfter24hrsFormat: 'RFC3339',
    oneTimeOnlyResources: [],
    jobDurationSecondsByResource: {},
    failingResources: {},
  });
});

describe('authentication (401)', () => {
  it('missing, unknown and revoked tokens are 401 UNAUTHENTICATED with WWW-Authenticate', async () => {
    const missing = await call(sb.baseUrl, 'POST', '/v1/portabilityArchive:initiate', { resources: ['chrome.history'] });
    expect(missing.status).toBe(401);
    expect(errorStatus(missing.body)).toBe('UNAUTHENTICATED');
    expect(errorInfoOf(missing.body)?.reason).toBe('CREDENTIALS_MISSING');
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    const bogus = await api(sb.baseUrl, 'ya29.nope').check();
    expect(bogus.status).toBe(401);
    const c = await connect(sb.baseUrl, ['chrome.history']);
    await call(sb.baseUrl, 'POST', '/revoke', `token=${c.accessToken}`, { 'Content-Type': 'application/x-www-form-urlencoded' });
    expect((await api(sb.baseUrl, c.accessToken).check()).status).toBe(401);
  });

  it('a token with no granted group is 403 insufficient scopes', async () => {
    const c = await connect(sb.baseUrl, ['chrome.history'], { resources: [] });
    expect(c.tokenResponse.scope).toBe('');
    const res = await api(sb.baseUrl, c.accessToken).check();
    expect(res.status).toBe(403);
    expect(errorInfoOf(res.body)?.reason).toBe('ACCESS_TOKEN_SCOPE_INSUFFICIENT');
  });
});

describe('initiate: request validation (400 INVALID_ARGUMENT)', () => {
  it.each([
    ['empty resources', { resources: [] }],
    ['no resources', {}],
    ['unknown group', { resources: ['chrome.nope'] }],
    ['resources not a list', { resources: 'chrome.history' }],
    ['unknown field', { resources: ['chrome.history'], foo: 1 }],
    ['bad timestamp', { resources: ['chrome.history'], startTime: 'yesterday' }],
    ['start after end', { resources: ['chrome.history'], startTime: '2024-02-01T00:00:00Z', endTime: '2024-01-01T00:00:00Z' }],
    ['camel and snake of one field', { resources: ['chrome.history'], startTime: '2024-01-01T00:00:00Z', start_time: '2024-01-01T00:00:00Z' }],
  ])('%s', async (_name, body) => {
    const c = await connect(sb.baseUrl, ['chrome.history']);
    const res = await api(sb.baseUrl, c.accessToken).initiate(body);
    expect(res.status).toBe(400);
    expect(errorStatus(res.body)).toBe('INVALID_ARGUMENT');
    expect((res.body.error as { code: number }).code).toBe(400);
  });

  it('malformed JSON is a 400 envelope', async () => {
    const c = await connect(sb.baseUrl, ['chrome.history']);
    const res = await api(sb.baseUrl, c.accessToken).initiate('{"resources": [');
    expect(res.status).toBe(400);
    expect(errorStatus(res.body)).toBe('INVALID_ARGUMENT');
  });
});

describe('initiate: rules', () => {
  it('403 PERMISSION_DENIED with DebugInfo for a group not granted (user unticked it)', async () => {
    const c = await connect(sb.baseUrl, ['chrome.history', 'youtube.music'], { resources: ['chrome.history'] });
    expect(c.tokenResponse.scope).toBe('https://www.googleapis.com/auth/dataportability.chrome.history');
    const res = await api(sb.baseUrl, c.accessToken).initiate({ resources: ['youtube.music'] });
    expect(res.status).toBe(403);
    expect(errorStatus(res.body)).toBe('PERMISSION_DENIED');
    expect((res.body.error as { message: string }).message).toBe('The requested resources are not authorized by the OAuth token.');
    const details = (res.body.error as { details: Array<Record<string, unknown>> }).details;
    expect(details.some((d) => d['@type'] === 'type.googleapis.com/google.rpc.DebugInfo')).toBe(true);
  });

  it('409 ALREADY_EXISTS_ONE_TIME with job_id for an identical running one-time job', async () => {
    const c = await connect(sb.baseUrl, ['play.library']);
    const dp = api(sb.baseUrl, c.accessToken);
    const first = await dp.initiate({ resources: ['play.library'] });
    const again = await dp.initiate({ resources: ['play.library'] });
    expect(again.status).toBe(409);
    expect(errorStatus(again.body)).toBe('ALREADY_EXISTS');
    expect(errorInfoOf(again.body)).toMatchObject({ reason: 'ALREADY_EXISTS_ONE_TIME', metadata: { job_id: first.body.archiveJobId } });
  });

  it('409 ALREADY_EXISTS_TIME_BASED for an identical running time-based job', async () => {
    const c = await connect(sb.baseUrl, ['play.installs'], { duration: 'DAYS_180' });
    const dp = api(sb.baseUrl, c.accessToken);
    const first = await dp.initiate({ resources: ['play.installs'] });
    const again = await dp.initiate({ resources: ['play.installs'] });
    expect(again.status).toBe(409);
    expect(errorInfoOf(again.body)).toMatchObject({ reason: 'ALREADY_EXISTS_TIME_BASED', metadata: { job_id: first.body.archiveJobId } });
  });

  it('429 RESOURCE_EXHAUSTED_ONE_TIME lists the previous jobs', async () => {
    const c = await connect(sb.baseUrl, ['youtube.music', 'youtube.posts']);
    const dp = api(sb.baseUrl, c.accessToken);
    const first = await dp.initiate({ resources: ['youtube.music'] });
    await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${String(first.body.archiveJobId)}:complete`, {});
    const other = await dp.initiate({ resources: ['youtube.posts'] });
    expect(other.status).toBe(200);
    const res = await dp.initiate({ resources: ['youtube.music', 'youtube.posts'] });
    expect(res.status).toBe(429);
    const ids = (errorInfoOf(res.body)?.metadata?.previous_job_ids ?? '').split(',').sort();
    expect(ids).toEqual([String(first.body.archiveJobId), String(other.body.archiveJobId)].sort());
  });

  it('time-based refusal as 400 FAILED_PRECONDITION behind the switch; UNIX_SECONDS timestamp format', async () => {
    const c = await connect(sb.baseUrl, ['maps.reviews'], { duration: 'DAYS_30' });
    const dp = api(sb.baseUrl, c.accessToken);
    const first = await dp.initiate({ resources: ['maps.reviews'] });
    await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${String(first.body.archiveJobId)}:complete`, {});
    await put({ timestampAfter24hrsFormat: 'UNIX_SECONDS' });
    const limited = await dp.initiate({ resources: ['maps.reviews'] });
    expect(limited.status).toBe(429);
    expect(errorInfoOf(limited.body)?.metadata?.timestamp_after_24hrs).toMatch(/^\d{10}$/);
    await put({ timeBasedRefusal: 'FAILED_PRECONDITION' });
    const refused = await dp.initiate({ resources: ['maps.reviews'] });
    expect(refused.status).toBe(400);
    expect(errorStatus(refused.body)).toBe('FAILED_PRECONDITION');
  });

  it('a job is one-time if any group is one-time (oneTimeOnlyResources under a 30-day grant)', async () => {
    await put({ oneTimeOnlyResources: ['saved.collections'] });
    const c = await connect(sb.baseUrl, ['saved.collections', 'shopping.reviews'], { duration: 'DAYS_30' });
    const dp = api(sb.baseUrl, c.accessToken);
    expect((await dp.check()).body).toEqual({ oneTimeResources: ['saved.collections'], timeBasedResources: ['shopping.reviews'] });
    const mixed = await dp.initiate({ resources: ['saved.collections', 'shopping.reviews'] });
    expect(mixed.body.accessType).toBe('ACCESS_TYPE_ONE_TIME');
  });

  it('exports of one user do not exhaust another user of the same client', async () => {
    const a = await connect(sb.baseUrl, ['discover.likes'], {}, { user: 'a@example.com' });
    const b = await connect(sb.baseUrl, ['discover.likes'], {}, { client: a.client, user: 'b@example.com' });
    const jobA = await api(sb.baseUrl, a.accessToken).initiate({ resources: ['discover.likes'] });
    expect(jobA.status).toBe(200);
    expect((await api(sb.baseUrl, b.accessToken).initiate({ resources: ['discover.likes'] })).status).toBe(200);
    expect((await api(sb.baseUrl, b.accessToken).state(String(jobA.body.archiveJobId))).status).toBe(404);
  });
});

describe('service surface', () => {
  it('has no list or delete method', async () => {
    const c = await connect(sb.baseUrl, ['chrome.history']);
    const auth = { Authorization: `Bearer ${c.accessToken}` };
    const id = String((await api(sb.baseUrl, c.accessToken).initiate({ resources: ['chrome.history'] })).body.archiveJobId);
    expect((await call(sb.baseUrl, 'GET', '/v1/archiveJobs', undefined, auth)).status).toBe(404);
    const del = await call(sb.baseUrl, 'DELETE', `/v1/archiveJobs/${id}/portabilityArchiveState`, undefined, auth);
    expect(del.status).toBe(405);
    expect(errorStatus(del.body)).toBeDefined();
  });

  it('accepts the two legacy groups (scope and initiate)', async () => {
    const c = await connect(sb.baseUrl, ['businessmessaging.conversations', 'maps.post_trip_feedback']);
    const dp = api(sb.baseUrl, c.accessToken);
    expect((await dp.initiate({ resources: ['maps.post_trip_feedback'] })).status).toBe(200);
    expect((await dp.check()).body).toEqual({ oneTimeResources: ['businessmessaging.conversations', 'maps.post_trip_feedback'] });
  });

  it('checks in the documented order: 401 > 400 > 403 > 409 > 429', async () => {
    const c = await connect(sb.baseUrl, ['shopping.addresses', 'play.redemptions']);
    const dp = api(sb.baseUrl, c.accessToken);
    // 400 before 403: an unknown group next to a group that is not granted.
    expect((await dp.initiate({ resources: ['nope.nope', 'youtube.music'] })).status).toBe(400);
    const first = await dp.initiate({ resources: ['shopping.addresses'] });
    // 403 before 409/429: a group not granted next to the running, exhausted one.
    expect((await dp.initiate({ resources: ['shopping.addresses', 'youtube.music'] })).status).toBe(403);
    // 409 before 429: the identical job is running and its group is also exhausted.
    const dup = await dp.initiate({ resources: ['shopping.addresses'] });
    expect(dup.status).toBe(409);
    await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${String(first.body.archiveJobId)}:complete`, {});
    expect((await dp.initiate({ resources: ['shopping.addresses'] })).status).toBe(429);
    await dp.reset();
    // 401 before everything else.
    expect((await dp.initiate({ resources: ['nope.nope'] })).status).toBe(401);
  });
});

describe('state, time fields and job duration', () => {
  it('startTime echoed only when given (snake_case accepted); exportTime = endTime, else request time', async () => {
    const c = await connect(sb.baseUrl, ['myactivity.youtube', 'myactivity.play', 'myactivity.maps']);
    const dp = api(sb.baseUrl, c.accessToken);
    const windowed = await dp.initiate({ resources: ['myactivity.youtube'], start_time: '2024-01-01T00:00:00+01:00', end_time: '2024-03-01T00:00:00.5Z' });
    expect(windowed.status).toBe(200);
    const s1 = await dp.state(String(windowed.body.archiveJobId));
    expect(s1.body.startTime).toBe('2023-12-31T23:00:00Z');
    expect(s1.body.exportTime).toBe('2024-03-01T00:00:00.500Z');
    const clock = await call(sb.baseUrl, 'GET', '/sandbox/v1/clock');
    const plain = await dp.initiate({ resources: ['myactivity.play'] });
    const s2 = await dp.state(String(plain.body.archiveJobId));
    expect(s2.body.startTime).toBeUndefined();
    expect(Date.parse(String(s2.body.exportTime))).toBeGreaterThanOrEqual(Date.parse(String(clock.body.now)) - 1000);
    const viaBeta = await call(sb.baseUrl, 'GET', `/v1beta/archiveJobs/${String(plain.body.archiveJobId)}/portabilityArchiveState`, undefined, {
      Authorization: `Bearer ${c.accessToken}`,
    });
    expect(viaBeta.body.state).toBe('IN_PROGRESS');
  });

  it('jobs complete after the (per group) duration on the sandbox clock', async () => {
    await put({ jobDurationSeconds: 10, jobDurationSecondsByResource: { 'nest.user': 100 } });
    const c = await connect(sb.baseUrl, ['nest.user', 'nest.store']);
    const dp = api(sb.baseUrl, c.accessToken);
    const slow = String((await dp.initiate({ resources: ['nest.user'] })).body.archiveJobId);
    const fast = String((await dp.initiate({ resources: ['nest.store'] })).body.archiveJobId);
    await advance(sb.baseUrl, 11);
    expect((await dp.state(fast)).body.state).toBe('COMPLETE');
    expect((await dp.state(slow)).body.state).toBe('IN_PROGRESS');
    await advance(sb.baseUrl, 90);
    expect((await dp.state(slow)).body.state).toBe('COMPLETE');
  });

  it('unknown job 404, malformed name 400', async () => {
    const c = await connect(sb.baseUrl, ['chrome.bookmarks']);
    const dp = api(sb.baseUrl, c.accessToken);
    expect((await dp.state('00000000-0000-0000-0000-000000000000')).status).toBe(404);
    const bad = await dp.state('bad%20id');
    expect(bad.status).toBe(400);
    expect(errorStatus(bad.body)).toBe('INVALID_ARGUMENT');
  });
});

describe('retry, cancel, reset, accessType.check', () => {
  it('retry only from FAILED, gives a new id, at most 3 times', async () => {
    const c = await connect(sb.baseUrl, ['chrome.autofill']);
    const dp = api(sb.baseUrl, c.accessToken);
    let id = String((await dp.initiate({ resources: ['chrome.autofill'] })).body.archiveJobId);
    const early = await dp.retry(id);
    expect(early.status).toBe(400);
    expect(errorStatus(early.body)).toBe('FAILED_PRECONDITION');
    for (let i = 0; i < 3; i += 1) {
      await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${id}:fail`, {});
      expect((await dp.state(id)).body.state).toBe('FAILED');
      const retried = await dp.retry(id, i === 0 ? undefined : {});
      expect(retried.status).toBe(200);
      expect(retried.body.archiveJobId).not.toBe(id);
      expect((await dp.retry(id)).status).toBe(400);
      id = String(retried.body.archiveJobId);
      expect((await dp.state(id)).body.state).toBe('IN_PROGRESS');
    }
    await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${id}:fail`, {});
    const fourth = await dp.retry(id);
    expect(fourth.status).toBe(400);
    expect(errorStatus(fourth.body)).toBe('FAILED_PRECONDITION');
  });

  it('failingResources makes the first attempts of a group fail by themselves', async () => {
    await put({ jobDurationSeconds: 5, failingResources: { 'chrome.reading_list': 2 } });
    const c = await connect(sb.baseUrl, ['chrome.reading_list']);
    const dp = api(sb.baseUrl, c.accessToken);
    let id = String((await dp.initiate({ resources: ['chrome.reading_list'] })).body.archiveJobId);
    const states: string[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      await advance(sb.baseUrl, 6);
      const state = String((await dp.state(id)).body.state);
      states.push(state);
      if (state === 'FAILED') id = String((await dp.retry(id)).body.archiveJobId);
    }
    expect(states).toEqual(['FAILED', 'FAILED', 'COMPLETE']);
  });

  it('cancel only from IN_PROGRESS', async () => {
    const c = await connect(sb.baseUrl, ['chrome.settings', 'chrome.extensions']);
    const dp = api(sb.baseUrl, c.accessToken);
    const id = String((await dp.initiate({ resources: ['chrome.settings'] })).body.archiveJobId);
    const cancelled = await dp.cancel(id);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toEqual({});
    expect((await dp.state(id)).body.state).toBe('CANCELLED');
    expect((await dp.cancel(id)).status).toBe(400);
    const done = String((await dp.initiate({ resources: ['chrome.extensions'] })).body.archiveJobId);
    await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${done}:complete`, {});
    const late = await dp.cancel(done);
    expect(late.status).toBe(400);
    expect(errorStatus(late.body)).toBe('FAILED_PRECONDITION');
  });

  it('empty-request methods accept no body and {}, refuse unknown fields', async () => {
    const c = await connect(sb.baseUrl, ['chrome.dictionary'], { duration: 'DAYS_30' });
    const auth = { Authorization: `Bearer ${c.accessToken}` };
    expect((await call(sb.baseUrl, 'POST', '/v1/accessType:check', undefined, auth)).status).toBe(200);
    expect((await call(sb.baseUrl, 'POST', '/v1/accessType:check', {}, auth)).status).toBe(200);
    const extra = await call(sb.baseUrl, 'POST', '/v1/accessType:check', { x: 1 }, auth);
    expect(extra.status).toBe(400);
    expect((await call(sb.baseUrl, 'POST', '/v1/authorization:reset', undefined, auth)).status).toBe(200);
  });

  it('reset revokes every token of the user for the app and clears exhausted groups', async () => {
    const first = await connect(sb.baseUrl, ['alerts.subscriptions']);
    const second = await connect(sb.baseUrl, ['alerts.subscriptions'], {}, { client: first.client });
    const dp = api(sb.baseUrl, first.accessToken);
    const job = String((await dp.initiate({ resources: ['alerts.subscriptions'] })).body.archiveJobId);
    await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${job}:complete`, {});
    expect((await api(sb.baseUrl, second.accessToken).initiate({ resources: ['alerts.subscriptions'] })).status).toBe(429);
    expect((await api(sb.baseUrl, second.accessToken).reset()).status).toBe(200);
    expect((await dp.check()).status).toBe(401);
    expect((await api(sb.baseUrl, second.accessToken).check()).status).toBe(401);
    const third = await connect(sb.baseUrl, ['alerts.subscriptions'], {}, { client: first.client });
    expect((await api(sb.baseUrl, third.accessToken).initiate({ resources: ['alerts.subscriptions'] })).status).toBe(200);
  });
});
