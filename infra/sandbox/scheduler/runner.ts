// The local Cloud Scheduler's dispatcher: fires each ENABLED job's HTTP target when its cron time
// comes on the sandbox clock, with Scheduler's headers and an OIDC token, retries failed attempts
// per RetryConfig, never runs one job's scheduled executions at once, and does not back-fill:
// after the clock jumps over several runs, one execution runs for the latest of them.
import type { CallLog } from '../lib/call-log.js';
import type { Clock } from '../lib/clock.js';
import { rfc3339 } from '../lib/clock.js';
import type { SchedulerJobRecord } from '../lib/state.js';
import type { StateStore } from '../lib/store.js';
import { latestRunAtOrBefore, nextRunAfter, retryDelayMs } from './schedule.js';

/** How often the dispatcher looks at the sandbox clock (it notices a `clock:advance` within this). */
const TICK_MS = 100;

/** Headers a job cannot send as given: Scheduler (or the HTTP client) sets or drops them. */
const RESERVED_HEADER = /^(host|content-length|user-agent|connection|transfer-encoding|x-google-.*|x-appengine-.*|x-cloudscheduler.*)$/i;

export interface RunnerDeps {
  store: StateStore;
  clock: Clock;
  calls: CallLog;
  mintIdToken(audience: string, email: string): string;
}

interface AttemptResult {
  ok: boolean;
  /** google.rpc.Status of the attempt. */
  status: { code: number; message?: string };
  /** HTTP status answered; 0 when none (timeout, connection error). */
  httpStatus: number;
}

/** HTTP status → google.rpc.Code, as Google maps them. */
export function rpcCodeOfHttp(status: number): number {
  const map: Record<number, number> = { 400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 412: 9, 416: 11, 429: 8, 499: 1, 500: 13, 501: 12, 502: 14, 503: 14, 504: 4 };
  return map[status] ?? (status >= 500 ? 13 : status >= 400 ? 9 : 2);
}

