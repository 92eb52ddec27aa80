// The sandbox's Cloud Scheduler driven by the real `@google-cloud/scheduler` client over its REST
// transport: every method and its errors, and jobs firing on their cron on the sandbox clock with
// Scheduler's headers and an OIDC token google-auth-library verifies, retries per RetryConfig, an
// attempt deadline, no overlapping runs, no back-filling, pause/resume, run now, persistence.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CloudSchedulerClient, protos } from '@google-cloud/scheduler';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localSchedulerClient } from '../../../infra/deploy/scheduler-jobs.js';
import { startSandbox } from '../../../infra/sandbox/server.js';
import { prng } from '../../fixtures/prng.js';
import { call, rawRequest, startTestSandbox } from './helpers.js';
import type { TestSandbox } from './helpers.js';

type Job = protos.google.cloud.scheduler.v1.IJob;

const PARENT = 'projects/demo-project/locations/europe-west1';
const SA = 'scheduler-invoker@demo-project.iam.gserviceaccount.com';

// ---- a target that records what Scheduler sends and answers as each test says -------------------

interface Hit {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Requests to this path still unanswered when this one arrived (overlap detector). */
  concurrent: number;
}

type Behaviour = (hit: Hit, n: number, res: ServerResponse) => void;

const hits = new Map<string, Hit[]>();
const behaviours = new Map<string, Behaviour>();
const open = new Map<string, number>();
const waiters: { path: string; count: number; resolve(): void }[] = [];
let targetUrl = '';
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const path = req.url ?? '/';
    const hit: Hit = { path, method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), concurrent: open.get(path) ?? 0 };
    const list = hits.get(path) ?? [];
    list.push(hit);
    hits.set(path, list);
    open.set(path, hit.concurrent + 1);
    res.once('close', () => open.set(path, (open.get(path) ?? 1) - 1));
    for (const w of waiters.filter((x) => x.path === path && list.length >= x.count)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    const behave = behaviours.get(path) ?? ((_h, _n, r) => r.writeHead(200).end('ok'));
    behave(hit, list.length, res);
  });
});

/** Resolves once `path` has received `count` requests (a positive signal; the test timeout bounds it). */
function hitsReach(path: string, count: number): Promise<Hit[]> {
  return new Promise((resolve) => {
    const done = () => resolve(hits.get(path) ?? []);
    if ((hits.get(path)?.length ?? 0) >= count) done();
    else waiters.push({ path, count, resolve: done });
  });
}

let pathCounter = 0;
function target(behaviour?: Behaviour): { path: string; uri: string } {
  pathCounter += 1;
  const path = `/tick-${pathCounter}`;
  if (behaviour) behaviours.set(path, behaviour);
  return { path, uri: `${targetUrl}${path}` };
}

// ---- sandbox and client ------------------------------------------------------------------------

let sb: TestSandbox;
let client: CloudSchedulerClient;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function fresh(config: Record<string, unknown> = {}): Promise<void> {
  sb = await startTestSandbox({ config });
  client = localSchedulerClient(sb.baseUrl);
}
afterEach(async () => {
  await client.close();
  await sb.stop();
});

let jobCounter = 0;
function httpJob(uri: string, extra: Job = {}): Job {
  jobCounter += 1;
  return {
    name: `${PARENT}/jobs/job-${jobCounter}`,
    schedule: '0 0 * * *',
    timeZone: 'Etc/UTC',
    httpTarget: { uri, httpMethod: 'POST', oidcToken: { serviceAccountEmail: SA, audience: 'https://scheduler.example.test' } },
    ...extra,
  };
}

async function create(job: Job): Promise<Job> {
  const [created] = await client.createJob({ parent: PARENT, job });
  return created;
}

const secondsOf = (t: protos.google.protobuf.ITimestamp | null | undefined): number => Number(t?.seconds ?? 0) * 1000 + Math.round((t?.nanos ?? 0) / 1e6);

