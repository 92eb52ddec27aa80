import type { SourceCredential } from '../ports/export-source.js';

/**
 * What an upstream call is for: `export` (start, read, retry, cancel a job) needs a grant that is
 * in use; `release` (ending the grant upstream) also works on a grant being closed.
 */
export type CredentialPurpose = 'export' | 'release';

/**
 * The credentials of one kind of grant (a user's OAuth consent, a tenant's API keys), kept by the
 * core. The one place that decides whether a grant may be used for an upstream call.
 *
 * - `get`: the credential for grant `id` (cached ones are fine); AppError FAILED_PRECONDITION with
 *   a `CONSENT_*` reason when the grant may not be used for `purpose` (ended, revoked, gone).
 * - `forget`: drop any cached credential of `id` (upstream refused it; the next `get` refreshes).
 * - `refused`: upstream refused a freshly obtained credential: the grant is parked (consent →
 *   NEEDS_RECONSENT, tenant → NEEDS_CREDENTIALS), once, with its event, by the call that changed it.
 */
export interface GrantCredentials {
  get(id: string, purpose: CredentialPurpose): Promise<SourceCredential>;
  forget(id: string): void;
  refused(id: string): Promise<void>;
}
