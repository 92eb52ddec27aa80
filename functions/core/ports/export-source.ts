/** The export APIs the pipeline serves; a job names its source (records without one are Google's). */
export const SOURCE_NAMES = ['google', 'mews'] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];

/**
 * What a source is called with, handed in by the core (core/sources/upstream.ts), never fetched
 * by the adapter: a user's OAuth access token, or a tenant's API keys. Secrets: never logged,
 * never stored in plain text, never put in a URL.
 */
export type SourceCredential =
  | { readonly kind: 'access_token'; readonly accessToken: string }
  | { readonly kind: 'api_keys'; readonly platformAddress: string; readonly clientToken: string; readonly accessToken: string };

/**
 * An asynchronous export API (Google's Data Portability API first, Mews next): start a job for
 * one unit of data, read its state, retry, cancel, release the grant. Adapters map every
 * documented answer to these typed outcomes; the core never sees HTTP statuses. An adapter knows
 * nothing of consents or tenants: it acts with the credential it is given.
 *
 * Errors: AppError `UNAUTHENTICATED` when upstream refuses the credential (the core refreshes it
 * once and then parks the grant: the adapter never decides that); a retryable AppError for
 * transient failures (5xx, rate limits, network); other AppErrors are permanent.
 */
export interface ExportSource {
  start(credential: SourceCredential, unit: ExportUnit): Promise<StartOutcome>;
  state(credential: SourceCredential, upstreamId: string): Promise<UpstreamState>;
  /** Starts the job again after FAILED; returns the new upstream id. */
  retry(credential: SourceCredential, upstreamId: string): Promise<string>;
  cancel(credential: SourceCredential, upstreamId: string): Promise<void>;
  /** Ends the grant upstream once everything is delivered (one-time grants) or when it is revoked. */
  release(credential: SourceCredential): Promise<void>;
  /**
   * Present when the API reads many jobs of one grant in one call (Mews `exports/getAll`): their
   * states by upstream id, for at most `limit` ids per call; ids it does not know are absent.
   * Without it, jobs are read one `state` call each.
   */
  readonly batch?: BatchStates;
}

export interface BatchStates {
  readonly limit: number;
  states(credential: SourceCredential, upstreamIds: readonly string[]): Promise<ReadonlyMap<string, UpstreamState>>;
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

/** EXPIRED: the job completed but its files are gone upstream: a new job is started (like FAILED, within the retry budget). */
export const UPSTREAM_STATES = ['IN_PROGRESS', 'COMPLETE', 'FAILED', 'CANCELLED', 'EXPIRED'] as const;
export type UpstreamStateName = (typeof UPSTREAM_STATES)[number];

export interface UpstreamFile {
  /** The file's name (no query string, no signature). */
  readonly name: string;
  /** Where to download it now; short-lived and secret: never stored or logged. */
  readonly url: string;
  /** Its size when upstream states it (the copy must have exactly this many bytes). */
  readonly bytes?: number;
}

export interface UpstreamState {
  readonly state: UpstreamStateName;
  /** COMPLETE only. */
  readonly files: readonly UpstreamFile[];
  readonly exportTime: Date | null;
  readonly startTime: Date | null;
  /** When upstream drops the job's files, when it says. */
  readonly expiresAt?: Date | null;
}
