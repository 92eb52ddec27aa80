import type { SourceName } from '../ports/export-source.js';
import type { ResourceGroup } from '../resource-groups.js';
import { LEGACY_SOURCE, type GrantRef } from '../sources/upstream.js';
import type { SealedSecret } from '../token-vault.js';
import type { SealedVerifier } from './pkce.js';

/**
 * PENDING_CONFIRMATION: granted upstream, but the application has not yet confirmed that the
 * browser which came back belongs to the user who started the flow (no export until it does).
 * CLOSING: every export of a one-time grant is done and one worker is releasing it upstream.
 * EXPIRED: a time-based grant ran out, or a consent was not confirmed in time (`detail` says which).
 */
export const CONSENT_STATUSES = ['PENDING_CONFIRMATION', 'ACTIVE', 'CLOSING', 'NEEDS_RECONSENT', 'EXPIRED', 'REVOKED', 'CLOSED'] as const;
export type ConsentStatus = (typeof CONSENT_STATUSES)[number];
export const ACCESS_TYPES = ['ONE_TIME', 'TIME_BASED'] as const;
export type AccessType = (typeof ACCESS_TYPES)[number];

export interface GrantedGroup {
  readonly resource: ResourceGroup;
  readonly accessType: AccessType;
}

/**
 * A user's consent: what was granted, when, until when, its status, and the refresh token sealed
 * (never in plain text). Nothing more is kept.
 */
export interface Consent {
  /** The export API the consent was given to (absent on older records: Google). */
  readonly source?: SourceName;
  readonly appUserId: string;
  readonly groups: readonly GrantedGroup[];
  readonly grantedAt: Date;
  /** Time-based grants: when the grant ends, if known. */
  readonly expiresAt: Date | null;
  readonly status: ConsentStatus;
  readonly updatedAt: Date;
  /** The sealed refresh token; null once revoked, closed or expired. */
  readonly token: SealedSecret | null;
  /** PENDING_CONFIRMATION: when the completion code expires; the sweep then expires the consent. */
  readonly confirmBy?: Date | null;
  /** Work owed once the consent became ACTIVE; done by the activating call or else by the sweep. */
  readonly followUp?: FollowUp | null;
  /** When the sweep takes over `followUp` (a little after activation, so the activating call goes first). */
  readonly followUpAt?: Date | null;
  /** Why the consent is in its state, when the status alone does not say (e.g. UNCONFIRMED_DETAIL). */
  readonly detail?: string | null;
  /** Time-based consents: the recurring exports (absent on one-time consents and older records). */
  readonly schedule?: ConsentSchedule | null;
  /**
   * When the exports tick must request the next scheduled export: the schedule's next export
   * time while it runs, null when paused or stopped (the tick's query field).
   */
  readonly dueAt?: Date | null;
  /** When the expiry tick must look at this consent next (the grant nears its end, or ended); null: never. */
  readonly expiryCheckAt?: Date | null;
  /** When `consent.expiring` was sent (once). */
  readonly expiringNotifiedAt?: Date | null;
}

/** The recurring exports of a time-based consent. */
export interface ConsentSchedule {
  /** Hours between two scheduled exports: at least 24 (the API allows one export per 24 hours). */
  readonly intervalHours: number;
  readonly paused: boolean;
  /** When the next scheduled export is due (kept while paused); null once the schedule stopped. */
  readonly nextExportTime: Date | null;
  /** Per resource group, the `exportTime` of its last delivered full-to-now export: the next incremental export starts there. */
  readonly lastExportTimes: Readonly<Record<string, Date>>;
}

/**
 * `announce`: `consent.granted` is still to be published (`partial`: fewer groups granted than
 * asked for, for the event); `startExports`: the connect session asked for auto-start.
 */
export interface FollowUp {
  readonly announce: boolean;
  readonly startExports: boolean;
  readonly partial: boolean;
}

export const UNCONFIRMED_DETAIL = 'not confirmed by the application in time';

/** COMPLETED: the browser came back; CONFIRMED: the application confirmed the completion code. */
export const SESSION_STATUSES = ['PENDING', 'STARTED', 'COMPLETED', 'CONFIRMED'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/**
 * CODE (the default): the callback hands the browser a completion code and the consent waits in
 * PENDING_CONFIRMATION until the application confirms it for the user who started the flow.
 * NONE: the consent is ACTIVE at once (anyone who completes the link connects their account).
 */
export const CONFIRMATION_MODES = ['CODE', 'NONE'] as const;
export type ConfirmationMode = (typeof CONFIRMATION_MODES)[number];

/** A short-lived, single-use invitation to connect; its id is the SHA-256 of the token in the connect URL. */
export interface ConnectSession {
  readonly appUserId: string;
  readonly resources: readonly ResourceGroup[];
  readonly returnUrl: string;
  readonly autoStart: boolean;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly status: SessionStatus;
  /** The consent created when the flow completed with a grant. */
  readonly consentId: string | null;
  /** Absent on sessions created before confirmation existed: those behave as NONE. */
  readonly confirmation?: ConfirmationMode;
  /** SHA-256 (hex) of the completion code handed to the returning browser; never the code. */
  readonly codeHash?: string | null;
  readonly codeExpiresAt?: Date | null;
  readonly confirmedAt?: Date | null;
  /** Firestore's TTL policy may delete the record after this (see infra/deploy/firestore-ttl.json). */
  readonly expireAt?: Date;
}

/** One authorization attempt; its id is the SHA-256 of `state`. Consumed exactly once. */
export interface OAuthAttempt {
  readonly sessionId: string;
  readonly verifier: SealedVerifier;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly consumedAt: Date | null;
  /** Firestore's TTL policy may delete the record after this. */
  readonly expireAt?: Date;
}

/** Records that only matter while a flow runs are kept this long after they expire, then TTL-deleted. */
export const FLOW_RECORD_RETENTION_MS = 7 * 86_400_000;
export const retainUntil = (expiresAt: Date) => new Date(expiresAt.getTime() + FLOW_RECORD_RETENTION_MS);

/** An audit entry: what happened to which record, by whom (a service account), never personal data. */
export interface AuditEntry {
  readonly action: 'consent.revoked' | 'tenant.created' | 'tenant.deleted';
  readonly subject: string;
  readonly actor: string;
  readonly at: Date;
}

export const consentName = (id: string) => `consents/${id}`;

/** The grant a consent's upstream calls act under (consents written before sources were named are Google's). */
export const consentGrant = (id: string, consent?: Pick<Consent, 'source'>): GrantRef => ({ source: consent?.source ?? LEGACY_SOURCE, id });
export const isTerminal = (status: ConsentStatus) => status === 'REVOKED' || status === 'CLOSED';

/**
 * Whether copies of archives already handed to the transfer may finish: while ACTIVE, and after a
 * time-based grant EXPIRED (the signed URLs need no token). A revoked, closed or reconsent-bound
 * consent stops them.
 */
export function transfersContinue(consent: Pick<Consent, 'status'>): boolean {
  return consent.status === 'ACTIVE' || consent.status === 'EXPIRED';
}
