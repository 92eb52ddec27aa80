// The local Cloud Scheduler's cron arithmetic, RetryConfig backoff and Job parsing/rendering.
import { describe, expect, it } from 'vitest';
import { applyUpdate, buildJob, jobInput, jobView, parseUpdateMask, recordInput } from '../../../infra/sandbox/scheduler/jobs.js';
import { checkSchedule, cronEvery, latestRunAtOrBefore, nextRunAfter, retryDelayMs } from '../../../infra/sandbox/scheduler/schedule.js';
import { rpcCodeOfHttp } from '../../../infra/sandbox/scheduler/runner.js';
import { ApiError } from '../../../infra/sandbox/lib/errors.js';

const at = (iso: string) => Date.parse(iso);

describe('retryDelayMs', () => {
  it("follows RetryConfig's documented example: 10 s min, 300 s max, 3 doublings", () => {
    const b = { minBackoffMs: 10_000, maxBackoffMs: 300_000, maxDoublings: 3 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(n, b) / 1000)).toEqual([10, 20, 40, 80, 160, 240, 300, 300]);
  });
  it('defaults (5 s, 1 h, 5 doublings) and no doublings', () => {
    expect([1, 2, 6, 7].map((n) => retryDelayMs(n, { minBackoffMs: 5_000, maxBackoffMs: 3_600_000, maxDoublings: 5 }) / 1000)).toEqual([5, 10, 160, 320]);
    expect([1, 2, 3].map((n) => retryDelayMs(n, { minBackoffMs: 1_000, maxBackoffMs: 60_000, maxDoublings: 0 }) / 1000)).toEqual([1, 2, 3]);
  });
});

describe('cron times', () => {
  it('next run strictly after a time, in the job time zone (DST honoured)', () => {
    expect(nextRunAfter('* * * * *', 'Etc/UTC', at('2026-12-03T10:00:00Z'))).toBe(at('2026-12-03T10:01:00Z'));
    expect(nextRunAfter('0 9 * * *', 'America/New_York', at('2026-07-01T00:00:00Z'))).toBe(at('2026-07-01T13:00:00Z'));
    expect(nextRunAfter('0 9 * * *', 'America/New_York', at('2026-12-01T00:00:00Z'))).toBe(at('2026-12-01T14:00:00Z'));
  });
  it('latest run at or before a time: one slot, however far the clock jumped', () => {
    expect(latestRunAtOrBefore('0 0 * * *', 'Etc/UTC', at('2026-12-10T05:00:00Z'))).toBe(at('2026-12-10T00:00:00Z'));
    expect(latestRunAtOrBefore('0 0 * * *', 'Etc/UTC', at('2026-12-10T00:00:00Z'))).toBe(at('2026-12-10T00:00:00Z'));
    expect(latestRunAtOrBefore('*/5 * * * *', 'Etc/UTC', at('2026-12-10T00:07:30.250Z'))).toBe(at('2026-12-10T00:05:00Z'));
    expect(latestRunAtOrBefore('*/2 * * * * *', 'Etc/UTC', at('2026-12-10T00:00:03.900Z'))).toBe(at('2026-12-10T00:00:02Z'));
  });
  it('checks schedules and time zones, naming the field', () => {
    const now = at('2026-12-03T10:00:00Z');
    expect(checkSchedule('*/5 * * * *', 'utc', false, now)).toEqual({ ok: true });
    expect(checkSchedule('*/5 * * * * *', 'Etc/UTC', false, now)).toMatchObject({ ok: false, field: 'schedule' });
    expect(checkSchedule('*/5 * * * * *', 'Etc/UTC', true, now)).toEqual({ ok: true });
    expect(checkSchedule('0 0 30 2 *', 'Etc/UTC', false, now)).toMatchObject({ ok: false, field: 'schedule' });
    expect(checkSchedule('0 25 * * *', 'Etc/UTC', false, now)).toMatchObject({ ok: false, field: 'schedule' });
    expect(checkSchedule('0 0 * * *', 'Nowhere/City', false, now)).toMatchObject({ ok: false, field: 'time_zone' });
  });
});

describe('cronEvery (the local stack sweep interval as a cron)', () => {
  it('uses seconds below a minute, minutes below an hour, evenly spaced', () => {
    expect([500, 1_000, 5_000, 7_000, 30_000, 59_000, 60_000, 120_000, 420_000, 3_600_000].map(cronEvery)).toEqual([
      '* * * * * *',
      '* * * * * *',
      '*/5 * * * * *',
      '*/6 * * * * *',
      '*/30 * * * * *',
      '*/30 * * * * *',
      '* * * * *',
      '*/2 * * * *',
      '*/6 * * * *',
      '0 * * * *',
    ]);
    for (const ms of [1_000, 5_000, 60_000]) expect(checkSchedule(cronEvery(ms), 'Etc/UTC', true, Date.now())).toEqual({ ok: true });
  });
});

