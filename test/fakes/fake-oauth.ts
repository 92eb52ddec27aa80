import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../../functions/core/errors.js';
import type { Clock } from '../../functions/core/ports/clock.js';
import { INVALID_GRANT, type OAuthProvider, type TokenGrant } from '../../functions/core/ports/oauth-provider.js';
import type { PortabilityGrants } from '../../functions/core/ports/portability-grants.js';
import { groupOfScope } from '../../functions/core/resource-groups.js';

interface Grant {
  scopes: string[];
  timeBased: boolean;
  expiresAt: number | null;
  alive: boolean;
}

/**
 * An in-memory authorization server and Data Portability grant API for unit tests: PKCE-checked
 * codes that work once, refresh tokens that die on reset or expiry (`invalid_grant`), and an
 * access-type check. It passes the same contract suites as the Google adapters on the sandbox.
 */
export class FakeAuthorizationServer {
  private readonly challenges = new Map<string, { challenge: string; scopes: string[] }>();
  private readonly codes = new Map<string, { grant: Grant; challenge: string; used: boolean }>();
  private readonly refreshTokens = new Map<string, Grant>();
  private readonly accessTokens = new Map<string, { grant: Grant; expiresAt: number }>();
  readonly calls = { token: 0, refresh: 0, revoke: 0, check: 0, reset: 0 };
  /** Leave `refresh_token` out of the next code exchange (as Google does without prompt=consent). */
  omitRefreshToken = false;

  constructor(private readonly clock: Clock) {}

  readonly provider: OAuthProvider = {
    authorizationUrl: (request) => {
      this.challenges.set(request.state, { challenge: request.codeChallenge, scopes: [...request.scopes] });
      const url = new URL('https://accounts.example/o/oauth2/v2/auth');
      url.searchParams.set('state', request.state);
      url.searchParams.set('code_challenge', request.codeChallenge);
      url.searchParams.set('code_challenge_method', 'S256');
      url.searchParams.set('scope', request.scopes.join(' '));
      return url.href;
    },
    exchangeCode: async (code, verifier) => {
      this.calls.token++;
      const entry = this.codes.get(code);
      if (!entry || entry.used) {
        if (entry) entry.grant.alive = false;
        throw invalidGrant();
      }
      entry.used = true;
      if (createHash('sha256').update(verifier).digest('base64url') !== entry.challenge) throw invalidGrant();
      return this.tokens(entry.grant, !this.omitRefreshToken);
    },
    refresh: async (refreshToken) => {
      this.calls.refresh++;
      const grant = this.refreshTokens.get(refreshToken);
      if (!grant || !grant.alive || (grant.expiresAt !== null && grant.expiresAt <= this.clock.now().getTime())) throw invalidGrant();
      return this.tokens(grant, false);
    },
    revoke: async (token) => {
      this.calls.revoke++;
      const grant = this.refreshTokens.get(token) ?? this.accessTokens.get(token)?.grant;
      if (grant) grant.alive = false;
    },
  };

  readonly grants: PortabilityGrants = {
    checkAccessType: async (accessToken) => {
      this.calls.check++;
      const grant = this.liveGrant(accessToken);
      const groups = grant.scopes.map(groupOfScope).filter((g): g is NonNullable<typeof g> => !!g);
      return grant.timeBased ? { oneTime: [], timeBased: groups } : { oneTime: groups, timeBased: [] };
    },
  };

  /** `authorization:reset` (the export source's release): the grant of this access token ends. */
  async reset(accessToken: string): Promise<void> {
    this.calls.reset++;
    this.liveGrant(accessToken).alive = false;
  }

  /** The user approves `scopes` (a subset of what was asked for under `state`): a one-time code. */
  approve(state: string, scopes: readonly string[], duration: 'ONE_TIME' | 'DAYS_30' | 'DAYS_180' = 'ONE_TIME'): string {
    const asked = this.challenges.get(state);
    if (!asked) throw new Error('unknown state');
    const days = duration === 'DAYS_30' ? 30 : duration === 'DAYS_180' ? 180 : 0;
    const grant: Grant = {
      scopes: scopes.filter((s) => asked.scopes.includes(s)),
      timeBased: days > 0,
      expiresAt: days > 0 ? this.clock.now().getTime() + days * 86_400_000 : null,
      alive: true,
    };
    const code = `code-${randomBytes(8).toString('hex')}`;
    this.codes.set(code, { grant, challenge: asked.challenge, used: false });
    return code;
  }

  private tokens(grant: Grant, withRefresh: boolean): TokenGrant {
    const now = this.clock.now().getTime();
    const accessToken = `at-${randomBytes(8).toString('hex')}`;
    this.accessTokens.set(accessToken, { grant, expiresAt: now + 3_600_000 });
    let refreshToken: string | undefined;
    if (withRefresh) {
      refreshToken = `rt-${randomBytes(8).toString('hex')}`;
      this.refreshTokens.set(refreshToken, grant);
    }
    return {
      accessToken,
      accessTokenExpiresAt: new Date(now + 3_600_000),
      scopes: grant.scopes,
      ...(refreshToken ? { refreshToken } : {}),
      ...(grant.expiresAt !== null ? { refreshTokenExpiresAt: new Date(grant.expiresAt) } : {}),
    };
  }

  private liveGrant(accessToken: string): Grant {
    const entry = this.accessTokens.get(accessToken);
    if (!entry || !entry.grant.alive || entry.expiresAt <= this.clock.now().getTime()) {
      throw new AppError('UNAUTHENTICATED', 'HTTP 401 UNAUTHENTICATED');
    }
    return entry.grant;
  }
}

function invalidGrant(): AppError {
  return new AppError('UNAUTHENTICATED', 'token exchange: invalid_grant', { reason: INVALID_GRANT });
}

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  private t: number;
  constructor(start = Date.parse('2026-11-23T12:00:00Z')) {
    this.t = start;
  }
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