async function sandboxNow(): Promise<number> {
  return Date.parse(String((await call(sb.baseUrl, 'GET', '/sandbox/v1/clock')).body.now));
}

/** Advances the sandbox clock to just after `at` (ms). */
async function advanceTo(at: number): Promise<void> {
  const now = await sandboxNow();
  if (at + 50 > now) await call(sb.baseUrl, 'POST', '/sandbox/v1/clock:advance', { seconds: (at + 50 - now) / 1000 });
}

async function getJob(name: string): Promise<Job> {
  const [job] = await client.getJob({ name });
  return job;
}

/** Polls the job (no fixed sleep) until `done` holds. */
async function jobUntil(name: string, done: (job: Job) => boolean): Promise<Job> {
  for (;;) {
    const job = await getJob(name);
    if (done(job)) return job;
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface ApiFailure {
  httpStatus: number;
  status: string;
  message: string;
  fields: string[];
}

/** The Google error envelope of a failed client call (the REST transport puts the body in `message`). */
async function failure(p: Promise<unknown>): Promise<ApiFailure> {
  const err = (await p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  )) as { status?: number; message: string };
  const body = JSON.parse(err.message) as { error: { code: number; status: string; message: string; details?: Array<{ fieldViolations?: Array<{ field: string }> }> } };
  return {
    httpStatus: body.error.code,
    status: body.error.status,
    message: body.error.message,
    fields: (body.error.details ?? []).flatMap((d) => (d.fieldViolations ?? []).map((f) => f.field)),
  };
}

// ---- the API -----------------------------------------------------------------------------------

describe('Cloud Scheduler API through @google-cloud/scheduler (REST)', () => {
  it('creates a job with Google defaults and gets it back', async () => {
    await fresh();
    const t = target();
    const job = httpJob(t.uri, {
      description: 'sweep',
      httpTarget: { uri: t.uri, httpMethod: 'PUT', headers: { 'X-Extra': 'yes' }, body: Buffer.from('{"a":1}'), oidcToken: { serviceAccountEmail: SA } },
    });
    const before = await sandboxNow();
    const created = await create(job);
    expect(created).toMatchObject({ name: job.name, description: 'sweep', schedule: '0 0 * * *', timeZone: 'Etc/UTC', state: 'ENABLED' });
    expect(created.httpTarget).toMatchObject({ uri: t.uri, httpMethod: 'PUT', oidcToken: { serviceAccountEmail: SA, audience: t.uri } });
    expect(created.httpTarget?.headers).toEqual({ 'X-Extra': 'yes', 'User-Agent': 'Google-Cloud-Scheduler' });
    expect(Buffer.from(created.httpTarget?.body ?? []).toString()).toBe('{"a":1}');
    expect(created.retryConfig).toMatchObject({
      retryCount: 0,
      maxDoublings: 5,
      minBackoffDuration: { seconds: '5' },
      maxBackoffDuration: { seconds: '3600' },
      maxRetryDuration: { seconds: '0' },
    });
    expect(created.attemptDeadline).toMatchObject({ seconds: '180' });
    // The next run is the coming midnight UTC, on the sandbox clock.
    const next = secondsOf(created.scheduleTime);
    expect(next).toBeGreaterThan(before);
    expect(next - before).toBeLessThanOrEqual(86_400_000);
    expect(new Date(next).toISOString()).toMatch(/T00:00:00\.000Z$/);
    expect(created.lastAttemptTime).toBeNull();
    expect(created.status).toBeNull();
    expect(await getJob(job.name ?? '')).toEqual(created);
  });

  it('lists jobs page by page and with auto-pagination', async () => {
    await fresh();
    const t = target();
    const names: string[] = [];
    for (let i = 0; i < 5; i += 1) names.push((await create(httpJob(t.uri))).name ?? '');
    await client.createJob({
      parent: 'projects/demo-project/locations/us-central1',
      job: { ...httpJob(t.uri), name: 'projects/demo-project/locations/us-central1/jobs/elsewhere' },
    });
    const [page1, , response1] = await client.listJobs({ parent: PARENT, pageSize: 2 }, { autoPaginate: false });
    expect(page1.map((j) => j.name)).toEqual(names.slice(0, 2).sort());
    expect(response1?.nextPageToken).toBeTruthy();
    const [page2, , response2] = await client.listJobs({ parent: PARENT, pageSize: 2, pageToken: response1?.nextPageToken ?? '' }, { autoPaginate: false });
    expect(page2).toHaveLength(2);
    const [all] = await client.listJobs({ parent: PARENT, pageSize: 2 });
    expect(all.map((j) => j.name).sort()).toEqual([...names].sort());
    const seen: string[] = [];
    for await (const j of client.listJobsAsync({ parent: PARENT, pageSize: 3 })) seen.push(j.name ?? '');
    expect(seen.sort()).toEqual([...names].sort());
    expect(response2?.nextPageToken).toBeTruthy();
    expect(await failure(client.listJobs({ parent: PARENT, pageToken: 'bm90LWEtdG9rZW4' }, { autoPaginate: false }))).toMatchObject({ httpStatus: 400, fields: ['page_token'] });
  });

  it('updates only the fields of the update mask; without a mask, every field given', async () => {
    await fresh();
    const t = target();
    const job = httpJob(t.uri, { description: 'before' });
    const created = await create(job);
    const [updated] = await client.updateJob({ job: { ...job, schedule: '30 6 * * *', description: 'ignored: not in the mask' }, updateMask: { paths: ['schedule'] } });
    expect(updated).toMatchObject({ schedule: '30 6 * * *', description: 'before' });
    expect(new Date(secondsOf(updated.scheduleTime)).toISOString()).toMatch(/T06:30:00\.000Z$/);
    expect(secondsOf(updated.userUpdateTime)).toBeGreaterThanOrEqual(secondsOf(created.userUpdateTime));

    const [nested] = await client.updateJob({
      job: { name: job.name ?? '', retryConfig: { retryCount: 2, minBackoffDuration: { seconds: 1 } }, httpTarget: { uri: `${t.uri}?v=2` } },
      updateMask: { paths: ['retry_config.retry_count', 'http_target.uri'] },
    });
    expect(nested.retryConfig).toMatchObject({ retryCount: 2, minBackoffDuration: { seconds: '5' } });
    expect(nested.httpTarget).toMatchObject({ uri: `${t.uri}?v=2`, oidcToken: { serviceAccountEmail: SA } });

    const [whole] = await client.updateJob({ job: { name: job.name ?? '', description: 'after', timeZone: 'Europe/Berlin' } });
    expect(whole).toMatchObject({ description: 'after', timeZone: 'Europe/Berlin', schedule: '30 6 * * *' });
  });

  it('deletes a job', async () => {
    await fresh();
    const job = await create(httpJob(target().uri));
    await client.deleteJob({ name: job.name ?? '' });
    expect(await failure(client.getJob({ name: job.name ?? '' }))).toMatchObject({ httpStatus: 404, status: 'NOT_FOUND' });
    const [all] = await client.listJobs({ parent: PARENT });
    expect(all).toEqual([]);
  });

  it('answers Google errors: 404 unknown job, 409 existing name, 400 naming the field', async () => {
    await fresh();
    const t = target();
    const job = httpJob(t.uri);
    await create(job);
    const missing = `${PARENT}/jobs/missing`;
    for (const p of [
      client.getJob({ name: missing }),
      client.deleteJob({ name: missing }),
      client.pauseJob({ name: missing }),
      client.resumeJob({ name: missing }),
      client.runJob({ name: missing }),
      client.updateJob({ job: { ...job, name: missing }, updateMask: { paths: ['schedule'] } }),
    ]) {
      expect(await failure(p)).toEqual({ httpStatus: 404, status: 'NOT_FOUND', message: 'Job not found.', fields: [] });
    }
    expect(await failure(client.createJob({ parent: PARENT, job }))).toEqual({ httpStatus: 409, status: 'ALREADY_EXISTS', message: `Job ${job.name} already exists.`, fields: [] });

    const bad = (extra: Job) => failure(client.createJob({ parent: PARENT, job: httpJob(t.uri, extra) }));
    expect(await bad({ schedule: '61 * * * *' })).toMatchObject({
      httpStatus: 400,
      status: 'INVALID_ARGUMENT',
      message: 'Schedule or time zone is invalid.',
      fields: ['job.schedule'],
    });
    expect(await bad({ schedule: 'every 5 minutes' })).toMatchObject({ httpStatus: 400, fields: ['job.schedule'] });
    expect(await bad({ schedule: '0 0 30 2 *' })).toMatchObject({ httpStatus: 400, fields: ['job.schedule'] });
    expect(await bad({ schedule: '*/5 * * * * *' })).toMatchObject({ httpStatus: 400, fields: ['job.schedule'] });
    expect(await bad({ timeZone: 'Mars/Olympus_Mons' })).toMatchObject({
      httpStatus: 400,
      status: 'INVALID_ARGUMENT',
      message: 'Schedule or time zone is invalid.',
      fields: ['job.time_zone'],
    });
    expect(await bad({ retryConfig: { retryCount: 6 } })).toMatchObject({ httpStatus: 400, fields: ['job.retry_config.retry_count'] });
    expect(await bad({ attemptDeadline: { seconds: 5 } })).toMatchObject({ httpStatus: 400, fields: ['job.attempt_deadline'] });
    expect(await bad({ httpTarget: { uri: 'ftp://example.test/x' } })).toMatchObject({ httpStatus: 400, fields: ['job.http_target.uri'] });
    expect(await bad({ httpTarget: { uri: t.uri, httpMethod: 'GET', body: Buffer.from('x') } })).toMatchObject({ httpStatus: 400, fields: ['job.http_target.body'] });
    expect(await bad({ httpTarget: undefined, pubsubTarget: { topicName: 'projects/p/topics/t' } })).toMatchObject({ httpStatus: 400, fields: ['job.pubsub_target'] });
    expect(await bad({ name: 'projects/other/locations/europe-west1/jobs/x' })).toMatchObject({ httpStatus: 400, fields: ['job.name'] });
    expect(await failure(client.updateJob({ job, updateMask: { paths: ['state'] } }))).toMatchObject({ httpStatus: 400, fields: ['update_mask'] });
    expect(await failure(client.updateJob({ job: { ...job, schedule: 'bad' }, updateMask: { paths: ['schedule'] } }))).toMatchObject({ httpStatus: 400, fields: ['job.schedule'] });
    expect(await failure(client.resumeJob({ name: job.name ?? '' }))).toMatchObject({ httpStatus: 400, status: 'FAILED_PRECONDITION' });
    // Nothing of the refused requests was stored.
    const [all] = await client.listJobs({ parent: PARENT });
    expect(all.map((j) => [j.name, j.schedule])).toEqual([[job.name, '0 0 * * *']]);
  });
});

// ---- firing ------------------------------------------------------------------------------------

describe('firing on the cron, on the sandbox clock', () => {
  it("POSTs to the target at the scheduled time with Scheduler's headers and a verifiable OIDC token", async () => {
    await fresh();
    const t = target();
    const job = await create(
      httpJob(t.uri, {
        httpTarget: {
          uri: t.uri,
          httpMethod: 'POST',
          body: Buffer.from('{"tick":true}'),
          headers: { 'Content-Type': 'application/json', 'User-Agent': 'not kept' },
          oidcToken: { serviceAccountEmail: SA, audience: 'https://scheduler.example.test' },
        },
      }),
    );
    const slot = secondsOf(job.scheduleTime);
    await advanceTo(slot);
    const [hit] = await hitsReach(t.path, 1);
    expect(hit?.method).toBe('POST');
    expect(hit?.body).toBe('{"tick":true}');
    expect(hit?.headers).toMatchObject({
      'user-agent': 'Google-Cloud-Scheduler',
      'x-cloudscheduler': 'true',
      'x-cloudscheduler-jobname': job.name?.split('/').pop(),
      'x-cloudscheduler-scheduletime': new Date(slot).toISOString().replace('.000Z', 'Z'),
      'content-type': 'application/json',
    });
    const token = /^Bearer (.+)$/.exec(String(hit?.headers.authorization))?.[1] ?? '';
    const verifier = new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: `${sb.baseUrl}/oauth2/v1/certs` }, issuers: [sb.baseUrl] });
    const ticket = await verifier.verifyIdToken({ idToken: token, audience: 'https://scheduler.example.test' });
    expect(ticket.getPayload()).toMatchObject({ iss: sb.baseUrl, aud: 'https://scheduler.example.test', email: SA, email_verified: true });
    await expect(verifier.verifyIdToken({ idToken: token, audience: 'https://other.example.test' })).rejects.toThrow();
    const certs = await verifier.getFederatedSignonCertsAsync();
    const login = await verifier.verifySignedJwtWithCertsAsync(token, certs.certs, 'https://scheduler.example.test', [sb.baseUrl]);
    expect(login.getPayload()?.email).toBe(SA);

    // The job reports the attempt, a success status and the next run a day later.
    const after = await jobUntil(job.name ?? '', (j) => j.status !== null && secondsOf(j.scheduleTime) > slot);
    expect(after.status).toMatchObject({ code: 0 });
    expect(secondsOf(after.lastAttemptTime)).toBeGreaterThanOrEqual(slot);
    expect(secondsOf(after.scheduleTime)).toBe(slot + 86_400_000);
    // The attempt is in the call log (the target URL as path, no query).
    const calls = (await call(sb.baseUrl, 'GET', '/sandbox/v1/calls')).body.calls as Array<{ method: string; path: string; status: number }>;
    expect(calls).toContainEqual(expect.objectContaining({ method: 'POST', path: t.uri, status: 200 }));
  });

  it('honours the time zone: 09:00 in America/New_York', async () => {
    await fresh();
    const t = target();
    const job = await create(httpJob(t.uri, { schedule: '0 9 * * *', timeZone: 'America/New_York' }));
    const slot = secondsOf(job.scheduleTime);
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(slot));
    expect(local).toBe('09:00');
    await advanceTo(slot);
    const [hit] = await hitsReach(t.path, 1);
    expect(Date.parse(String(hit?.headers['x-cloudscheduler-scheduletime']))).toBe(slot);
  });

  it('retries a failed attempt per retryConfig with the same schedule time (target fails twice)', async () => {
    await fresh();
    // The third attempt is answered once the test has seen the job between attempts.
    let seen: () => void = () => undefined;
    const observed = new Promise<void>((r) => (seen = r));
    const t = target((_h, n, res) => {
      if (n <= 2) res.writeHead(503).end();
      else void observed.then(() => res.writeHead(200).end());
    });
    const job = await create(httpJob(t.uri, { retryConfig: { retryCount: 3, minBackoffDuration: { seconds: 1 }, maxBackoffDuration: { seconds: 10 }, maxDoublings: 1 } }));
    const slot = secondsOf(job.scheduleTime);
    await advanceTo(slot);
    const failing = await jobUntil(job.name ?? '', (j) => j.status !== null);
    expect(failing.status).toMatchObject({ code: 14 });
    // While waiting to retry, scheduleTime is the retry.
    expect(secondsOf(failing.scheduleTime)).toBeLessThan(slot + 86_400_000);
    seen();
    const three = await hitsReach(t.path, 3);
    expect(three.map((h) => h.headers['x-cloudscheduler-scheduletime'])).toEqual(Array(3).fill(new Date(slot).toISOString().replace('.000Z', 'Z')));
    const done = await jobUntil(job.name ?? '', (j) => secondsOf(j.scheduleTime) === slot + 86_400_000);
    expect(done.status).toMatchObject({ code: 0 });
    const calls = ((await call(sb.baseUrl, 'GET', '/sandbox/v1/calls')).body.calls as Array<{ path: string; status: number }>).filter((c) => c.path === t.uri);
    expect(calls.map((c) => c.status)).toEqual([503, 503, 200]);
  });

  it('stops after retryCount retries and waits for the next run', async () => {
    await fresh();
    const t = target((_h, _n, res) => res.writeHead(500).end());
    const job = await create(httpJob(t.uri, { retryConfig: { retryCount: 1, minBackoffDuration: { seconds: 1 } } }));
    const slot = secondsOf(job.scheduleTime);
    await advanceTo(slot);
    const ended = await jobUntil(job.name ?? '', (j) => j.status !== null && secondsOf(j.scheduleTime) === slot + 86_400_000);
    expect(ended.status).toMatchObject({ code: 13 });
    expect(hits.get(t.path)).toHaveLength(2);
  });

  it('cancels an attempt at its deadline (DEADLINE_EXCEEDED) and retries it', async () => {
    await fresh({ schedulerSecondsSchedules: true });
    let seen: () => void = () => undefined;
    const observed = new Promise<void>((r) => (seen = r));
    const t = target((_h, n, res) => {
      // The first request is never answered; the retry once the test has seen the timeout.
      if (n >= 2) void observed.then(() => res.writeHead(200).end());
    });
    const job = await create(httpJob(t.uri, { attemptDeadline: { seconds: 1 }, retryConfig: { retryCount: 1, minBackoffDuration: { seconds: 0 } } }));
    await advanceTo(secondsOf(job.scheduleTime));
    const timedOut = await jobUntil(job.name ?? '', (j) => j.status !== null);
    expect(timedOut.status).toMatchObject({ code: 4 });
    seen();
    await hitsReach(t.path, 2);
    expect((await jobUntil(job.name ?? '', (j) => j.status?.code === 0)).status).toMatchObject({ code: 0 });
  });

  it('never runs a job twice at once and does not back-fill the runs missed while the clock jumped', async () => {
    await fresh();
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    const held = target((_h, n, res) => {
      if (n === 1) void released.then(() => res.writeHead(200).end());
      else res.writeHead(200).end();
    });
    const witness = target();
    const job = await create(httpJob(held.uri));
    const other = await create(httpJob(witness.uri));
    const slot = secondsOf(job.scheduleTime);
    expect(secondsOf(other.scheduleTime)).toBe(slot);
    await advanceTo(slot);
    await hitsReach(held.path, 1);
    await hitsReach(witness.path, 1);
    // Three days pass while the first execution is still running.
    await advanceTo(slot + 3 * 86_400_000);
    // The witness (same schedule) fires for the latest missed day: the dispatcher has looked at the
    // held job too, and must not have started it again.
    const [, second] = await hitsReach(witness.path, 2);
    expect(Date.parse(String(second?.headers['x-cloudscheduler-scheduletime']))).toBe(slot + 3 * 86_400_000);
    expect(hits.get(witness.path)).toHaveLength(2);
    expect(hits.get(held.path)).toHaveLength(1);
    release();
    // Once it ends, the next execution starts late, once, for the latest missed day.
    const [, next] = await hitsReach(held.path, 2);
    expect(next?.concurrent).toBe(0);
    expect(Date.parse(String(next?.headers['x-cloudscheduler-scheduletime']))).toBe(slot + 3 * 86_400_000);
    const settled = await jobUntil(job.name ?? '', (j) => secondsOf(j.scheduleTime) === slot + 4 * 86_400_000);
    expect(settled.state).toBe('ENABLED');
    expect(hits.get(held.path)).toHaveLength(2);
  });

  it('pause stops firing, resume schedules from now; run fires at once without a schedule time', async () => {
    await fresh();
    const paused = target();
    const witness = target();
    const job = await create(httpJob(paused.uri));
    await create(httpJob(witness.uri));
    const slot = secondsOf(job.scheduleTime);
    const [p] = await client.pauseJob({ name: job.name ?? '' });
    expect(p.state).toBe('PAUSED');
    expect(p.scheduleTime).toBeNull();
    expect(await failure(client.pauseJob({ name: job.name ?? '' }))).toMatchObject({ httpStatus: 400, status: 'FAILED_PRECONDITION' });
    await advanceTo(slot);
    await hitsReach(witness.path, 1);
    // The witness job fired on this slot: the paused one, checked in the same pass, did not.
    await jobUntil(job.name ?? '', () => true);
    expect(hits.get(paused.path)).toBeUndefined();

    const [r] = await client.resumeJob({ name: job.name ?? '' });
    expect(r.state).toBe('ENABLED');
    expect(secondsOf(r.scheduleTime)).toBe(slot + 86_400_000);

    await client.runJob({ name: job.name ?? '' });
    const [hit] = await hitsReach(paused.path, 1);
    expect(hit?.headers['x-cloudscheduler-jobname']).toBe(job.name?.split('/').pop());
    expect(hit?.headers['x-cloudscheduler-scheduletime']).toBeUndefined();
    expect(hit?.headers.authorization).toMatch(/^Bearer /);
    const ran = await jobUntil(job.name ?? '', (j) => j.status !== null);
    expect(ran.status).toMatchObject({ code: 0 });
    expect(secondsOf(ran.scheduleTime)).toBe(slot + 86_400_000);

    await advanceTo(slot + 86_400_000);
    const [, scheduled] = await hitsReach(paused.path, 2);
    expect(Date.parse(String(scheduled?.headers['x-cloudscheduler-scheduletime']))).toBe(slot + 86_400_000);
  });

  it('local extension: 6-field schedules with seconds when schedulerSecondsSchedules is on', async () => {
    await fresh({ schedulerSecondsSchedules: true });
    const t = target();
    const job = await create(httpJob(t.uri, { schedule: '*/2 * * * * *' }));
    const two = await hitsReach(t.path, 2);
    const times = two.map((h) => Date.parse(String(h.headers['x-cloudscheduler-scheduletime'])));
    expect((times[1] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(2000);
    expect(times.every((ms) => ms % 2000 === 0)).toBe(true);
    await client.deleteJob({ name: job.name ?? '' });
  });
});

