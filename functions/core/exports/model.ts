import { createHash } from 'node:crypto';
import type { AccessType } from '../consent/model.js';
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
export const JOB_STATES = [
  'PENDING',
  'WAITING',
  'STARTING',
  'IN_PROGRESS',
  'TRANSFERRING',
  'DELIVERED',
  'EXHAUSTED',
  'NOT_GRANTED',
  'FAILED',
  'CANCELLED',
  'ABORTED',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set<JobState>(['DELIVERED', 'EXHAUSTED', 'NOT_GRANTED', 'FAILED', 'CANCELLED', 'ABORTED']);
export const isTerminalJob = (state: JobState) => TERMINAL_STATES.has(state);

/** Upstream FAILED jobs are retried at most this many times (the API's own limit). */
export const MAX_UPSTREAM_RETRIES = 3;

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
}

export interface ExportJob {
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
  readonly files: readonly JobFile[];
  readonly manifestObject: string | null;
  readonly deliveredAt: Date | null;
  /** Why a job ended where it did (no personal data, no secrets). */
  readonly detail: string | null;
}

export function jobId(consentId: string, resource: string, slot: string): string {
  return createHash('sha256').update(`${consentId}\n${resource}\n${slot}`).digest('hex').slice(0, 32);
}

export const jobName = (id: string) => `exports/${id}`;

export function newJob(fields: Pick<ExportJob, 'consentId' | 'appUserId' | 'resource' | 'slot' | 'startTime' | 'endTime'>, now: Date): ExportJob {
  return {
    ...fields,
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
  };
}

export function leaseFree(lease: Lease | null, now: Date): boolean {
  return lease === null || lease.until.getTime() <= now.getTime();
}
