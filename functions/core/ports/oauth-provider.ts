/**
 * The OAuth 2.0 authorization server (Google's, or the sandbox). The adapter owns client id,
 * secret and redirect URI.
 *
 * - `exchangeCode` and `refresh` reject with AppError `UNAUTHENTICATED` reason `INVALID_GRANT`
 *   when the server answers `invalid_grant` (terminal: never retried), with a retryable AppError
 *   on 5xx / network failure, and with `INVALID_ARGUMENT` on other 4xx.
 * - Token values never appear in error messages.
 */
export interface OAuthProvider {
  authorizationUrl(request: { scopes: readonly string[]; state: string; codeChallenge: string }): string;
  exchangeCode(code: string, codeVerifier: string): Promise<TokenGrant>;
  refresh(refreshToken: string): Promise<TokenGrant>;
  /** Best effort: revoking an unknown or already revoked token resolves. */
  revoke(token: string): Promise<void>;
}

export interface TokenGrant {
  readonly accessToken: string;
  readonly accessTokenExpiresAt: Date;
  /** Absent on most refreshes; a grant without one never replaces a stored refresh token. */
  readonly refreshToken?: string;
  /** The scopes actually granted (the user may untick some). */
  readonly scopes: readonly string[];
  /** For time-based grants, when the refresh token stops working, if the server says so. */
  readonly refreshTokenExpiresAt?: Date;
}

export const INVALID_GRANT = 'INVALID_GRANT';