describe('Job parsing and views', () => {
  const ctx = { now: at('2026-12-03T10:00:00Z'), seconds: false };
  const input = jobInput({
    name: 'projects/p/locations/l/jobs/j',
    schedule: '0 * * * *',
    time_zone: 'UTC',
    http_target: { uri: 'http://127.0.0.1:9/t', http_method: 4, body: 'aGk=', oidc_token: { service_account_email: 'a@p.iam.gserviceaccount.com' } },
    retry_config: { retry_count: 2, min_backoff_duration: '1.5s' },
    state: 'PAUSED',
  });

  it('accepts snake_case and numeric enums, fills Google defaults, ignores output-only fields', () => {
    const job = buildJob('projects/p/locations/l/jobs/j', input, ctx);
    expect(job).toMatchObject({
      timeZone: 'Etc/UTC',
      state: 'ENABLED',
      httpTarget: { httpMethod: 'PUT', body: 'aGk=', oidcToken: { serviceAccountEmail: 'a@p.iam.gserviceaccount.com', audience: 'http://127.0.0.1:9/t' } },
      retryConfig: { retryCount: 2, minBackoffMs: 1500, maxBackoffMs: 3_600_000, maxDoublings: 5, maxRetryDurationMs: 0 },
      attemptDeadlineMs: 180_000,
    });
    expect(jobView(job, true)).toMatchObject({ state: 1, httpTarget: { httpMethod: 4 }, retryConfig: { retryCount: 2, minBackoffDuration: '1.500s' }, attemptDeadline: '180s' });
    expect(jobView(job, false)).toMatchObject({ state: 'ENABLED', httpTarget: { httpMethod: 'PUT' } });
    expect(jobView(job, false)).not.toHaveProperty('status');
  });

  it("keeps the caller's headers except those Scheduler owns, and lists its User-Agent", () => {
    const given = { A: 'b', Host: 'h', 'user-agent': 'me', 'X-Google-Trace': 't', 'X-CloudScheduler-JobName': 'n', Authorization: 'Bearer app' };
    const withToken = buildJob(
      'projects/p/locations/l/jobs/j',
      jobInput({ schedule: '* * * * *', httpTarget: { uri: 'http://h/x', headers: given, oidcToken: { serviceAccountEmail: 'a@b.c' } } }),
      ctx,
    );
    expect(withToken.httpTarget.headers).toEqual({ A: 'b', 'User-Agent': 'Google-Cloud-Scheduler' });
    const without = buildJob('projects/p/locations/l/jobs/j', jobInput({ schedule: '* * * * *', httpTarget: { uri: 'http://h/x', headers: given } }), ctx);
    expect(without.httpTarget.headers).toEqual({ A: 'b', Authorization: 'Bearer app', 'User-Agent': 'Google-Cloud-Scheduler' });
    expect(() => buildJob('projects/p/locations/l/jobs/j', jobInput({ schedule: '* * * * *', httpTarget: { uri: 'http://h/x', httpMethod: 'GET', body: 'aGk=' } }), ctx)).toThrow(
      /body is allowed only with POST, PUT or PATCH/,
    );
  });

  it('refuses unknown fields like Google ("Unknown name")', () => {
    expect(() => jobInput({ schedule: '* * * * *', colour: 'red' })).toThrow(/Unknown name "colour" at 'job'/);
    expect(() => jobInput({ httpTarget: { url: 'x' } })).toThrow(/Unknown name "url" at 'job.http_target'/);
  });

  it('applies an update mask: named paths copied or cleared, others kept', () => {
    const job = buildJob('projects/p/locations/l/jobs/j', input, ctx);
    const mask = parseUpdateMask('schedule,retry_config.retry_count,http_target.body');
    expect(mask).toEqual(['schedule', 'retryConfig.retryCount', 'httpTarget.body']);
    const merged = applyUpdate(recordInput(job), jobInput({ schedule: '5 * * * *', description: 'x', retryConfig: { retryCount: 4 } }), mask);
    const updated = buildJob(job.name, merged, ctx, job);
    expect(updated).toMatchObject({ schedule: '5 * * * *', description: '', retryConfig: { retryCount: 4, minBackoffMs: 1500 } });
    expect(updated.httpTarget.body).toBeUndefined();
    expect(() => parseUpdateMask('name')).toThrow(ApiError);
    expect(() => parseUpdateMask('status')).toThrow(/update_mask/);
  });
});

describe('rpcCodeOfHttp', () => {
  it('maps HTTP statuses to google.rpc codes', () => {
    expect([400, 401, 403, 404, 429, 500, 503, 504, 418, 599].map(rpcCodeOfHttp)).toEqual([3, 16, 7, 5, 8, 13, 14, 4, 9, 13]);
  });
});