describe('fuzz', () => {
  it('mutated jobs, masks, tokens and paths never get a 5xx', async () => {
    await fresh();
    const r = prng(20261203);
    const t = target();
    const valid = {
      name: `${PARENT}/jobs/fuzz`,
      schedule: '0 0 * * *',
      timeZone: 'Etc/UTC',
      httpTarget: { uri: t.uri, httpMethod: 1, headers: { A: 'b' }, body: 'aGk=', oidcToken: { serviceAccountEmail: SA, audience: 'x' } },
      retryConfig: { retryCount: 1, minBackoffDuration: '1s', maxBackoffDuration: '10s', maxDoublings: 2, maxRetryDuration: '0s' },
      attemptDeadline: '30s',
    };
    const nasty = [
      null,
      true,
      0,
      -1,
      1e308,
      1.5,
      '',
      ' ',
      'x',
      '%',
      '__proto__',
      '1e309s',
      '-5s',
      '99999999999999s',
      'Etc/UTC',
      '* * * * *',
      'a'.repeat(3000),
      [],
      {},
      { a: [1] },
      '😀',
    ];
    const mutate = (value: unknown, depth: number): unknown => {
      if (depth > 3 || value === null || typeof value !== 'object') return r.next() < 0.3 ? r.pick(nasty) : value;
      const out: Record<string, unknown> = Array.isArray(value) ? {} : { ...(value as Record<string, unknown>) };
      for (const k of Object.keys(out)) if (r.next() < 0.3) out[k] = mutate(out[k], depth + 1);
      if (r.next() < 0.1) out[r.pick(['state', 'status', 'pubsubTarget', 'oauthToken', 'http_target', 'time_zone', 'colour', '__proto__'])] = r.pick(nasty);
      return out;
    };
    const failures: string[] = [];
    const statuses = new Set<number>();
    for (let i = 0; i < 400; i += 1) {
      const roll = r.next();
      const job = mutate(valid, 0);
      const id = r.pick(['fuzz', `f${i}`, '', 'bad id', '%zz', '..', 'a:b', 'x'.repeat(600)]);
      const base = r.pick(['/v1/projects/demo-project/locations/europe-west1/jobs', '/v1/projects/-/locations/%20/jobs', '/v1/projects/a%2Fb/locations/l/jobs']);
      const query = r.pick([
        '',
        '?$alt=json%3Benum-encoding=int',
        '?updateMask=schedule,retry_config.retry_count',
        '?updateMask=state',
        '?updateMask=%%',
        '?pageSize=-1',
        '?pageSize=abc&pageToken=%%',
        '?pageToken=' + Buffer.from('x').toString('base64url'),
      ]);
      const [method, path] =
        roll < 0.35
          ? ['POST', base]
          : roll < 0.55
            ? ['PATCH', `${base}/${id}`]
            : roll < 0.7
              ? ['GET', base]
              : roll < 0.8
                ? ['GET', `${base}/${id}`]
                : roll < 0.9
                  ? ['POST', `${base}/${id}:${r.pick(['pause', 'resume', 'run', 'explode'])}`]
                  : ['DELETE', `${base}/${id}`];
      const body =
        method === 'GET' || method === 'DELETE' ? undefined : Buffer.from(r.next() < 0.9 ? JSON.stringify(job) : r.pick(['{', '[]', 'null', '"x"', '{"a":' + '['.repeat(3000)]));
      const url = (path + query).replace(/[\s\u0000-\u001f\u007f-\u{10ffff}]/gu, (c) => encodeURIComponent(c));
      const res = await rawRequest(sb.baseUrl, method, url, { 'Content-Type': 'application/json', ...(body ? { 'Content-Length': String(body.length) } : {}) }, body);
      statuses.add(res.status);
      if (res.status >= 500 || res.status === 0) failures.push(`${res.status} ${method} ${url.slice(0, 100)} ${res.text.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
    // Past validation too: successes, 400s, 404s and 409s all occur.
    expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 400, 404, 409]));
  });
});

describe('persistence', () => {
  it('jobs survive a restart with a data folder, and an ENABLED job keeps firing', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sandbox-scheduler-'));
    const cacheDir = mkdtempSync(join(tmpdir(), 'sandbox-cache-'));
    try {
      const first = await startSandbox({ port: 0, dataDir, cacheDir });
      const firstClient = localSchedulerClient(first.baseUrl);
      const t = target();
      const [job] = await firstClient.createJob({ parent: PARENT, job: httpJob(t.uri) });
      await firstClient.close();
      await first.close();
      // Stand in for the shared sandbox the afterEach hook stops.
      sb = await startTestSandbox();
      client = localSchedulerClient(sb.baseUrl);

      const second = await startSandbox({ port: 0, dataDir, cacheDir });
      const secondClient = localSchedulerClient(second.baseUrl);
      try {
        const [again] = await secondClient.getJob({ name: job.name ?? '' });
        expect(again).toEqual(job);
        const now = Date.parse(String((await call(second.baseUrl, 'GET', '/sandbox/v1/clock')).body.now));
        await call(second.baseUrl, 'POST', '/sandbox/v1/clock:advance', { seconds: (secondsOf(job.scheduleTime) + 50 - now) / 1000 });
        await hitsReach(t.path, 1);
      } finally {
        await secondClient.close();
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});
