/**
 * Upserts the Cloud Scheduler jobs of infra/scheduler-jobs.ts with `@google-cloud/scheduler`:
 * creates a missing job, updates a different one with an update mask of the changed fields, and
 * leaves an equal one alone, printing what it did per job. The same code provisions production
 * (a client on Google's endpoint) and the local stack (`localSchedulerClient`: the sandbox's
 * Cloud Scheduler over the client's REST transport). Jobs not in the table are left alone, and a
 * paused job stays paused (pausing is an operator's decision).
 */
import { CloudSchedulerClient } from '@google-cloud/scheduler';
import type { protos } from '@google-cloud/scheduler';
import { OAuth2Client } from 'google-auth-library';
import { SCHEDULER_JOBS } from '../scheduler-jobs.js';
import type { SchedulerJobId, SchedulerJobSpec } from '../scheduler-jobs.js';

type Job = protos.google.cloud.scheduler.v1.IJob;

export interface SchedulerEnvironment {
  readonly projectId: string;
  /** Cloud Scheduler location (region), e.g. `europe-west1`. */
  readonly location: string;
  /** Base URL of a deployed HTTP function: the OIDC audience, and the target with the route appended. */
  functionUrl(name: SchedulerJobSpec['target']['function']): string;
  /** Email of a service account from its account id (production: `ID@PROJECT.iam.gserviceaccount.com`). */
  serviceAccountEmail(accountId: string): string;
  /** Prefix of the job ids (test isolation); default none. */
  readonly jobPrefix?: string;
  /** Per-job schedule overrides (the local stack sweeps every few seconds). */
  readonly schedules?: Partial<Readonly<Record<SchedulerJobId, string>>>;
}

export type UpsertAction = 'created' | 'updated' | 'unchanged';

export interface UpsertResult {
  readonly id: SchedulerJobId;
  readonly name: string;
  readonly action: UpsertAction;
  /** The update mask sent (snake_case field paths); empty unless updated. */
  readonly changed: readonly string[];
}

/** The job as the API should hold it, from its table row and the environment. */
export function desiredJob(spec: SchedulerJobSpec, env: SchedulerEnvironment): Job {
  const base = env.functionUrl(spec.target.function).replace(/\/+$/, '');
  const r = spec.retry;
  return {
    name: `projects/${env.projectId}/locations/${env.location}/jobs/${env.jobPrefix ?? ''}${spec.id}`,
    description: spec.description,
    schedule: env.schedules?.[spec.id] ?? spec.schedule,
    timeZone: spec.timeZone,
    attemptDeadline: { seconds: spec.attemptDeadlineSeconds },
    retryConfig: {
      retryCount: r.retryCount,
      minBackoffDuration: { seconds: r.minBackoffSeconds },
      maxBackoffDuration: { seconds: r.maxBackoffSeconds },
      maxDoublings: r.maxDoublings,
      maxRetryDuration: { seconds: r.maxRetryDurationSeconds },
    },
    httpTarget: {
      uri: `${base}${spec.target.route}`,
      httpMethod: spec.target.httpMethod,
      oidcToken: { serviceAccountEmail: env.serviceAccountEmail(spec.oidc.serviceAccount), audience: base },
    },
  };
}

type Duration = protos.google.protobuf.IDuration | null | undefined;

function ms(d: Duration): number {
  return Number(d?.seconds ?? 0) * 1000 + Math.round(Number(d?.nanos ?? 0) / 1e6);
}

function bodyOf(body: Uint8Array | string | null | undefined): string {
  if (body === null || body === undefined) return '';
  return typeof body === 'string' ? body : Buffer.from(body).toString('base64');
}

