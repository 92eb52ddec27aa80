// Grants, authorization codes and tokens: the OAuth side of the sandbox's state.
import { createHash, timingSafeEqual } from 'node:crypto';
import { SCOPE_PREFIX } from '../../../functions/core/resource-groups.js';
import type { Clock } from '../lib/clock.js';
import { OAuthError } from '../lib/errors.js';
import { randomToken } from '../lib/ids.js';
import type { StateStore } from '../lib/store.js';
import { accountKey } from '../lib/state.js';
import type { AccessTokenRecord, Grant, GrantDuration, GroupAccess, OAuthClientRecord } from '../lib/state.js';
import type { AuthRequest } from './authorize-request.js';
import { callbackUrl } from './authorize-request.js';

export const DEFAULT_USER = 'sandbox-user@example.com';
const DAY_MS = 86_400_000;
const TESTING_CLIENT_DAYS = 7;
const GRANT_DAYS: Readonly<Record<GrantDuration, number | undefined>> = { ONE_TIME: undefined, DAYS_30: 30, DAYS_180: 180 };

export interface ConsentDecision {
  user: string;
  /** Groups the user left ticked; undefined = all requested. */
  resources?: readonly string[];
  duration: GrantDuration;
  deny: boolean;
}

export interface TokenResponse {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
  refresh_token_expires_in?: number;
  scope: string;
  token_type: 'Bearer';
}

export type Authenticated = { ok: true; grant: Grant; token: AccessTokenRecord } | { ok: false; reason: 'missing' | 'invalid' | 'expired' };

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

export function scopeString(groups: readonly string[]): string {
  return groups.map((g) => SCOPE_PREFIX + g).join(' ');
}

