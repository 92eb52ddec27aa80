import { createHash } from 'node:crypto';
import type { EndReason, JobState, Lease } from '../exports/model.js';
import type { BundleFormat } from '../ports/bundle-packer.js';
import type { SealedSecret } from '../token-vault.js';

/**
 * One bundle: every file the jobs of one export request delivered, plus a combined
 * `manifest.json`, packed into a single zip or tar.gz object. Its id is derived from the format
 * and the set of jobs, so a repeated request finds the same bundle.
 *
 *   WAITING ─▶ BUILDING ─▶ DELIVERED
 *                  │
 *                  ▼
 *               FAILED
 *
 * WAITING while any job runs; BUILDING once every job is terminal (the contents are fixed then:
 * a job retried later is not added); the build writes the archive under a temporary name and
 * copies it to `object` create-only once its size and CRC32C check out.
 */
export const BUNDLE_STATES = ['WAITING', 'BUILDING', 'DELIVERED', 'FAILED'] as const;
export type BundleState = (typeof BUNDLE_STATES)[number];

/** A build that failed this many times on our side ends the bundle FAILED instead of looping. */
export const MAX_BUILD_ATTEMPTS = 8;
/** At most this many files in one bundle (its contents are kept in the bundle's record). */
export const MAX_BUNDLE_FILES = 2000;

export interface BundleFile {
  /** Path inside the archive. */
  readonly path: string;
  readonly name: string;
  readonly object: string;
  readonly bytes: number;
  readonly crc32c: string;
  readonly md5: string | null;
}

/** One job as the bundle saw it when every job had ended. */
export interface BundleExport {
  readonly job: string;
  /** The job's grant: `consents/{id}` or `tenants/{id}` (absent on records written before bundles of several grants). */
  readonly grant?: string | null;
  readonly resource: string;
  readonly state: JobState;
  readonly endReason: EndReason | null;
  readonly detail: string | null;
  readonly accessType: string | null;
  readonly startTime: Date | null;
  readonly endTime: Date | null;
  readonly exportTime: Date | null;
  readonly manifestObject: string | null;
  readonly upstreamJobIds: readonly string[];
  readonly files: readonly BundleFile[];
}

export interface BundleCheckpoint {
  /** The resumable upload session of the temporary object, sealed. */
  readonly session: SealedSecret;
  /** Offsets of the archive stream at which its running CRC32C is known (ascending, from 0). */
  readonly marks: readonly { readonly offset: number; readonly crc32c: string }[];
}

export interface Bundle {
  readonly format: BundleFormat;
  /** Whose data it is: `consents/{id}` (or another source's grant record). */
  readonly subject: string;
  readonly appUserId: string;
  /** The jobs of the request, in the order the request named them. */
  readonly jobs: readonly string[];
  /** The final object name. */
  readonly object: string;
  readonly state: BundleState;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** The sweep's durable timer: a WAITING bundle is checked, a BUILDING one whose worker died is handed on. */
  readonly checkAt: Date | null;
  readonly lease: Lease | null;
  /** Fixed when the build starts. */
  readonly contents: { readonly exports: readonly BundleExport[]; readonly fixedAt: Date } | null;
  readonly checkpoint: BundleCheckpoint | null;
  readonly attempts: number;
  readonly bytes: number | null;
  readonly crc32c: string | null;
  readonly md5: string | null;
  readonly deliveredAt: Date | null;
  readonly detail: string | null;
}

/** Which bundles wait for a job (one record per job and bundle): found by `job` when the job ends. */
export interface BundleMember {
  readonly bundle: string;
  readonly job: string;
}

export function bundleId(format: BundleFormat, jobs: readonly string[]): string {
  return createHash('sha256')
    .update(`bundle\n${format}\n${[...jobs].sort().join('\n')}`)
    .digest('hex')
    .slice(0, 32);
}

export const bundleName = (id: string) => `bundles/${id}`;
export const memberId = (job: string, bundle: string) => `${job}~${bundle}`;
/** The temporary object the archive is written to before it is copied under its final name. */
export const partialObject = (bundle: Pick<Bundle, 'object'>) => `${bundle.object}.partial`;
/** The record id the bundle's sealed upload session is bound to. */
export const bundleUploadSecretId = (id: string) => `bundles/${id}/upload`;
