import { OAuth2Client } from 'google-auth-library';
import { AppError } from '../core/errors.js';
import type { Caller, CallerVerifier } from '../core/ports/caller-verifier.js';

export interface IdTokenSettings {
  readonly audience: string;
  readonly allowedEmails: readonly string[];
  readonly issuers: readonly string[];
  /** PEM certificates of the issuer (Google: https://www.googleapis.com/oauth2/v1/certs). */
  readonly certsUrl: string;
}

/**
 * CallerVerifier for Google ID tokens with google-auth-library: signature (the issuer's
 * certificates, cached per their Cache-Control), issuer, audience, expiry, then a verified email on
 * the allow-list. Locally the issuer is the sandbox's; the code is the same.
 */
export class GoogleIdTokenVerifier implements CallerVerifier {
  private readonly client: OAuth2Client;
  private readonly allowed: ReadonlySet<string>;

  constructor(private readonly settings: IdTokenSettings) {
    this.client = new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: settings.certsUrl }, issuers: [...settings.issuers] });
    this.allowed = new Set(settings.allowedEmails.map((e) => e.toLowerCase()));
  }

  async verify(authorizationHeader: string | undefined): Promise<Caller> {
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(authorizationHeader ?? '');
    if (!match?.[1]) throw unauthenticated('a Google ID token is required: Authorization: Bearer <token>');
    let payload;
    try {
      const ticket = await this.client.verifyIdToken({ idToken: match[1], audience: this.settings.audience });
      payload = ticket.getPayload();
    } catch (error) {
      if (isNetworkFailure(error)) throw new AppError('UNAVAILABLE', 'the ID token certificates could not be fetched', { cause: error });
      throw invalidToken(error);
    }
    const email = payload?.email?.toLowerCase();
    if (!email || payload?.email_verified !== true) throw unauthenticated('the ID token carries no verified email');
    if (!this.allowed.has(email)) throw new AppError('PERMISSION_DENIED', 'this caller is not allowed', { reason: 'CALLER_NOT_ALLOWED' });
    return { email };
  }
}

function unauthenticated(message: string, reason = 'INVALID_ID_TOKEN'): AppError {
  return new AppError('UNAUTHENTICATED', message, { reason });
}

/**
 * Why google-auth-library refused a token, in words a caller can act on, each with its own reason.
 * The library says it only in its messages (10.x `OAuth2Client.verifySignedJwtWithCertsAsync`),
 * which quote the token's payload: only the first words are matched, and nothing of them is echoed.
 */
const REFUSALS: readonly (readonly [RegExp, string, string])[] = [
  [/^Token used too late/, 'ID_TOKEN_EXPIRED', 'the ID token has expired: fetch a fresh one (they last one hour)'],
  [/^Token used too early/, 'ID_TOKEN_NOT_YET_VALID', 'the ID token is not valid yet (its issue time is in the future: check the clock)'],
  [/^Wrong recipient/, 'ID_TOKEN_WRONG_AUDIENCE', "the ID token's audience is not this service: request one for this function's URL"],
  [/^Invalid issuer/, 'ID_TOKEN_WRONG_ISSUER', 'the ID token was not issued by an accepted issuer (Google)'],
  [/^Invalid token signature|^No pem found/, 'ID_TOKEN_BAD_SIGNATURE', "the ID token's signature does not verify with the issuer's keys"],
];

function invalidToken(error: unknown): AppError {
  const message = error instanceof Error ? error.message : '';
  for (const [pattern, reason, text] of REFUSALS) if (pattern.test(message)) return unauthenticated(text, reason);
  return unauthenticated('the ID token is not valid for this service');
}

function isNetworkFailure(error: unknown): boolean {
  const e = error as { response?: unknown; code?: unknown; name?: unknown };
  return e?.name === 'GaxiosError' && e.response === undefined;
}