export class SchedulerRunner {
  /** Jobs with a scheduled execution in progress (attempting or waiting to retry). */
  private readonly running = new Set<string>();
  private readonly waiters: { at: number; resolve(): void }[] = [];
  private readonly aborts = new Set<AbortController>();
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly deps: RunnerDeps) {}

  private get jobs(): Record<string, SchedulerJobRecord> {
    return this.deps.store.state.schedulerJobs;
  }

  start(): void {
    // Jobs saved by an earlier run: ENABLED ones without a next time get one.
    for (const job of Object.values(this.jobs)) if (job.state === 'ENABLED' && job.scheduleTime === undefined) this.reschedule(job, this.deps.clock.now());
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** Sets the next scheduled time strictly after `after` (ENABLED jobs), or clears it (paused). */
  reschedule(job: SchedulerJobRecord, after: number): void {
    if (job.state !== 'ENABLED') delete job.scheduleTime;
    else {
      const next = nextRunAfter(job.schedule, job.timeZone, after);
      if (next === undefined) delete job.scheduleTime;
      else job.scheduleTime = next;
    }
    this.deps.store.changed();
  }

  isRunning(name: string): boolean {
    return this.running.has(name);
  }

  /** `jobs:run`: dispatches now, even if a scheduled execution is running (as Google documents). */
  runNow(name: string): void {
    this.track(this.execute(name, undefined));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const a of this.aborts) a.abort();
    for (const w of this.waiters.splice(0)) w.resolve();
    await Promise.all([...this.inFlight]);
  }

  private tick(): void {
    const now = this.deps.clock.now();
    for (let i = this.waiters.length - 1; i >= 0; i -= 1) {
      const w = this.waiters[i];
      if (w && w.at <= now) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
    for (const job of Object.values(this.jobs)) {
      if (job.state !== 'ENABLED' || this.running.has(job.name) || job.scheduleTime === undefined || job.scheduleTime > now) continue;
      // No back-filling: one execution, for the latest scheduled time that has passed.
      const slot = latestRunAtOrBefore(job.schedule, job.timeZone, now) ?? job.scheduleTime;
      this.running.add(job.name);
      this.track(
        this.execute(job.name, slot).finally(() => {
          this.running.delete(job.name);
          const current = this.jobs[job.name];
          // The next run after this one's slot (after the update, if the job changed meanwhile); if
          // that time has passed already, the next tick starts it at once: a delayed start.
          if (current && !this.closed) this.reschedule(current, Math.max(slot, current.userUpdateTime));
        }),
      );
    }
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => console.error('sandbox scheduler: execution failed', err)).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private waitUntil(at: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ at, resolve }));
  }

  /**
   * One execution: attempts until one succeeds or the retry limits are reached (retryCount and
   * maxRetryDuration both, or the next scheduled time, whichever comes first). `slot` is the
   * scheduled time (the `X-CloudScheduler-ScheduleTime` of every attempt); undefined for `jobs:run`.
   */
  private async execute(name: string, slot: number | undefined): Promise<void> {
    const started = this.deps.clock.now();
    for (let retries = 0; ; retries += 1) {
      const job = this.jobs[name];
      if (!job || this.closed || (slot !== undefined && job.state !== 'ENABLED')) return;
      job.lastAttemptTime = this.deps.clock.now();
      const result = await this.attempt(job, slot);
      const after = this.jobs[name];
      if (!after) return;
      after.status = result.status;
      this.deps.store.changed();
      if (result.ok || this.closed) return;

      const r = after.retryConfig;
      const nextRetry = retries + 1;
      const elapsed = this.deps.clock.now() - started;
      const countReached = nextRetry > r.retryCount;
      const durationReached = r.maxRetryDurationMs === 0 || elapsed >= r.maxRetryDurationMs;
      if (countReached && durationReached) return;
      const retryAt = this.deps.clock.now() + retryDelayMs(nextRetry, { minBackoffMs: r.minBackoffMs, maxBackoffMs: r.maxBackoffMs, maxDoublings: r.maxDoublings });
      const nextScheduled = nextRunAfter(after.schedule, after.timeZone, slot ?? started);
      if (nextScheduled !== undefined && retryAt >= nextScheduled) return;
      if (slot !== undefined) {
        after.scheduleTime = retryAt;
        this.deps.store.changed();
      }
      await this.waitUntil(retryAt);
    }
  }

  private async attempt(job: SchedulerJobRecord, slot: number | undefined): Promise<AttemptResult> {
    const target = job.httpTarget;
    const shortId = job.name.slice(job.name.lastIndexOf('/') + 1);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(target.headers)) {
      // An OIDC token replaces any Authorization header of the job.
      if (!RESERVED_HEADER.test(k) && !(target.oidcToken && k.toLowerCase() === 'authorization')) headers[k] = v;
    }
    const withBody = target.body !== undefined;
    if (withBody && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/octet-stream';
    headers['User-Agent'] = 'Google-Cloud-Scheduler';
    headers['X-CloudScheduler'] = 'true';
    headers['X-CloudScheduler-JobName'] = shortId;
    if (slot !== undefined) headers['X-CloudScheduler-ScheduleTime'] = rfc3339(slot);
    if (target.oidcToken) headers.Authorization = `Bearer ${this.deps.mintIdToken(target.oidcToken.audience, target.oidcToken.serviceAccountEmail)}`;

    const arrived = rfc3339(this.deps.clock.now());
    const abort = new AbortController();
    this.aborts.add(abort);
    const deadline = setTimeout(() => abort.abort(new Error('deadline')), job.attemptDeadlineMs);
    let result: AttemptResult;
    try {
      const res = await fetch(target.uri, {
        method: target.httpMethod,
        headers,
        ...(withBody && target.body !== undefined ? { body: Buffer.from(target.body, 'base64') } : {}),
        signal: abort.signal,
        redirect: 'manual',
      });
      await res.arrayBuffer();
      result = res.ok
        ? { ok: true, status: { code: 0 }, httpStatus: res.status }
        : { ok: false, status: { code: rpcCodeOfHttp(res.status), message: `URL_ERROR. Original HTTP response code number = ${res.status}` }, httpStatus: res.status };
    } catch {
      result = abort.signal.aborted
        ? { ok: false, status: { code: 4, message: 'DEADLINE_EXCEEDED: the target did not answer within the attempt deadline' }, httpStatus: 0 }
        : { ok: false, status: { code: 14, message: 'UNAVAILABLE: the target could not be reached' }, httpStatus: 0 };
    } finally {
      clearTimeout(deadline);
      this.aborts.delete(abort);
    }
    const url = new URL(target.uri);
    this.deps.calls.record({ method: target.httpMethod, path: `${url.origin}${url.pathname}`.slice(0, 2000), status: result.httpStatus, time: arrived });
    return result;
  }
}