const HTTP_METHODS = ['HTTP_METHOD_UNSPECIFIED', 'POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

function methodOf(m: unknown): string {
  const name = typeof m === 'number' ? HTTP_METHODS[m] : m;
  return name === undefined || name === null || name === 'HTTP_METHOD_UNSPECIFIED' ? 'POST' : String(name);
}

/** Each updatable top-level field (update-mask path) in a comparable form; API defaults applied. */
function comparable(job: Job): Record<string, string> {
  const t = job.httpTarget;
  const r = job.retryConfig;
  const tz = job.timeZone ?? '';
  // Scheduler lists `User-Agent: Google-Cloud-Scheduler` among the headers it returns: not ours to compare.
  const headers = Object.entries(t?.headers ?? {})
    .filter(([k]) => k.toLowerCase() !== 'user-agent')
    .sort(([a], [b]) => a.localeCompare(b));
  return {
    description: job.description ?? '',
    schedule: (job.schedule ?? '').trim(),
    time_zone: tz === '' || tz.toLowerCase() === 'utc' ? 'Etc/UTC' : tz,
    attempt_deadline: String(ms(job.attemptDeadline) || 180_000),
    http_target: JSON.stringify([
      t?.uri ?? '',
      methodOf(t?.httpMethod),
      headers,
      bodyOf(t?.body),
      t?.oidcToken?.serviceAccountEmail ?? '',
      t?.oidcToken ? t.oidcToken.audience || t.uri || '' : '',
    ]),
    retry_config: JSON.stringify([r?.retryCount ?? 0, ms(r?.minBackoffDuration) || 5_000, ms(r?.maxBackoffDuration) || 3_600_000, r?.maxDoublings ?? 5, ms(r?.maxRetryDuration)]),
  };
}

/** The update-mask paths on which two jobs differ. */
export function changedFields(existing: Job, desired: Job): string[] {
  const a = comparable(existing);
  const b = comparable(desired);
  return Object.keys(b).filter((k) => a[k] !== b[k]);
}

function grpcOrHttp(err: unknown, grpc: number, http: number): boolean {
  const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown } } | null;
  return e?.code === grpc || e?.code === http || e?.status === http || e?.response?.status === http;
}

const isNotFound = (err: unknown) => grpcOrHttp(err, 5, 404);
const isAlreadyExists = (err: unknown) => grpcOrHttp(err, 6, 409);

async function getJob(client: CloudSchedulerClient, name: string): Promise<Job | undefined> {
  try {
    const [job] = await client.getJob({ name });
    return job;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function upsertOne(client: CloudSchedulerClient, spec: SchedulerJobSpec, env: SchedulerEnvironment): Promise<UpsertResult> {
  const desired = desiredJob(spec, env);
  const name = desired.name ?? '';
  let existing = await getJob(client, name);
  if (!existing) {
    try {
      await client.createJob({ parent: `projects/${env.projectId}/locations/${env.location}`, job: desired });
      return { id: spec.id, name, action: 'created', changed: [] };
    } catch (err) {
      // Another deployer created it since our read: compare with theirs.
      if (!isAlreadyExists(err)) throw err;
      existing = await getJob(client, name);
      if (!existing) throw err;
    }
  }
  const changed = changedFields(existing, desired);
  if (changed.length === 0) return { id: spec.id, name, action: 'unchanged', changed };
  await client.updateJob({ job: desired, updateMask: { paths: changed } });
  return { id: spec.id, name, action: 'updated', changed };
}

/**
 * Upserts `jobs` (default: every job of the table) one after the other and prints one line per
 * job: `scheduler job <id>: created | updated (<fields>) | unchanged`.
 */
export async function upsertSchedulerJobs(
  client: CloudSchedulerClient,
  env: SchedulerEnvironment,
  jobs: readonly SchedulerJobSpec[] = SCHEDULER_JOBS,
  print: (line: string) => void = (line) => console.log(line),
): Promise<UpsertResult[]> {
  const results: UpsertResult[] = [];
  for (const spec of jobs) {
    const result = await upsertOne(client, spec, env);
    print(`scheduler job ${result.id}: ${result.action}${result.action === 'updated' ? ` (${result.changed.join(', ')})` : ''}`);
    results.push(result);
  }
  return results;
}

/**
 * A client of the sandbox's Cloud Scheduler (`http://127.0.0.1:PORT`): the REST transport
 * (`fallback: true`) with a placeholder access token (the sandbox does not check it).
 */
export function localSchedulerClient(sandboxUrl: string): CloudSchedulerClient {
  const url = new URL(sandboxUrl);
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: 'sandbox', expiry_date: Date.now() + 10 * 365 * 86_400_000 });
  return new CloudSchedulerClient({
    fallback: true,
    apiEndpoint: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    protocol: url.protocol.replace(':', ''),
    // google-gax pins its own google-auth-library release: the same class under another type.
    authClient: auth as unknown as NonNullable<ConstructorParameters<typeof CloudSchedulerClient>[0]>['authClient'],
  });
}
