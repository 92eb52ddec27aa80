/**
 * An asynchronous export API (Google's Data Portability API first, Mews next): start a job for
 * one unit of data, read its state, retry, cancel, release the grant. Adapters map every
 * documented answer to these typed outcomes; the core never sees HTTP statuses.
 *
 * Errors: a retryable AppError for transient failures (5xx, rate limits, network); AppError
 * `FAILED_PRECONDITION` reason `CONSENT_NEEDS_RECONSENT` (or another `CONSENT_*`) when the grant
 * is gone; other AppErrors are permanent.
 */
export interface ExportSource {
  start(grant: GrantRef, unit: ExportUnit): Promise<StartOutcome>;
  state(grant: GrantRef, upstreamId: string): Promise<UpstreamState>;
  /** Starts the job again after FAILED; returns the new upstream id. */
  retry(grant: GrantRef, upstreamId: string): Promise<string>;
  cancel(grant: GrantRef, upstreamId: string): Promise<void>;
  /** Ends the grant upstream once everything is delivered (one-time grants). */
  release(grant: GrantRef): Promise<void>;
}

/** Which grant (consent) to act with; the adapter finds the credentials. */
export interface GrantRef {
  readonly consentId: string;
}

export interface ExportUnit {
  readonly resource: string;
  readonly startTime: Date | null;
  readonly endTime: Date | null;
}

export type StartOutcome =
  | { readonly kind: 'started'; readonly upstreamId: string; readonly accessType: 'ONE_TIME' | 'TIME_BASED' | 'UNSPECIFIED' }
  /** An identical job is already running upstream: follow it. */
  | { readonly kind: 'adopted'; readonly upstreamId: string }
  /**
   * A one-time grant was already used for this unit. `previousUpstreamIds`: the upstream jobs that
   * used it, as upstream names them (empty when it does not say): one may be ours, started by a
   * call whose answer was lost.
   */
  | { readonly kind: 'exhausted'; readonly detail: string; readonly previousUpstreamIds: readonly string[] }
  /** Not allowed yet (time-based: once per 24 h); try again at `at`. */
  | { readonly kind: 'not_before'; readonly at: Date; readonly detail: string }
  /** The grant does not cover this unit. */
  | { readonly kind: 'not_granted'; readonly detail: string };

export const UPSTREAM_STATES = ['IN_PROGRESS', 'COMPLETE', 'FAILED', 'CANCELLED'] as const;
export type UpstreamStateName = (typeof UPSTREAM_STATES)[number];

export interface UpstreamFile {
  /** The file's name (no query string, no signature). */
  readonly name: string;
  /** Where to download it now; short-lived and secret: never stored or logged. */
  readonly url: string;
}

export interface UpstreamState {
  readonly state: UpstreamStateName;
  /** COMPLETE only. */
  readonly files: readonly UpstreamFile[];
  readonly exportTime: Date | null;
  readonly startTime: Date | null;
}
