/**
 * What the Data Portability API says about a user's grant, called with that user's access token.
 * (Releasing the grant, `authorization:reset`, is the export source's `release`.)
 * Errors: AppError `UNAUTHENTICATED` for 401 (token revoked or expired), retryable AppError for
 * 5xx/429/network failures, `INVALID_ARGUMENT`/`FAILED_PRECONDITION` for other 4xx.
 */
export interface PortabilityGrants {
  /** `accessType:check`: which granted groups are one-time and which time-based. */
  checkAccessType(accessToken: string): Promise<{ readonly oneTime: readonly string[]; readonly timeBased: readonly string[] }>;
}
