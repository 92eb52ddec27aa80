/**
 * Every Cloud Scheduler job of the deployment, as data (next to topology.ts). One job per tick,
 * never one per consent: the ticks page through what is due. `infra/deploy/scheduler-jobs.ts`
 * upserts these with `@google-cloud/scheduler`, in production and on the local stack (where the
 * sandbox's Cloud Scheduler runs them).
 *
 * Each job POSTs to a route of an HTTP function with an OIDC token of the scheduler's service
 * account; the audience is the function's URL (what the function verifies: SCHEDULER_AUDIENCE).
 * Cloud Scheduler delivers at least once (even with retryCount 0) and sends the same
 * `X-CloudScheduler-ScheduleTime` on retries, so every tick route is idempotent per schedule time.
 */

/** Service account (account id, before `@PROJECT.iam.gserviceaccount.com`) the jobs' OIDC tokens are minted for. */
export const SCHEDULER_INVOKER_ACCOUNT = 'scheduler-invoker';

export type SchedulerJobId = 'poll-sweep' | 'exports-tick' | 'expiry-tick';

export interface SchedulerJobSpec {
  /** The job id (last part of `projects/P/locations/L/jobs/ID`), also `X-CloudScheduler-JobName`. */
  readonly id: SchedulerJobId;
  readonly description: string;
  /** unix-cron, 5 fields (Cloud Scheduler runs at most once a minute). */
  readonly schedule: string;
  readonly timeZone: 'Etc/UTC';
  readonly target: {
    /** An HTTP function of infra/topology.ts. */
    readonly function: 'scheduler';
    readonly route: `/ticks/${string}`;
    readonly httpMethod: 'POST';
  };
  readonly oidc: {
    /** Account id of the service account whose OIDC token the job sends. */
    readonly serviceAccount: string;
    /** The token's audience: the target function's base URL. */
    readonly audience: 'function-url';
  };
  /** Seconds Scheduler waits for an answer (HTTP targets: 15 to 1800). Ticks only fan out, so short. */
  readonly attemptDeadlineSeconds: number;
  /** RetryConfig: retries stop at `retryCount` (0-5) or at the next scheduled run, whichever comes first. */
  readonly retry: {
    readonly retryCount: number;
    readonly minBackoffSeconds: number;
    readonly maxBackoffSeconds: number;
    readonly maxDoublings: number;
    /** 0 = no time limit (retryCount alone limits). */
    readonly maxRetryDurationSeconds: number;
  };
}

export const SCHEDULER_JOBS: readonly SchedulerJobSpec[] = [
  {
    id: 'poll-sweep',
    description: 'Republishes due poll checks of export jobs (durable poll timers).',
    schedule: '* * * * *',
    timeZone: 'Etc/UTC',
    target: { function: 'scheduler', route: '/ticks/poll-sweep', httpMethod: 'POST' },
    oidc: { serviceAccount: SCHEDULER_INVOKER_ACCOUNT, audience: 'function-url' },
    attemptDeadlineSeconds: 60,
    // The next minute's sweep is the retry.
    retry: { retryCount: 0, minBackoffSeconds: 5, maxBackoffSeconds: 30, maxDoublings: 2, maxRetryDurationSeconds: 0 },
  },
  {
    id: 'exports-tick',
    description: 'Requests the scheduled exports of time-based consents and of tenants that are due.',
    schedule: '*/5 * * * *',
    timeZone: 'Etc/UTC',
    target: { function: 'scheduler', route: '/ticks/exports', httpMethod: 'POST' },
    oidc: { serviceAccount: SCHEDULER_INVOKER_ACCOUNT, audience: 'function-url' },
    attemptDeadlineSeconds: 60,
    retry: { retryCount: 3, minBackoffSeconds: 10, maxBackoffSeconds: 60, maxDoublings: 2, maxRetryDurationSeconds: 0 },
  },
  {
    id: 'expiry-tick',
    description: 'Warns of ending time-based grants (consent.expiring) and expires ended ones.',
    schedule: '*/15 * * * *',
    timeZone: 'Etc/UTC',
    target: { function: 'scheduler', route: '/ticks/expiry', httpMethod: 'POST' },
    oidc: { serviceAccount: SCHEDULER_INVOKER_ACCOUNT, audience: 'function-url' },
    attemptDeadlineSeconds: 60,
    retry: { retryCount: 3, minBackoffSeconds: 10, maxBackoffSeconds: 120, maxDoublings: 3, maxRetryDurationSeconds: 0 },
  },
];
