import type { ResourceGroup } from '../resource-groups.js';
import type { SealedSecret } from '../token-vault.js';
import type { SealedVerifier } from './pkce.js';

/** CLOSING: every export of a one-time grant is done and one worker is releasing it upstream. */
export const CONSENT_STATUSES = ['ACTIVE', 'CLOSING', 'NEEDS_RECONSENT', 'EXPIRED', 'REVOKED', 'CLOSED'] as const;
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
  readonly appUserId: string;
  readonly groups: readonly GrantedGroup[];
  readonly grantedAt: Date;
  /** Time-based grants: when the grant ends, if known. */
  readonly expiresAt: Date | null;
  readonly status: ConsentStatus;
  readonly updatedAt: Date;
  /** The sealed refresh token; null once revoked, closed or expired. */
  readonly token: SealedSecret | null;
}

export const SESSION_STATUSES = ['PENDING', 'STARTED', 'COMPLETED'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

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
}

/** One authorization attempt; its id is the SHA-256 of `state`. Consumed exactly once. */
export interface OAuthAttempt {
  readonly sessionId: string;
  readonly verifier: SealedVerifier;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly consumedAt: Date | null;
}

/** An audit entry: what happened to which record, by whom (a service account), never personal data. */
export interface AuditEntry {
  readonly action: 'consent.revoked';
  readonly subject: string;
  readonly actor: string;
  readonly at: Date;
}

export const consentName = (id: string) => `consents/${id}`;
export const isTerminal = (status: ConsentStatus) => status === 'REVOKED' || status === 'CLOSED';
