import { OAuth2Client, type Credentials } from 'google-auth-library';
import { AppError } from '../core/errors.js';
import { INVALID_GRANT, type OAuthProvider, type TokenGrant } from '../core/ports/oauth-provider.js';
import type { Clock } from '../core/ports/clock.js';

export interface OAuthEndpoints {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Only where the connect flow runs (authorization URLs, code exchange); workers only refresh and revoke. */
  readonly redirectUri?: string;
  readonly authorizationEndpoint?: string;
  readonly tokenEndpoint: string;
  readonly revokeEndpoint: string;
}

/** Exposes the token refresh without the client's shared credential state. */
class PortabilityOAuthClient extends OAuth2Client {
  refreshWith(refreshToken: string) {
    return this.refreshTokenNoCache(refreshToken);
  }
}

/**
 * OAuthProvider on Google's OAuth 2.0 server with google-auth-library: authorization-code flow,
 * `access_type=offline`, `prompt=consent`, PKCE S256; never `include_granted_scopes`.
 */
export class GoogleOAuthProvider implements OAuthProvider {
  private readonly client: PortabilityOAuthClient;

  constructor(
    private readonly endpoints: OAuthEndpoints,
    private readonly clock: Clock,
  ) {
    this.client = new PortabilityOAuthClient({
      clientId: endpoints.clientId,
      clientSecret: endpoints.clientSecret,
      ...(endpoints.redirectUri ? { redirectUri: endpoints.redirectUri } : {}),
      endpoints: {
        ...(endpoints.authorizationEndpoint ? { oauth2AuthBaseUrl: endpoints.authorizationEndpoint } : {}),
        oauth2TokenUrl: endpoints.tokenEndpoint,
        oauth2RevokeUrl: endpoints.revokeEndpoint,
      },
    });
  }

  authorizationUrl(request: { scopes: readonly string[]; state: string; codeChallenge: string }): string {
    this.connectFlow();
    return this.client.generateAuthUrl({
      response_type: 'code',
      access_type: 'offline',
      prompt: 'consent',
      scope: [...request.scopes],
      state: request.state,
      code_challenge: request.codeChallenge,
      // The library's enum type; the wire value is "S256".
      code_challenge_method: 'S256' as never,
    });
  }

  async exchangeCode(code: string, codeVerifier: string): Promise<TokenGrant> {
    this.connectFlow();
    try {
      const { tokens, res } = await this.client.getToken({ code, codeVerifier });
      return this.toGrant(tokens, res?.data);
    } catch (error) {
      throw translate(error, 'token exchange');
    }
  }

  async refresh(refreshToken: string): Promise<TokenGrant> {
    try {
      const { tokens, res } = await this.client.refreshWith(refreshToken);
      return this.toGrant(tokens, res?.data);
    } catch (error) {
      throw translate(error, 'token refresh');
    }
  }

  async revoke(token: string): Promise<void> {
    try {
      await this.client.revokeToken(token);
    } catch (error) {
      const mapped = translate(error, 'token revocation');
      if (mapped.retryable) throw mapped;
      // An unknown or already revoked token: nothing to revoke.
    }
  }

  private toGrant(tokens: Credentials, raw: unknown): TokenGrant {
    if (!tokens.access_token) throw new AppError('UNAVAILABLE', 'token response without access_token');
    const now = this.clock.now().getTime();
    const expiresInRefresh = (raw as { refresh_token_expires_in?: unknown } | undefined)?.refresh_token_expires_in;
    return {
      accessToken: tokens.access_token,
      accessTokenExpiresAt: new Date(tokens.expiry_date ?? now + 3_600_000),
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      scopes: (tokens.scope ?? '').split(/\s+/).filter(Boolean),
      ...(typeof expiresInRefresh === 'number' && expiresInRefresh >= 0 ? { refreshTokenExpiresAt: new Date(now + expiresInRefresh * 1000) } : {}),
    };
  }

  /** A provider built for refreshing and revoking only (a worker's) never sends anyone to consent. */
  private connectFlow(): void {
    if (!this.endpoints.redirectUri || !this.endpoints.authorizationEndpoint) {
      throw new AppError('INTERNAL', 'this function is not configured for the connect flow (OAUTH_PUBLIC_URL, GOOGLE_ACCOUNTS_URL)');
    }
  }
}

function translate(error: unknown, what: string): AppError {
  const response = (error as { response?: { status?: number; data?: unknown } }).response;
  const status = response?.status;
  const oauthError = (response?.data as { error?: unknown } | undefined)?.error;
  if (oauthError === 'invalid_grant') return new AppError('UNAUTHENTICATED', `${what}: invalid_grant`, { reason: INVALID_GRANT });
  if (status === undefined || status === 408 || status === 429 || status >= 500) {
    return new AppError('UNAVAILABLE', `${what}: ${status === undefined ? 'network failure' : `HTTP ${status}`}`, { cause: error });
  }
  const code = typeof oauthError === 'string' && /^[a-z_]{1,64}$/.test(oauthError) ? oauthError : 'error';
  return new AppError('INVALID_ARGUMENT', `${what}: ${code} (HTTP ${status})`, { reason: code.toUpperCase() });
}
