// The control API: faults on every upstream route, the call log, config, clock and job controls.
import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, call, connect, errorStatus, startTestSandbox } from './helpers.js';
import type { TestSandbox } from './helpers.js';

let sb: TestSandbox;

beforeAll(async () => {
  sb = await startTestSandbox({ config: { jobDurationSeconds: 600 } });
});
afterAll(async () => {
  await sb.stop();
});
afterEach(async () => {
  await call(sb.baseUrl, 'DELETE', '/sandbox/v1/faults');
});

const faults = (rules: unknown[]) => call(sb.baseUrl, 'POST', '/sandbox/v1/faults', { rules });

/** GET that resolves with the bytes received and how the response ended. */
function rawGet(url: string): Promise<{ status: number; received: number; complete: boolean; error?: string }> {
  return new Promise((resolve) => {
    const req = request(url, (res) => {
      let received = 0;
      res.on('data', (c: Buffer) => (received += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, received, complete: res.complete }));
      res.on('error', (e) => resolve({ status: res.statusCode ?? 0, received, complete: false, error: e.message }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, received, complete: false, error: 'aborted' }));
    });
    req.on('error', (e) => resolve({ status: 0, received: 0, complete: false, error: e.message }));
    req.end();
  });
}

describe('faults', () => {
  it('status:503 and status:429 with Retry-After, for `times` calls, then normal again', async () => {
    const c = await connect(sb.baseUrl, ['chrome.history']);
    const dp = api(sb.baseUrl, c.accessToken);
    await faults([
      { path: 'accessType:check$', action: 'status:503', retryAfterSeconds: 7, times: 2 },
      { path: '^/token$', action: 'status:429', retryAfterSeconds: 3, times: 1 },
    ]);
    const first = await dp.check();
    expect(first.status).toBe(503);
    expect(errorStatus(first.body)).toBe('UNAVAILABLE');
    expect(first.headers.get('retry-after')).toBe('7');
    expect((await dp.check()).status).toBe(503);
    expect((await dp.check()).status).toBe(200);
    const tokenRes = await call(sb.baseUrl, 'POST', '/token', 'grant_type=refresh_token', { 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(tokenRes.status).toBe(429);
    expect(tokenRes.headers.get('retry-after')).toBe('3');
    expect((await call(sb.baseUrl, 'GET', '/sandbox/v1/faults')).body).toEqual({ rules: [] });
  });

  it('reset drops the connection; control routes are never faulted', async () => {
    await faults([{ path: '.*', action: 'reset', times: 5 }]);
    await expect(fetch(`${sb.baseUrl}/oauth2/v3/certs`)).rejects.toThrow();
    expect((await call(sb.baseUrl, 'GET', '/sandbox/v1/config')).status).toBe(200);
  });

  it('dropAfterBytes cuts an archive download short; delayMs still answers', async () => {
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { archiveBytes: 200_000 });
    const c = await connect(sb.baseUrl, ['youtube.music']);
    const dp = api(sb.baseUrl, c.accessToken);
    const id = String((await dp.initiate({ resources: ['youtube.music'] })).body.archiveJobId);
    await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${id}:complete`, {});
    const url = ((await dp.state(id)).body.urls as string[])[0] ?? '';
    await faults([{ path: '^/dataportability-sandbox-archives/', action: 'dropAfterBytes:50000', times: 1 }]);
    const cut = await rawGet(url);
    expect(cut.status).toBe(200);
    expect(cut.complete).toBe(false);
    expect(cut.received).toBeLessThanOrEqual(50_000);
    const whole = await rawGet(url);
    expect(whole).toMatchObject({ status: 200, received: 200_000, complete: true });
    await faults([{ path: 'portabilityArchiveState$', action: 'delayMs:50', times: 1 }]);
    expect((await dp.state(id)).status).toBe(200);
  });

  it('refuses bad rules with a 400 envelope', async () => {
    for (const rule of [
      { path: '(', action: 'reset' },
      { path: '.*', action: 'explode' },
      { path: '.*', action: 'status:200' },
      { path: '.*', action: 'reset', times: 0 },
    ]) {
      const res = await faults([rule]);
      expect(res.status).toBe(400);
      expect(errorStatus(res.body)).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('call log', () => {
  it('lists upstream calls (method, path, status, time) and not control calls; DELETE clears', async () => {
    await call(sb.baseUrl, 'DELETE', '/sandbox/v1/calls');
    const c = await connect(sb.baseUrl, ['chrome.bookmarks']);
    await api(sb.baseUrl, c.accessToken).initiate({ resources: ['nope'] });
    const { body } = await call(sb.baseUrl, 'GET', '/sandbox/v1/calls');
    const calls = body.calls as Array<{ method: string; path: string; status: number; time: string }>;
    expect(calls.map((x) => `${x.method} ${x.path} ${x.status}`)).toEqual(['POST /token 200', 'POST /v1/portabilityArchive:initiate 400']);
    expect(Number.isNaN(Date.parse(calls[0]?.time ?? ''))).toBe(false);
    await call(sb.baseUrl, 'DELETE', '/sandbox/v1/calls');
    expect((await call(sb.baseUrl, 'GET', '/sandbox/v1/calls')).body).toEqual({ calls: [] });
  });
});

describe('config, clock, jobs, clients', () => {
  it('PUT config accepts any subset, refuses unknown fields and bad values', async () => {
    const res = await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { urlTtlSeconds: 120 });
    expect(res.body).toMatchObject({ urlTtlSeconds: 120, jobDurationSeconds: 600 });
    expect((await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { nope: 1 })).status).toBe(400);
    expect((await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { timeBasedRefusal: 'MAYBE' })).status).toBe(400);
    expect((await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { archiveBytes: -1 })).status).toBe(400);
    const before = (await call(sb.baseUrl, 'GET', '/sandbox/v1/config')).body;
    expect((await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { archiveBytes: 1024 ** 4, archivePartBytes: 65536 })).status).toBe(400);
    expect((await call(sb.baseUrl, 'GET', '/sandbox/v1/config')).body).toEqual(before);
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { urlTtlSeconds: 21600 });
  });

  it('clock:advance moves sandbox time forward and completes jobs', async () => {
    const c = await connect(sb.baseUrl, ['nest.camera_event']);
    const dp = api(sb.baseUrl, c.accessToken);
    const id = String((await dp.initiate({ resources: ['nest.camera_event'] })).body.archiveJobId);
    const before = await call(sb.baseUrl, 'GET', '/sandbox/v1/clock');
    const moved = await call(sb.baseUrl, 'POST', '/sandbox/v1/clock:advance', { seconds: 601 });
    expect(Date.parse(String(moved.body.now)) - Date.parse(String(before.body.now))).toBeGreaterThanOrEqual(601_000);
    expect((await dp.state(id)).body.state).toBe('COMPLETE');
    expect((await call(sb.baseUrl, 'POST', '/sandbox/v1/clock:advance', { seconds: -5 })).status).toBe(400);
  });

  it('jobs :complete and :fail finish a job now; unknown jobs are 404; finished jobs refuse', async () => {
    const c = await connect(sb.baseUrl, ['nest.camera_video', 'nest.camera_feature']);
    const dp = api(sb.baseUrl, c.accessToken);
    const a = String((await dp.initiate({ resources: ['nest.camera_video'] })).body.archiveJobId);
    const b = String((await dp.initiate({ resources: ['nest.camera_feature'] })).body.archiveJobId);
    expect((await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${a}:complete`)).body.state).toBe('COMPLETE');
    expect((await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${b}:fail`)).body.state).toBe('FAILED');
    expect((await dp.state(b)).body.state).toBe('FAILED');
    expect((await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${a}:fail`)).status).toBe(400);
    expect((await call(sb.baseUrl, 'POST', '/sandbox/v1/jobs/unknown:complete')).status).toBe(404);
  });

  it('client registration validates its body', async () => {
    expect((await call(sb.baseUrl, 'POST', '/sandbox/v1/clients', { clientId: 'x', clientSecret: 'y', redirectUris: ['not a url'] })).status).toBe(400);
    expect((await call(sb.baseUrl, 'POST', '/sandbox/v1/clients', { clientId: 'x', clientSecret: 'y', redirectUris: [] })).status).toBe(400);
    expect((await call(sb.baseUrl, 'POST', '/sandbox/v1/clients', { clientId: 'x', clientSecret: 'y', redirectUris: ['http://127.0.0.1:1/cb'] })).status).toBe(200);
  });
});
