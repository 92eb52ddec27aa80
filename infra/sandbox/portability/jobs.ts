// Archive jobs and the export rules of the Data Portability API (one-time exhaustion, 24-hour
// windows of time-based groups, identical running jobs, retry and cancel state rules).
import type { Clock } from '../lib/clock.js';
import { rfc3339 } from '../lib/clock.js';
import { ApiError, debugInfo, errorInfo, failedPrecondition, notFound } from '../lib/errors.js';
import { newJobId } from '../lib/ids.js';
import type { StateStore } from '../lib/store.js';
import type { Account, Grant, Job } from '../lib/state.js';
import type { InitiateRequest } from './requests.js';

const DAY_MS = 86_400_000;

export type AccessTypeName = 'ACCESS_TYPE_ONE_TIME' | 'ACCESS_TYPE_TIME_BASED';

export function accessTypeName(job: Pick<Job, 'accessType'>): AccessTypeName {
  return job.accessType === 'ONE_TIME' ? 'ACCESS_TYPE_ONE_TIME' : 'ACCESS_TYPE_TIME_BASED';
}

export class JobService {
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
  ) {}

  private get state() {
    return this.store.state;
  }

  private account(owner: string): Account {
    const existing = this.state.accounts[owner];
    if (existing) return existing;
    const created: Account = { exhaustedOneTime: {}, timeBased: {} };
    this.state.accounts[owner] = created;
    return created;
  }

  /** Moves a job whose time has come from IN_PROGRESS to COMPLETE, or FAILED per `failingResources`. */
  settle(job: Job): Job {
    if (job.state === 'IN_PROGRESS' && this.clock.now() >= job.completeAt) {
      const failing = this.state.config.failingResources;
      job.state = job.resources.some((r) => (failing[r] ?? 0) > job.retryCount) ? 'FAILED' : 'COMPLETE';
      job.finishedAt = job.completeAt;
      this.store.changed();
    }
    return job;
  }

  find(id: string): Job | undefined {
    const job = Object.hasOwn(this.state.jobs, id) ? this.state.jobs[id] : undefined;
    return job ? this.settle(job) : undefined;
  }

  /** The job if it belongs to this owner; other owners' jobs do not exist for the caller. */
  get(owner: string, id: string): Job {
    const job = this.find(id);
    if (!job || job.owner !== owner) throw notFound(`Archive job archiveJobs/${id} not found.`);
    return job;
  }

  private durationMs(resources: readonly string[]): number {
    const cfg = this.state.config;
    const seconds = resources.map((r) => cfg.jobDurationSecondsByResource[r] ?? cfg.jobDurationSeconds);
    return Math.max(0, ...seconds) * 1000;
  }

  /** portabilityArchive:initiate, checks in the order of the contract (after auth and parsing). */
  initiate(grant: Grant, owner: string, request: InitiateRequest): Job {
    const notGranted = request.resources.filter((r) => !grant.groups.includes(r));
    if (notGranted.length > 0) {
      throw new ApiError(403, 'PERMISSION_DENIED', 'The requested resources are not authorized by the OAuth token.', [
        debugInfo(`resources not granted: ${notGranted.join(', ')}`),
      ]);
    }
    const resources = [...request.resources].sort();
    const oneTime = resources.filter((r) => grant.access[r] === 'ONE_TIME');
    const timeBased = resources.filter((r) => grant.access[r] !== 'ONE_TIME');
    const accessType = oneTime.length > 0 ? 'ONE_TIME' : 'TIME_BASED';

    const running = Object.values(this.state.jobs).find(
      (j) =>
        j.owner === owner &&
        this.settle(j).state === 'IN_PROGRESS' &&
        j.resources.join(',') === resources.join(',') &&
        j.startTime === request.startTime &&
        j.endTime === request.endTime,
    );
    if (running) {
      throw new ApiError(409, 'ALREADY_EXISTS', `An identical archive job is already in progress: ${running.id}`, [
        errorInfo(running.accessType === 'ONE_TIME' ? 'ALREADY_EXISTS_ONE_TIME' : 'ALREADY_EXISTS_TIME_BASED', { job_id: running.id }),
      ]);
    }

    const account = this.account(owner);
    const exhausted = oneTime.filter((r) => account.exhaustedOneTime[r] !== undefined);
    if (exhausted.length > 0) {
      const ids = [...new Set(exhausted.flatMap((r) => account.exhaustedOneTime[r] ?? []))];
      throw new ApiError(429, 'RESOURCE_EXHAUSTED', `One-time access to ${exhausted.join(', ')} has already been used.`, [
        errorInfo('RESOURCE_EXHAUSTED_ONE_TIME', { previous_job_ids: ids.join(',') }),
      ]);
    }

    const now = this.clock.now();
    const recent = timeBased.filter((r) => {
      const last = account.timeBased[r];
      return last !== undefined && now < last.at + DAY_MS;
    });
    if (recent.length > 0) {
      const after = Math.max(...recent.map((r) => (account.timeBased[r]?.at ?? 0) + DAY_MS));
      const ids = [...new Set(recent.flatMap((r) => account.timeBased[r]?.jobIds ?? []))];
      const when = this.state.config.timestampAfter24hrsFormat === 'UNIX_SECONDS' ? String(Math.ceil(after / 1000)) : rfc3339(after);
      if (this.state.config.timeBasedRefusal === 'FAILED_PRECONDITION') {
        throw failedPrecondition(`Time-based access to ${recent.join(', ')} allows one export every 24 hours; try again after ${rfc3339(after)}.`);
      }
      throw new ApiError(429, 'RESOURCE_EXHAUSTED', `Time-based access to ${recent.join(', ')} allows one export every 24 hours.`, [
        errorInfo('RESOURCE_EXHAUSTED_TIME_BASED', { previous_job_ids: ids.join(','), timestamp_after_24hrs: when }),
      ]);
    }

    const job = this.create(owner, resources, accessType, request.startTime, request.endTime, now);
    for (const r of oneTime) account.exhaustedOneTime[r] = [...(account.exhaustedOneTime[r] ?? []), job.id];
    for (const r of timeBased) account.timeBased[r] = { at: now, jobIds: [job.id] };
    this.store.changed();
    return job;
  }

  private create(owner: string, resources: string[], accessType: Job['accessType'], startTime: number | undefined, endTime: number | undefined, now: number, retryOf?: Job): Job {
    const cfg = this.state.config;
    const id = newJobId();
    const job: Job = {
      id,
      owner,
      resources,
      exportTime: endTime ?? retryOf?.exportTime ?? now,
      accessType,
      state: 'IN_PROGRESS',
      createdAt: now,
      completeAt: now + this.durationMs(resources),
      archiveBytes: Math.max(...resources.map((r) => cfg.archiveBytesByResource[r] ?? cfg.archiveBytes)),
      archivePartBytes: cfg.archivePartBytes,
      rootId: retryOf?.rootId ?? id,
      retryCount: retryOf ? retryOf.retryCount + 1 : 0,
    };
    if (startTime !== undefined) job.startTime = startTime;
    if (endTime !== undefined) job.endTime = endTime;
    this.state.jobs[id] = job;
    this.store.changed();
    return job;
  }

  retry(owner: string, id: string): Job {
    const job = this.get(owner, id);
    if (job.state !== 'FAILED') throw failedPrecondition(`Only FAILED jobs can be retried; archiveJobs/${id} is ${job.state}.`);
    if (job.retriedBy !== undefined) throw failedPrecondition(`archiveJobs/${id} was already retried as ${job.retriedBy}.`);
    if (job.retryCount >= this.state.config.maxRetries) {
      throw failedPrecondition(`Retry limit reached (${this.state.config.maxRetries}) for archiveJobs/${id}; a new consent is needed.`);
    }
    const next = this.create(owner, job.resources, job.accessType, job.startTime, job.endTime, this.clock.now(), job);
    job.retriedBy = next.id;
    this.store.changed();
    return next;
  }

  cancel(owner: string, id: string): void {
    const job = this.get(owner, id);
    if (job.state !== 'IN_PROGRESS') throw failedPrecondition(`Only IN_PROGRESS jobs can be cancelled; archiveJobs/${id} is ${job.state}.`);
    job.state = 'CANCELLED';
    job.finishedAt = this.clock.now();
    this.store.changed();
  }

  /** Forces a job to COMPLETE or FAILED now (control API). Terminal jobs other than the target refuse. */
  finish(id: string, outcome: 'COMPLETE' | 'FAILED'): Job {
    const job = this.find(id);
    if (!job) throw notFound(`Archive job ${id} not found.`);
    if (job.state === outcome) return job;
    if (job.state !== 'IN_PROGRESS') throw failedPrecondition(`Job ${id} is already ${job.state}.`);
    job.state = outcome;
    job.finishedAt = this.clock.now();
    this.store.changed();
    return job;
  }

  /** authorization:reset bookkeeping: exhausted one-time groups cleared, old archives closed. */
  reset(owner: string): void {
    const account = this.account(owner);
    account.exhaustedOneTime = {};
    for (const job of Object.values(this.state.jobs)) if (job.owner === owner) job.archiveAccessEnded = true;
    this.store.changed();
  }
}
