/**
 * Authenticates a caller of an HTTP function from its `Authorization: Bearer <Google ID token>`
 * header: signature, issuer, audience, expiry, verified email on the allow-list.
 * Rejects with AppError `UNAUTHENTICATED` (no or invalid token) or `PERMISSION_DENIED` (a valid
 * token of a caller not on the allow-list).
 */
export interface CallerVerifier {
  verify(authorizationHeader: string | undefined): Promise<Caller>;
}

export interface Caller {
  readonly email: string;
}
