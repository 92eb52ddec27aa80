// Replays the documented flows of the Data Portability API against the sandbox: Google's
// one-time quickstart and the time-based (30-day) flow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advance, api, call, connect, errorInfoOf, errorStatus, startTestSandbox, token } from './helpers.js';
import type { TestSandbox } from './helpers.js';

let sb: TestSandbox;

beforeAll(async () => {
  sb = await startTestSandbox({ config: { jobDurationSeconds: 60 } });
});
afterAll(async () => {
  await sb.stop();
});

describe("Google's one-time quickstart", () => {
  it('initiate → poll → download → second initiate 429 → reset → old token 401', async () => {
    const group = 'myactivity.search';
    const c = await connect(sb.baseUrl, [group], { duration: 'ONE_TIME' });
    const dp = api(sb.baseUrl, c.accessToken);

    const started = await dp.initiate({ resources: [group] });
    expect(started.status).toBe(200);
    expect(started.body.accessType).toBe('ACCESS_TYPE_ONE_TIME');
    const id = String(started.body.archiveJobId);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const polling = await dp.state(id);
    expect(polling.status).toBe(200);
    expect(polling.body).toMatchObject({ name: `archiveJobs/${id}/portabilityArchiveState`, state: 'IN_PROGRESS' });
    expect(polling.body.urls).toBeUndefined();

    await advance(sb.baseUrl, 61);
    const done = await dp.state(id);
    expect(done.body.state).toBe('COMPLETE');
    const urls = done.body.urls as string[];
    expect(urls.length).toBeGreaterThan(0);
    const download = await fetch(urls[0] ?? '');
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(Number(download.headers.get('content-length')));
    expect(bytes.subarray(0, 4).toString('hex')).toBe('504b0304');

    const again = await dp.initiate({ resources: [group] });
    expect(again.status).toBe(429);
    expect(errorStatus(again.body)).toBe('RESOURCE_EXHAUSTED');
    expect(errorInfoOf(again.body)).toMatchObject({
      reason: 'RESOURCE_EXHAUSTED_ONE_TIME',
      domain: 'dataportability.googleapis.com',
      metadata: { previous_job_ids: id },
    });

    expect((await dp.reset()).status).toBe(200);
    const after = await dp.initiate({ resources: [group] });
    expect(after.status).toBe(401);
    expect(errorStatus(after.body)).toBe('UNAUTHENTICATED');
    const refreshed = await token(sb.baseUrl, c.client, { grant_type: 'refresh_token', refresh_token: c.refreshToken ?? '' });
    expect(refreshed.status).toBe(400);
    expect(refreshed.body.error).toBe('invalid_grant');

    // A new consent after the reset can export the group again.
    const again2 = await connect(sb.baseUrl, [group], { duration: 'ONE_TIME' }, { client: c.client });
    const fresh = await api(sb.baseUrl, again2.accessToken).initiate({ resources: [group] });
    expect(fresh.status).toBe(200);
  });
});

describe('time-based flow (30 days)', () => {
  it('24-hour window, then allowed, then invalid_grant after the grant ends', async () => {
    const group = 'chrome.history';
    const c = await connect(sb.baseUrl, [group], { duration: 'DAYS_30' });
    expect(c.tokenResponse.refresh_token_expires_in).toBeGreaterThan(30 * 86400 - 60);
    expect(c.tokenResponse.refresh_token_expires_in).toBeLessThanOrEqual(30 * 86400);
    const dp = api(sb.baseUrl, c.accessToken);
    expect((await dp.check()).body).toEqual({ timeBasedResources: [group] });

    const first = await dp.initiate({ resources: [group] });
    expect(first.status).toBe(200);
    expect(first.body.accessType).toBe('ACCESS_TYPE_TIME_BASED');
    const firstId = String(first.body.archiveJobId);
    const exportTime = String((await dp.state(firstId)).body.exportTime);
    await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${firstId}:complete`, {});

    await advance(sb.baseUrl, 3600);
    const stale = await dp.initiate({ resources: [group], startTime: exportTime });
    expect(stale.status).toBe(401);
    expect(errorInfoOf(stale.body)?.reason).toBe('ACCESS_TOKEN_EXPIRED');
    const renewed = await token(sb.baseUrl, c.client, { grant_type: 'refresh_token', refresh_token: c.refreshToken ?? '' });
    expect(renewed.status).toBe(200);
    expect(renewed.body.refresh_token).toBeUndefined();
    const second = await api(sb.baseUrl, String(renewed.body.access_token)).initiate({ resources: [group], startTime: exportTime });
    expect(second.status).toBe(429);
    const info = errorInfoOf(second.body);
    expect(info?.reason).toBe('RESOURCE_EXHAUSTED_TIME_BASED');
    expect(info?.metadata?.previous_job_ids).toBe(firstId);
    const after = Date.parse(info?.metadata?.timestamp_after_24hrs ?? '');
    expect(after).toBe(Date.parse(exportTime) + 86_400_000);

    await advance(sb.baseUrl, 23 * 3600);
    const refreshed = await token(sb.baseUrl, c.client, { grant_type: 'refresh_token', refresh_token: c.refreshToken ?? '' });
    expect(refreshed.status).toBe(200);
    const dp2 = api(sb.baseUrl, String(refreshed.body.access_token));
    const third = await dp2.initiate({ resources: [group], startTime: exportTime });
    expect(third.status).toBe(200);
    const thirdState = await dp2.state(String(third.body.archiveJobId));
    expect(thirdState.body.startTime).toBe(exportTime);

    await advance(sb.baseUrl, 30 * 86400);
    const expired = await token(sb.baseUrl, c.client, { grant_type: 'refresh_token', refresh_token: c.refreshToken ?? '' });
    expect(expired.status).toBe(400);
    expect(expired.body.error).toBe('invalid_grant');
  });
});
