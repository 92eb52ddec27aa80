import { createHash } from 'node:crypto';
import { consentName, type AccessType } from '../consent/model.js';
import type { SourceName } from '../ports/export-source.js';
import { LEGACY_SOURCE, type GrantRef } from '../sources/upstream.js';
import { tenantName } from '../tenants/model.js';
import type { SealedSecret } from '../token-vault.js';

/**
 * One export job: one unit of data (a resource group) of one consent in one slot (a request or a
 * scheduled tick). Its id is derived from (consent, resource, slot), so a repeated request finds
 * the same job. States only move forward; terminal states absorb.
 *
 *   PENDING ─▶ STARTING ─▶ IN_PROGRESS ─▶ TRANSFERRING ─▶ DELIVERED
 *      ▲  │         │            │
 *      │  ▼         ▼            ▼
 *   WAITING    EXHAUSTED · NOT_GRANTED · FAILED · CANCELLED · ABORTED
 */
export const JOB_STATES = ['PENDING', 'WAITING', 'STARTING', 'IN_PROGRESS', 'TRANSFERRING', 'DELIVERED', 'EXHAUSTED', 'NOT_GRANTED', 'FAILED', 'CANCELLED', 'ABORTED'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set<JobState>(['DELIVERED', 'EXHAUSTED', 'NOT_GRANTED', 'FAILED', 'CANCELLED', 'ABORTED']);
export const isTerminalJob = (state: JobState) => TERMINAL_STATES.has(state);

/** Upstream FAILED jobs are retried at most this many times (the API's own limit). */
export const MAX_UPSTREAM_RETRIES = 3;
/** Starting the upstream job failed on our side (sealed token, KMS, network) this often: the job ends FAILED. */
export const MAX_START_ATTEMPTS = 8;

/**
 * Why a job ended where it did, as a stable code (the `detail` is for people). It decides whether
 * a one-time grant may be released: only when upstream can no longer serve the job (the first
 * five) or it was delivered. A failure on our side keeps the grant, so `:retry` can still deliver.
 */
export const END_REASONS = [
  'ONE_TIME_USED',
  'NOT_GRANTED',
  'UPSTREAM_FAILED',
  'UPSTREAM_CANCELLED',
  'ARCHIVE_GONE',
  'TRANSFER_FAILED',
  'START_FAILED',
  'CANCELLED_BY_APP',
  'CONSENT_ENDED',
] as const;
export type EndReason = (typeof END_REASONS)[number];

const UPSTREAM_CANNOT_SERVE: ReadonlySet<EndReason> = new Set<EndReason>(['ONE_TIME_USED', 'NOT_GRANTED', 'UPSTREAM_FAILED', 'UPSTREAM_CANCELLED', 'ARCHIVE_GONE']);

/**
 * True when nothing more can come of this job under its grant: delivered, or ended because
 * upstream can no longer serve it. A job ended by a failure on our side (a transfer that failed, a
 * start that could not be made, a cancel before upstream finished) is not settled: it holds a
 * one-time grant open until it is retried, delivered or the consent is revoked.
 */
export function grantSettled(job: Pick<ExportJob, 'state' | 'endReason'>): boolean {
  if (job.state === 'DELIVERED') return true;
  if (!isTerminalJob(job.state)) return false;
  // Records written before end reasons existed: the two refusals that name themselves.
  const reason = job.endReason ?? (job.state === 'EXHAUSTED' ? 'ONE_TIME_USED' : job.state === 'NOT_GRANTED' ? 'NOT_GRANTED' : undefined);
  return reason !== undefined && UPSTREAM_CANNOT_SERVE.has(reason);
}

export interface Lease {
  readonly owner: string;
  readonly until: Date;
}

export interface TransferCheckpoint {
  /** The resumable upload session, sealed (it is a credential for the object being written). */
  readonly session: SealedSecret;
  /** Offsets at which the running CRC32C is known (ascending), to resume from a persisted offset. */
  readonly marks: readonly { readonly offset: number; readonly crc32c: string }[];
  readonly totalBytes: number | null;
}

export interface JobFile {
  readonly index: number;
  readonly name: string;
  /** Object name in the archive bucket. */
  readonly object: string;
  readonly state: 'PENDING' | 'DONE';
  readonly bytes: number | null;
  readonly crc32c: string | null;
  readonly md5: string | null;
  readonly lease: Lease | null;
  readonly checkpoint: TransferCheckpoint | null;
  readonly attempts: number;
  /**
   * The file's signed URL as the completing state check gave it, sealed (it is a bearer
   * credential): the transfer downloads with it and asks upstream for a fresh one only when it no
   * longer works. Dropped when the file is done or the job ends. Absent on older records.
   */
  readonly url?: SealedSecret | null;
  /** The size upstream states for the file, when it does: a copy of another size is not counted. */
  readonly expectedBytes?: number | null;
}

/**
 * What authorises a job's upstream calls: a user's consent, or a tenant's configured API keys.
 * Decided by the request that created the job (never by its source's name).
 */
export type GrantKind = 'consent' | 'tenant';

export interface ExportJob {
  /** Which export API runs it (absent on records written before there were two: Google). */
  readonly source?: SourceName;
  /** The kind of grant `consentId` names (absent on records written before tenants: a consent). */
  readonly grantKind?: GrantKind;
  /** The id of the job's grant: a consent's id, or for a tenant's job (`grantKind` tenant) the tenant's id. */
  readonly consentId: string;
  readonly appUserId: string;
  readonly resource: string;
  readonly slot: string;
  readonly startTime: Date | null;
  readonly endTime: Date | null;
  readonly state: JobState;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Who is starting or retrying the upstream job right now (STARTING, or a FAILED upstream being retried). */
  readonly claim: Lease | null;
  readonly accessType: AccessType | null;
  readonly upstreamId: string | null;
  /** Earlier upstream ids of this job (replaced by retries). */
  readonly upstreamHistory: readonly string[];
  readonly retries: number;
  readonly upstreamStartedAt: Date | null;
  /** The durable poll timer: the sweep publishes a check when it is due. */
  readonly nextPollAt: Date | null;
  /** When the sweep last queued the check due at `nextPollAt` (so it is not queued again every tick). */
  readonly pollQueuedAt?: Date | null;
  readonly polls: number;
  /** WAITING: the source refuses before this time. */
  readonly notBefore: Date | null;
  readonly exportTime: Date | null;
  /** When upstream drops the job's files, as it said when the job completed (absent when it does not say). */
  readonly upstreamExpiresAt?: Date | null;
  readonly files: readonly JobFile[];
  readonly manifestObject: string | null;
  readonly deliveredAt: Date | null;
  /** Why a job ended where it did (no personal data, no secrets). */
  readonly detail: string | null;
  /** The stable code of why it ended (absent on older records and on jobs that have not ended). */
  readonly endReason?: EndReason | null;
  /** Runs of this job: 1, and one more per `:retry` (each run's events have ids of their own). */
  readonly run?: number;
  /** Failed attempts to start the upstream job on our side, in this run. */
  readonly startAttempts?: number;
}

export function jobId(consentId: string, resource: string, slot: string): string {
  return createHash('sha256').update(`${consentId}\n${resource}\n${slot}`).digest('hex').slice(0, 32);
}

export const jobName = (id: string) => `exports/${id}`;

/** The source a job runs on. */
export const sourceOf = (job: Pick<ExportJob, 'source'>): SourceName => job.source ?? LEGACY_SOURCE;

/** The grant a job's upstream calls act under. */
export const grantOf = (job: Pick<ExportJob, 'source' | 'consentId'>): GrantRef => ({ source: sourceOf(job), id: job.consentId });

/** The kind of grant a job runs under. */
export const grantKindOf = (job: Pick<ExportJob, 'grantKind'>): GrantKind => job.grantKind ?? 'consent';

/** The grant's API name: `consents/{id}` or `tenants/{id}`. */
export const grantName = (job: Pick<ExportJob, 'grantKind' | 'consentId'>): string => (grantKindOf(job) === 'tenant' ? tenantName(job.consentId) : consentName(job.consentId));

/** The field that names a job's grant in its resource, manifest and events: `{consent}` or `{tenant}`. */
export const grantField = (job: Pick<ExportJob, 'grantKind' | 'consentId'>): { consent: string } | { tenant: string } =>
  grantKindOf(job) === 'tenant' ? { tenant: tenantName(job.consentId) } : { consent: consentName(job.consentId) };

export function newJob(fields: Pick<ExportJob, 'source' | 'grantKind' | 'consentId' | 'appUserId' | 'resource' | 'slot' | 'startTime' | 'endTime'>, now: Date): ExportJob {
  return {
    ...fields,
    source: fields.source ?? LEGACY_SOURCE,
    state: 'PENDING',
    createdAt: now,
    updatedAt: now,
    claim: null,
    accessType: null,
    upstreamId: null,
    upstreamHistory: [],
    retries: 0,
    upstreamStartedAt: null,
    nextPollAt: null,
    polls: 0,
    notBefore: null,
    exportTime: null,
    files: [],
    manifestObject: null,
    deliveredAt: null,
    detail: null,
    endReason: null,
    run: 1,
    startAttempts: 0,
  };
}

/** A file's resumable upload session, sealed, that an ended job no longer continues. */
export interface OpenSession {
  readonly index: number;
  readonly session: SealedSecret;
}

export type EndState = 'FAILED' | 'CANCELLED' | 'ABORTED' | 'EXHAUSTED' | 'NOT_GRANTED';

/**
 * The one job-ending transition (initiate, poll, transfer, cancel and disconnect all use it): the
 * job takes its terminal state with a reason and a detail, and drops everything that only a
 * running job needs: timers, claims, leases, sealed signed URLs and upload checkpoints. The
 * sealed upload sessions it drops are returned, so the caller cancels them after the write
 * commits (an open session keeps the bytes written so far for up to a week).
 */
export function endedJob(job: ExportJob, state: EndState, reason: EndReason, detail: string, now: Date): { job: ExportJob; openSessions: OpenSession[] } {
  const openSessions = job.files.flatMap((f) => (f.state === 'PENDING' && f.checkpoint ? [{ index: f.index, session: f.checkpoint.session }] : []));
  return {
    job: {
      ...job,
      state,
      endReason: reason,
      detail,
      nextPollAt: null,
      pollQueuedAt: null,
      notBefore: null,
      claim: null,
      updatedAt: now,
      files: job.files.map((f) => ({ ...f, lease: null, checkpoint: null, url: null })),
    },
    openSessions,
  };
}

export function leaseFree(lease: Lease | null, now: Date): boolean {
  return lease === null || lease.until.getTime() <= now.getTime();
}

/** At most one running export per (consent, resource group): the lane names the job that runs it. */
export interface ExportLane {
  readonly job: string;
  readonly since: Date;
}

export const laneId = (consentId: string, resource: string) => `${consentId}~${resource}`;
