// The sandbox's whole mutable state: plain JSON-serialisable records, saved by StateStore.
import { randomBytes } from 'node:crypto';
import { DEFAULT_CONFIG } from './config.js';
import type { SandboxConfig } from './config.js';

export type GrantDuration = 'ONE_TIME' | 'DAYS_30' | 'DAYS_180';
export type GroupAccess = 'ONE_TIME' | 'TIME_BASED';
export type JobState = 'IN_PROGRESS' | 'COMPLETE' | 'FAILED' | 'CANCELLED';

export interface OAuthClientRecord {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** Testing clients get refresh tokens (grants) that end 7 days after consent. */
  publishingStatus?: 'TESTING' | 'IN_PRODUCTION';
}

/** One consent of a user to a client: the groups granted and for how long. */
export interface Grant {
  id: string;
  clientId: string;
  user: string;
  groups: string[];
  access: Record<string, GroupAccess>;
  duration: GrantDuration;
  offline: boolean;
  createdAt: number;
  /** End of a time-based grant; one-time grants have none. */
  expiresAt?: number;
  revokedAt?: number;
}

export interface AuthCode {
  code: string;
  grantId: string;
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  expiresAt: number;
  usedAt?: number;
  /** False when the consent screen was skipped (no prompt=consent, scopes already granted offline). */
  issueRefreshToken?: boolean;
}

export interface AccessTokenRecord {
  token: string;
  grantId: string;
  expiresAt: number;
}

export interface RefreshTokenRecord {
  token: string;
  grantId: string;
}

export interface Job {
  id: string;
  /** accountKey(clientId, user) */
  owner: string;
  resources: string[];
  startTime?: number;
  endTime?: number;
  exportTime: number;
  accessType: GroupAccess;
  state: JobState;
  createdAt: number;
  completeAt: number;
  finishedAt?: number;
  archiveBytes: number;
  archivePartBytes: number;
  /** First job of a retry chain, and how many retries that chain has used. */
  rootId: string;
  retryCount: number;
  retriedBy?: string;
  /** Set by authorization:reset: the archive can no longer be downloaded. */
  archiveAccessEnded?: boolean;
}

/** Per (client, user) export bookkeeping. */
export interface Account {
  /** One-time groups already exported → the jobs that did it. Cleared by reset. */
  exhaustedOneTime: Record<string, string[]>;
  /** Time-based groups → last initiate time and its jobs (24-hour window). */
  timeBased: Record<string, { at: number; jobIds: string[] }>;
}

/** An authorization request shown on the consent page, waiting for the user's decision. */
export interface PendingConsent {
  id: string;
  authorizeQuery: string;
  expiresAt: number;
}

export interface OidcKeyRecord {
  kid: string;
  privateKeyPem: string;
  /** PEM served at /oauth2/v1/certs (an X.509 certificate, or the public key). */
  publicPem: string;
}

/** HTTP methods a Cloud Scheduler HTTP target can use (the API's `HttpMethod` enum names). */
export type SchedulerHttpMethod = 'POST' | 'GET' | 'HEAD' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS';

/** A job of the local Cloud Scheduler (`/v1/projects/{p}/locations/{l}/jobs/{id}`); times in sandbox ms. */
export interface SchedulerJobRecord {
  /** Full resource name `projects/P/locations/L/jobs/ID`. */
  name: string;
  description: string;
  schedule: string;
  timeZone: string;
  httpTarget: {
    uri: string;
    httpMethod: SchedulerHttpMethod;
    headers: Record<string, string>;
    /** Base64 (standard alphabet), as in the API; absent = no body. */
    body?: string;
    oidcToken?: { serviceAccountEmail: string; audience: string };
  };
  retryConfig: { retryCount: number; maxRetryDurationMs: number; minBackoffMs: number; maxBackoffMs: number; maxDoublings: number };
  attemptDeadlineMs: number;
  state: 'ENABLED' | 'PAUSED';
  userUpdateTime: number;
  /** Next attempt (a scheduled run or a retry); absent while paused. */
  scheduleTime?: number;
  lastAttemptTime?: number;
  /** Outcome of the last attempt as a google.rpc.Status (code 0 = success). */
  status?: { code: number; message?: string };
}

/** A Mews enterprise reachable with one (ClientToken, AccessToken) pair. */
export interface MewsTenantRecord {
  enterpriseId: string;
  enterpriseName: string;
  clientToken: string;
  accessToken: string;
  /** False: the export operations answer 403 (the beta feature is not enabled for this enterprise). */
  exportsEnabled: boolean;
  createdAt: number;
}

/** How a Mews export ends once processed (decided at `exports/add`, by fault rules). */
export type MewsExportOutcome = 'Success' | 'Failed' | 'Expired';

/** A Mews export; its `Status` follows from the sandbox clock and these times. */
export interface MewsExportRecord {
  id: string;
  enterpriseId: string;
  entityType: string;
  createdAt: number;
  /** Pending until then, Processing from then until `completeAt`. */
  processingAt: number;
  completeAt: number;
  outcome: MewsExportOutcome;
  /** `ExpiresUtc`: a Success export reads Expired (and its files are gone) from then on. */
  expiresAt: number;
  bytes: number;
  filePartBytes: number;
}

export interface SandboxState {
  version: 1;
  clockOffsetMs: number;
  config: SandboxConfig;
  clients: Record<string, OAuthClientRecord>;
  grants: Record<string, Grant>;
  codes: Record<string, AuthCode>;
  accessTokens: Record<string, AccessTokenRecord>;
  refreshTokens: Record<string, RefreshTokenRecord>;
  jobs: Record<string, Job>;
  accounts: Record<string, Account>;
  pendingConsents: Record<string, PendingConsent>;
  /** HMAC key of the signed archive URLs. */
  urlSecret: string;
  oidcKey?: OidcKeyRecord;
  /** Local Cloud Scheduler jobs by full resource name. */
  schedulerJobs: Record<string, SchedulerJobRecord>;
  /** Mews enterprises by id. */
  mewsTenants: Record<string, MewsTenantRecord>;
  /** Mews exports by id. */
  mewsExports: Record<string, MewsExportRecord>;
}

export function accountKey(clientId: string, user: string): string {
  return `${clientId}\n${user}`;
}

/** The state of a sandbox that has never run: default config, a new URL-signing secret. */
export function freshState(): SandboxState {
  return {
    version: 1,
    clockOffsetMs: 0,
    config: {
      ...DEFAULT_CONFIG,
      jobDurationSecondsByResource: {},
      failingResources: {},
      archiveBytesByResource: {},
      oneTimeOnlyResources: [],
      mewsExportBytesByEntityType: {},
    },
    clients: {},
    grants: {},
    codes: {},
    accessTokens: {},
    refreshTokens: {},
    jobs: {},
    accounts: {},
    pendingConsents: {},
    urlSecret: randomBytes(32).toString('base64url'),
    schedulerJobs: {},
    mewsTenants: {},
    mewsExports: {},
  };
}