export class OAuthService {
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
  ) {}

  private prunedAt = Number.NEGATIVE_INFINITY;

  private get state() {
    return this.store.state;
  }

  registerClient(client: OAuthClientRecord): void {
    this.state.clients[client.clientId] = client;
    this.store.changed();
  }

  grantActive(grant: Grant, now = this.clock.now()): boolean {
    return grant.revokedAt === undefined && (grant.expiresAt === undefined || now < grant.expiresAt);
  }

  /** Groups currently granted to this client by this user (any active grant). */
  grantedGroups(clientId: string, user: string): Set<string> {
    const out = new Set<string>();
    for (const g of Object.values(this.state.grants)) {
      if (g.clientId === clientId && g.user === user && this.grantActive(g)) g.groups.forEach((x) => out.add(x));
    }
    return out;
  }

  /** Refuses incremental authorization when any requested scope is already granted (Google's 400). */
  checkIncremental(request: AuthRequest, user: string): void {
    if (!request.includeGrantedScopes) return;
    const granted = this.grantedGroups(request.clientId, user);
    if (request.groups.some((g) => granted.has(g))) {
      throw new OAuthError(400, 'invalid_request', 'Incremental auth is not allowed for Data Portability API scopes: some requested scopes are already granted.');
    }
  }

  /** Applies the user's decision and answers the callback URL (code or error=access_denied). */
  decide(request: AuthRequest, decision: ConsentDecision): string {
    if (decision.deny) {
      return callbackUrl(request.redirectUri, { error: 'access_denied', state: request.state });
    }
    this.checkIncremental(request, decision.user);
    const chosen = decision.resources ?? request.groups;
    const notRequested = chosen.filter((g) => !request.groups.includes(g));
    if (notRequested.length > 0) {
      throw new OAuthError(400, 'invalid_request', `Resources not in the request: ${notRequested.join(', ')}`);
    }
    const groups = request.groups.filter((g) => chosen.includes(g));
    const now = this.clock.now();
    const days = GRANT_DAYS[decision.duration];
    const oneTimeOnly = new Set(this.state.config.oneTimeOnlyResources);
    const access: Record<string, GroupAccess> = {};
    for (const g of groups) access[g] = days === undefined || oneTimeOnly.has(g) ? 'ONE_TIME' : 'TIME_BASED';
    // Google shows no consent screen (and so issues no refresh token) when prompt=consent is absent
    // and this user already granted every requested scope offline.
    const consentShown = request.prompt?.split(' ').includes('consent') ?? false;
    const alreadyOffline = Object.values(this.state.grants).some(
      (g) => g.clientId === request.clientId && g.user === decision.user && g.offline && this.grantActive(g, now) && groups.every((x) => g.groups.includes(x)),
    );
    const grant: Grant = {
      id: randomToken(12),
      clientId: request.clientId,
      user: decision.user,
      groups,
      access,
      duration: decision.duration,
      offline: request.accessType === 'offline',
      createdAt: now,
    };
    if (days !== undefined) grant.expiresAt = now + days * DAY_MS;
    if (this.state.clients[request.clientId]?.publishingStatus === 'TESTING') {
      grant.expiresAt = Math.min(grant.expiresAt ?? Infinity, now + TESTING_CLIENT_DAYS * DAY_MS);
    }
    this.state.grants[grant.id] = grant;
    const code = `4/0sandbox-${randomToken(24)}`;
    this.state.codes[code] = {
      code,
      grantId: grant.id,
      clientId: request.clientId,
      redirectUri: request.redirectUri,
      codeChallenge: request.codeChallenge,
      expiresAt: now + this.state.config.authCodeLifetimeSeconds * 1000,
      ...(!consentShown && alreadyOffline ? { issueRefreshToken: false } : {}),
    };
    this.prune(now);
    this.store.changed();
    return callbackUrl(request.redirectUri, { state: request.state, code, scope: scopeString(groups) });
  }

  /** Client authentication of the token endpoint (HTTP Basic or body parameters). */
  authenticateClient(authorization: string | undefined, params: Map<string, string[]>): OAuthClientRecord {
    let id = params.get('client_id')?.[0];
    let secret = params.get('client_secret')?.[0];
    if (authorization?.startsWith('Basic ')) {
      const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw new OAuthError(401, 'invalid_client', 'Unauthorized');
      try {
        id = decodeURIComponent(decoded.slice(0, colon));
        secret = decodeURIComponent(decoded.slice(colon + 1));
      } catch {
        throw new OAuthError(401, 'invalid_client', 'Unauthorized');
      }
    }
    if (!id) throw new OAuthError(400, 'invalid_request', 'Could not determine client ID from request.');
    const client = Object.hasOwn(this.state.clients, id) ? this.state.clients[id] : undefined;
    if (!client) throw new OAuthError(401, 'invalid_client', 'The OAuth client was not found.');
    if (secret === undefined || !sameSecret(secret, client.clientSecret)) {
      throw new OAuthError(401, 'invalid_client', 'Unauthorized');
    }
    return client;
  }

  exchangeCode(client: OAuthClientRecord, params: Map<string, string[]>): TokenResponse {
    const code = params.get('code')?.[0];
    if (!code) throw new OAuthError(400, 'invalid_request', 'Missing required parameter: code');
    const record = Object.hasOwn(this.state.codes, code) ? this.state.codes[code] : undefined;
    const now = this.clock.now();
    if (!record || record.clientId !== client.clientId) throw new OAuthError(400, 'invalid_grant', 'Malformed auth code.');
    const grant = this.state.grants[record.grantId];
    if (record.usedAt !== undefined) {
      // A replayed code: refuse it and revoke everything it issued (RFC 6749 §4.1.2).
      if (grant && grant.revokedAt === undefined) grant.revokedAt = now;
      this.store.changed();
      throw new OAuthError(400, 'invalid_grant', 'Bad Request');
    }
    if (now >= record.expiresAt) throw new OAuthError(400, 'invalid_grant', 'Bad Request');
    const redirectUri = params.get('redirect_uri')?.[0];
    if (redirectUri === undefined) throw new OAuthError(400, 'invalid_request', 'Missing parameter: redirect_uri');
    if (redirectUri !== record.redirectUri) throw new OAuthError(400, 'redirect_uri_mismatch', 'Bad Request');
    const verifier = params.get('code_verifier')?.[0];
    if (!verifier) throw new OAuthError(400, 'invalid_grant', 'Missing code verifier.');
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || s256(verifier) !== record.codeChallenge) {
      throw new OAuthError(400, 'invalid_grant', 'Invalid code verifier.');
    }
    record.usedAt = now;
    if (!grant || !this.grantActive(grant, now)) {
      this.store.changed();
      throw new OAuthError(400, 'invalid_grant', 'Token has been expired or revoked.');
    }
    const response = this.issueAccessToken(grant, now);
    if (grant.offline && record.issueRefreshToken !== false) {
      const refresh = `1//sandbox-${randomToken(32)}`;
      this.state.refreshTokens[refresh] = { token: refresh, grantId: grant.id };
      response.refresh_token = refresh;
      this.addRefreshExpiry(response, grant, now);
    }
    this.store.changed();
    return response;
  }

  refresh(client: OAuthClientRecord, params: Map<string, string[]>): TokenResponse {
    const token = params.get('refresh_token')?.[0];
    if (!token) throw new OAuthError(400, 'invalid_request', 'Missing required parameter: refresh_token');
    const record = Object.hasOwn(this.state.refreshTokens, token) ? this.state.refreshTokens[token] : undefined;
    const grant = record ? this.state.grants[record.grantId] : undefined;
    const now = this.clock.now();
    if (!grant || grant.clientId !== client.clientId || !this.grantActive(grant, now)) {
      throw new OAuthError(400, 'invalid_grant', 'Token has been expired or revoked.');
    }
    const response = this.issueAccessToken(grant, now);
    this.addRefreshExpiry(response, grant, now);
    this.store.changed();
    return response;
  }

  private issueAccessToken(grant: Grant, now: number): TokenResponse {
    const lifetime = this.state.config.accessTokenLifetimeSeconds;
    const token = `ya29.sandbox-${randomToken(32)}`;
    this.state.accessTokens[token] = { token, grantId: grant.id, expiresAt: now + lifetime * 1000 };
    this.prune(now);
    return { access_token: token, expires_in: lifetime, scope: scopeString(grant.groups), token_type: 'Bearer' };
  }

  private addRefreshExpiry(response: TokenResponse, grant: Grant, now: number): void {
    if (grant.offline && grant.expiresAt !== undefined && this.state.config.includeRefreshTokenExpiresIn) {
      response.refresh_token_expires_in = Math.max(0, Math.floor((grant.expiresAt - now) / 1000));
    }
  }

  /** Revokes the grant behind an access or refresh token. False when the token is unknown or dead. */
  revoke(token: string): boolean {
    const record = Object.hasOwn(this.state.refreshTokens, token)
      ? this.state.refreshTokens[token]
      : Object.hasOwn(this.state.accessTokens, token)
        ? this.state.accessTokens[token]
        : undefined;
    const grant = record ? this.state.grants[record.grantId] : undefined;
    if (!grant || !this.grantActive(grant)) return false;
    grant.revokedAt = this.clock.now();
    this.store.changed();
    return true;
  }

  authenticate(token: string | undefined): Authenticated {
    if (!token) return { ok: false, reason: 'missing' };
    const record = Object.hasOwn(this.state.accessTokens, token) ? this.state.accessTokens[token] : undefined;
    const grant = record ? this.state.grants[record.grantId] : undefined;
    if (!record || !grant) return { ok: false, reason: 'invalid' };
    const now = this.clock.now();
    if (now >= record.expiresAt) return { ok: false, reason: 'expired' };
    if (!this.grantActive(grant, now)) return { ok: false, reason: 'invalid' };
    return { ok: true, grant, token: record };
  }

  /** Revokes every grant of this user for this client (authorization:reset). */
  revokeAccount(clientId: string, user: string): void {
    const now = this.clock.now();
    for (const g of Object.values(this.state.grants)) {
      if (g.clientId === clientId && g.user === user && g.revokedAt === undefined) g.revokedAt = now;
    }
    this.store.changed();
  }

  ownerOf(grant: Grant): string {
    return accountKey(grant.clientId, grant.user);
  }

  /** Drops long-expired codes, access tokens and consent pages so memory stays bounded; one scan a minute at most (sandbox time). */
  private prune(now: number): void {
    if (Math.abs(now - this.prunedAt) < 60_000) return;
    this.prunedAt = now;
    const s = this.state;
    for (const [k, v] of Object.entries(s.codes)) if (now >= v.expiresAt + 3_600_000) delete s.codes[k];
    for (const [k, v] of Object.entries(s.accessTokens)) if (now >= v.expiresAt + 86_400_000) delete s.accessTokens[k];
    for (const [k, v] of Object.entries(s.pendingConsents)) if (now >= v.expiresAt) delete s.pendingConsents[k];
  }
}
