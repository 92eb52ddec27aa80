// Cloud Scheduler v1 `Job` resources in proto3 JSON: parsing a request body (lowerCamel or
// snake_case names, enums as names or numbers, durations "1.5s", bytes base64) into a stored
// record with Google's defaults and field-naming 400s, update masks, and the JSON view (enums as
// numbers when the request asked for `$alt=json;enum-encoding=int`).
import { rfc3339 } from '../lib/clock.js';
import type { ApiError } from '../lib/errors.js';
import { badRequest, invalidArgument } from '../lib/errors.js';
import type { SchedulerHttpMethod, SchedulerJobRecord } from '../lib/state.js';
import { checkSchedule, normaliseTimeZone } from './schedule.js';

export const HTTP_METHODS: readonly SchedulerHttpMethod[] = ['POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
const STATE_NUMBER = { ENABLED: 1, PAUSED: 2 } as const;

export const DEFAULT_RETRY = { retryCount: 0, maxRetryDurationMs: 0, minBackoffMs: 5_000, maxBackoffMs: 3_600_000, maxDoublings: 5 } as const;
export const DEFAULT_ATTEMPT_DEADLINE_MS = 180_000;
const MAX_ATTEMPT_DEADLINE_MS = 30 * 60_000;

const PROJECT = '[A-Za-z0-9.:-]{1,100}';
const LOCATION = '[a-z0-9-]{1,63}';
const JOB_ID = '[A-Za-z0-9_-]{1,500}';
export const PARENT_PATTERN = new RegExp(`^projects/${PROJECT}/locations/${LOCATION}$`);
export const NAME_PATTERN = new RegExp(`^projects/${PROJECT}/locations/${LOCATION}/jobs/${JOB_ID}$`);

/** The fields a request may set (output-only ones are ignored on input, as Google does). */
const JOB_FIELDS = ['name', 'description', 'httpTarget', 'pubsubTarget', 'appEngineHttpTarget', 'schedule', 'timeZone', 'retryConfig', 'attemptDeadline'] as const;
const OUTPUT_ONLY = ['userUpdateTime', 'state', 'status', 'scheduleTime', 'lastAttemptTime'] as const;
const HTTP_TARGET_FIELDS = ['uri', 'httpMethod', 'headers', 'body', 'oidcToken', 'oauthToken'] as const;
const OIDC_FIELDS = ['serviceAccountEmail', 'audience'] as const;
const RETRY_FIELDS = ['retryCount', 'maxRetryDuration', 'minBackoffDuration', 'maxBackoffDuration', 'maxDoublings'] as const;

/** Paths `updateMask` may name (lowerCamel); a parent path replaces the whole sub-message. */
const MASKABLE = new Set<string>([
  'description',
  'schedule',
  'timeZone',
  'attemptDeadline',
  'httpTarget',
  ...HTTP_TARGET_FIELDS.filter((f) => f !== 'oauthToken').map((f) => `httpTarget.${f}`),
  ...OIDC_FIELDS.map((f) => `httpTarget.oidcToken.${f}`),
  'retryConfig',
  ...RETRY_FIELDS.map((f) => `retryConfig.${f}`),
]);

export function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function fieldError(field: string, description: string, message = `Invalid value for ${field}: ${description}`): ApiError {
  return invalidArgument(message, [badRequest(field, description)]);
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A message in lowerCamel form: snake_case keys are renamed, unknown names are refused like
 * Google's parser ("Unknown name … at 'job…'"), `null` means unset. Map fields keep their keys.
 */
function message(value: unknown, at: string, known: readonly string[], ignored: readonly string[] = []): Obj {
  if (value === undefined || value === null) return {};
  if (!isObj(value)) throw fieldError(at, 'must be an object', `Invalid JSON payload received. Expected an object at '${at}'.`);
  const out: Obj = {};
  for (const [key, v] of Object.entries(value)) {
    const name = camel(key);
    if (ignored.includes(name)) continue;
    if (!known.includes(name))
      throw fieldError(`${at}.${key}`, 'unknown field', `Invalid JSON payload received. Unknown name "${key.slice(0, 100)}" at '${at}': Cannot find field.`);
    if (v !== null) out[name] = v;
  }
  return out;
}

function str(v: unknown, field: string, max: number): string {
  if (v === undefined) return '';
  if (typeof v !== 'string') throw fieldError(field, 'must be a string');
  if (v.length > max) throw fieldError(field, `must be at most ${max} characters`);
  return v;
}

function int(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^-?\d{1,10}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw fieldError(field, 'must be an integer');
  return n;
}

/** proto3 JSON Duration ("3.5s") → ms; absent → undefined. */
function duration(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined;
  const m = typeof v === 'string' ? /^(\d{1,12})(?:\.(\d{1,9}))?s$/.exec(v) : null;
  if (!m) throw fieldError(field, 'must be a duration like "30s" or "1.5s"');
  return Number(m[1]) * 1000 + Math.round(Number(`0.${m[2] ?? '0'}`) * 1000);
}

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(3)}s`;
}

function httpMethod(v: unknown): SchedulerHttpMethod {
  if (v === undefined || v === 0 || v === 'HTTP_METHOD_UNSPECIFIED') return 'POST';
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= HTTP_METHODS.length) return HTTP_METHODS[v - 1] as SchedulerHttpMethod;
  if (typeof v === 'string' && (HTTP_METHODS as readonly string[]).includes(v)) return v as SchedulerHttpMethod;
  throw fieldError('job.http_target.http_method', `unknown HttpMethod ${JSON.stringify(v).slice(0, 50)}`);
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
/** Headers Scheduler computes, replaces or keeps for itself (HttpTarget.headers reference). */
const SCHEDULER_OWNED = /^(host|content-length|user-agent|x-google-.*|x-appengine-.*|x-cloudscheduler.*)$/i;
const MAX_HEADER_BYTES = 80 * 1024;

/**
 * The stored headers: the caller's, without those Scheduler owns (and without `Authorization` when
 * an OIDC token replaces it), plus `User-Agent: Google-Cloud-Scheduler`, which the API lists
 * among an HTTP job's headers.
 */
function headers(v: unknown, withToken: boolean): Record<string, string> {
  if (v !== undefined && !isObj(v)) throw fieldError('job.http_target.headers', 'must be a map of header names to values');
  const out: Record<string, string> = {};
  let size = 0;
  for (const [k, value] of Object.entries(v ?? {})) {
    if (!HEADER_NAME.test(k)) throw fieldError('job.http_target.headers', `"${k.slice(0, 50)}" is not a header name`);
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) throw fieldError('job.http_target.headers', `the value of ${k} must be a single-line string`);
    size += k.length + value.length;
    if (size >= MAX_HEADER_BYTES) throw fieldError('job.http_target.headers', 'the headers must total less than 80 KB');
    if (SCHEDULER_OWNED.test(k) || (withToken && k.toLowerCase() === 'authorization')) continue;
    out[k] = value;
  }
  out['User-Agent'] = 'Google-Cloud-Scheduler';
  return out;
}

function base64(v: unknown): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw fieldError('job.http_target.body', 'must be base64');
  const bytes = Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.length > 1024 * 1024) throw fieldError('job.http_target.body', 'must be at most 1 MiB');
  return bytes.length > 0 ? bytes.toString('base64') : undefined;
}

/** The input job as lowerCamel messages (nested ones too), output-only fields dropped. */
export function jobInput(body: unknown): Obj {
  const job = message(body, 'job', JOB_FIELDS, OUTPUT_ONLY);
  const out: Obj = { ...job };
  if (job.httpTarget !== undefined) {
    const target = message(job.httpTarget, 'job.http_target', HTTP_TARGET_FIELDS);
    if (target.oidcToken !== undefined) target.oidcToken = message(target.oidcToken, 'job.http_target.oidc_token', OIDC_FIELDS);
    out.httpTarget = target;
  }
  if (job.retryConfig !== undefined) out.retryConfig = message(job.retryConfig, 'job.retry_config', RETRY_FIELDS);
  return out;
}

export interface BuildContext {
  now: number;
  /** The local extension: seconds in cron and attempt deadlines from 1 s. */
  seconds: boolean;
}

/**
 * A stored job from an input job (as `jobInput` gives it) with the name already decided.
 * Keeps `state` and the run bookkeeping of `previous` (an update); the caller sets scheduleTime.
 */
export function buildJob(name: string, input: Obj, ctx: BuildContext, previous?: SchedulerJobRecord): SchedulerJobRecord {
  if (input.pubsubTarget !== undefined || input.appEngineHttpTarget !== undefined) {
    const field = input.pubsubTarget !== undefined ? 'job.pubsub_target' : 'job.app_engine_http_target';
    throw fieldError(field, 'the sandbox runs HTTP targets only', 'Only HTTP targets (job.http_target) are supported by the local Cloud Scheduler.');
  }
  const target = (input.httpTarget ?? {}) as Obj;
  if (input.httpTarget === undefined) throw fieldError('job.http_target', 'a job needs a target', 'Job target is required.');
  if (target.oauthToken !== undefined) throw fieldError('job.http_target.oauth_token', 'OAuth tokens are for Google APIs; the sandbox mints OIDC tokens only');
  const uri = str(target.uri, 'job.http_target.uri', 2083);
  if (!URL.canParse(uri) || !/^https?:$/.test(new URL(uri).protocol))
    throw fieldError('job.http_target.uri', 'must be an absolute http:// or https:// URL', 'HttpTarget.uri is required and must be an absolute http(s) URL.');

  let oidcToken: SchedulerJobRecord['httpTarget']['oidcToken'];
  if (target.oidcToken !== undefined) {
    const oidc = target.oidcToken as Obj;
    const email = str(oidc.serviceAccountEmail, 'job.http_target.oidc_token.service_account_email', 320);
    if (!/^[^\s@]{1,200}@[^\s@]{1,200}$/.test(email)) throw fieldError('job.http_target.oidc_token.service_account_email', 'must be a service account email');
    const audience = str(oidc.audience, 'job.http_target.oidc_token.audience', 2083);
    oidcToken = { serviceAccountEmail: email, audience: audience === '' ? uri : audience };
  }

  const schedule = str(input.schedule, 'job.schedule', 500).trim();
  const timeZone = normaliseTimeZone(str(input.timeZone, 'job.time_zone', 100));
  if (schedule === '') throw fieldError('job.schedule', 'a schedule is required', 'Schedule is required.');
  const check = checkSchedule(schedule, timeZone, ctx.seconds, ctx.now);
  if (!check.ok) throw fieldError(`job.${check.field}`, check.reason, 'Schedule or time zone is invalid.');

  const retry = (input.retryConfig ?? {}) as Obj;
  const retryCount = int(retry.retryCount, 'job.retry_config.retry_count') ?? DEFAULT_RETRY.retryCount;
  if (retryCount < 0 || retryCount > 5) throw fieldError('job.retry_config.retry_count', 'must be between 0 and 5');
  const maxDoublings = int(retry.maxDoublings, 'job.retry_config.max_doublings') ?? DEFAULT_RETRY.maxDoublings;
  if (maxDoublings < 0 || maxDoublings > 16) throw fieldError('job.retry_config.max_doublings', 'must be between 0 and 16');
  const minBackoffMs = duration(retry.minBackoffDuration, 'job.retry_config.min_backoff_duration') ?? DEFAULT_RETRY.minBackoffMs;
  const maxBackoffMs = duration(retry.maxBackoffDuration, 'job.retry_config.max_backoff_duration') ?? DEFAULT_RETRY.maxBackoffMs;
  const maxRetryDurationMs = duration(retry.maxRetryDuration, 'job.retry_config.max_retry_duration') ?? DEFAULT_RETRY.maxRetryDurationMs;
  if (minBackoffMs > maxBackoffMs) throw fieldError('job.retry_config.min_backoff_duration', 'must not be greater than max_backoff_duration');

  const minDeadline = ctx.seconds ? 1_000 : 15_000;
  const attemptDeadlineMs = duration(input.attemptDeadline, 'job.attempt_deadline') ?? DEFAULT_ATTEMPT_DEADLINE_MS;
  if (attemptDeadlineMs < minDeadline || attemptDeadlineMs > MAX_ATTEMPT_DEADLINE_MS) {
    throw fieldError('job.attempt_deadline', `must be between ${minDeadline / 1000}s and 1800s for HTTP targets`);
  }

  const body = base64(target.body);
  const method = httpMethod(target.httpMethod);
  if (body !== undefined && !['POST', 'PUT', 'PATCH'].includes(method)) throw fieldError('job.http_target.body', `a body is allowed only with POST, PUT or PATCH, not ${method}`);
  const record: SchedulerJobRecord = {
    name,
    description: str(input.description, 'job.description', 500),
    schedule,
    timeZone,
    httpTarget: {
      uri,
      httpMethod: method,
      headers: headers(target.headers, oidcToken !== undefined),
      ...(body !== undefined ? { body } : {}),
      ...(oidcToken ? { oidcToken } : {}),
    },
    retryConfig: { retryCount, maxRetryDurationMs, minBackoffMs, maxBackoffMs, maxDoublings },
    attemptDeadlineMs,
    state: previous?.state ?? 'ENABLED',
    userUpdateTime: ctx.now,
  };
  if (previous?.lastAttemptTime !== undefined) record.lastAttemptTime = previous.lastAttemptTime;
  if (previous?.status !== undefined) record.status = previous.status;
  return record;
}

/** The stored job as an input job (lowerCamel), the base an update mask applies to. */
export function recordInput(job: SchedulerJobRecord): Obj {
  const t = job.httpTarget;
  return {
    description: job.description,
    schedule: job.schedule,
    timeZone: job.timeZone,
    attemptDeadline: formatDuration(job.attemptDeadlineMs),
    httpTarget: {
      uri: t.uri,
      httpMethod: t.httpMethod,
      headers: { ...t.headers },
      ...(t.body !== undefined ? { body: t.body } : {}),
      ...(t.oidcToken ? { oidcToken: { ...t.oidcToken } } : {}),
    },
    retryConfig: {
      retryCount: job.retryConfig.retryCount,
      maxRetryDuration: formatDuration(job.retryConfig.maxRetryDurationMs),
      minBackoffDuration: formatDuration(job.retryConfig.minBackoffMs),
      maxBackoffDuration: formatDuration(job.retryConfig.maxBackoffMs),
      maxDoublings: job.retryConfig.maxDoublings,
    },
  };
}

/** Parses `updateMask` ("schedule,http_target.uri"): lowerCamel paths, each one maskable. */
export function parseUpdateMask(text: string | null): string[] | undefined {
  if (text === null) return undefined;
  const paths = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => p.split('.').map(camel).join('.'));
  for (const path of paths) {
    if (!MASKABLE.has(path)) {
      const shown = path.split('.').map(snake).join('.');
      throw fieldError(
        'update_mask',
        `"${shown.slice(0, 100)}" cannot be updated (updatable: description, schedule, time_zone, attempt_deadline, http_target[.…], retry_config[.…])`,
      );
    }
  }
  return paths;
}

/**
 * Applies an update: with a mask, each named path is copied from the patch (absent → cleared to
 * its default); without one, every field the patch sets replaces the stored one.
 */
export function applyUpdate(base: Obj, patch: Obj, mask: string[] | undefined): Obj {
  const out = structuredClone(base);
  const paths = mask ?? Object.keys(patch).filter((k) => k !== 'name');
  for (const path of paths) {
    const parts = path.split('.');
    let from: unknown = patch;
    for (const p of parts) from = isObj(from) ? from[p] : undefined;
    let into: Obj = out;
    for (const p of parts.slice(0, -1)) {
      if (!isObj(into[p])) into[p] = {};
      into = into[p] as Obj;
    }
    const last = parts[parts.length - 1] ?? '';
    if (from === undefined) delete into[last];
    else into[last] = structuredClone(from);
  }
  return out;
}

/** The API view of a job (proto3 JSON; zero values omitted as Google's JSON printer does). */
export function jobView(job: SchedulerJobRecord, intEnums: boolean): Obj {
  const t = job.httpTarget;
  const httpTarget: Obj = {
    uri: t.uri,
    httpMethod: intEnums ? HTTP_METHODS.indexOf(t.httpMethod) + 1 : t.httpMethod,
    ...(Object.keys(t.headers).length > 0 ? { headers: t.headers } : {}),
    ...(t.body !== undefined ? { body: t.body } : {}),
    ...(t.oidcToken ? { oidcToken: t.oidcToken } : {}),
  };
  const r = job.retryConfig;
  return {
    name: job.name,
    ...(job.description !== '' ? { description: job.description } : {}),
    httpTarget,
    userUpdateTime: rfc3339(job.userUpdateTime),
    state: intEnums ? STATE_NUMBER[job.state] : job.state,
    ...(job.status !== undefined
      ? { status: { ...(job.status.code !== 0 ? { code: job.status.code } : {}), ...(job.status.message ? { message: job.status.message } : {}) } }
      : {}),
    ...(job.scheduleTime !== undefined ? { scheduleTime: rfc3339(job.scheduleTime) } : {}),
    ...(job.lastAttemptTime !== undefined ? { lastAttemptTime: rfc3339(job.lastAttemptTime) } : {}),
    retryConfig: {
      ...(r.retryCount !== 0 ? { retryCount: r.retryCount } : {}),
      maxRetryDuration: formatDuration(r.maxRetryDurationMs),
      minBackoffDuration: formatDuration(r.minBackoffMs),
      maxBackoffDuration: formatDuration(r.maxBackoffMs),
      maxDoublings: r.maxDoublings,
    },
    schedule: job.schedule,
    timeZone: job.timeZone,
    attemptDeadline: formatDuration(job.attemptDeadlineMs),
  };
}
