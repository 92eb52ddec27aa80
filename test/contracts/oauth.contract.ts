import { describe, expect, it } from 'vitest';
import { newPkce, newState } from '../../functions/core/consent/pkce.js';
import type { OAuthProvider } from '../../functions/core/ports/oauth-provider.js';
import type { PortabilityGrants } from '../../functions/core/ports/portability-grants.js';
import { scopeOf } from '../../functions/core/resource-groups.js';

export interface AuthorizationServerUnderTest {
  readonly oauth: OAuthProvider;
  readonly grants: PortabilityGrants;
  /** `authorization:reset` with this access token (the export source's `release`). */
  reset(accessToken: string): Promise<void>;
  /** The user approves `groups` on the page `authorizationUrl` leads to: the code it sends back. */
  approve(authorizationUrl: string, state: string, groups: string[], duration: 'ONE_TIME' | 'DAYS_30'): Promise<string>;
}

/**
 * The OAuthProvider and PortabilityGrants contracts, run against the fake authorization server and
 * the Google adapters on the sandbox.
 */
export function authorizationContract(name: string, make: () => Promise<AuthorizationServerUnderTest>): void {
  describe(`OAuthProvider and PortabilityGrants contract: ${name}`, () => {
    async function connect(server: AuthorizationServerUnderTest, groups: string[], granted: string[], duration: 'ONE_TIME' | 'DAYS_30' = 'ONE_TIME') {
      const state = newState();
      const pkce = newPkce();
      const url = server.oauth.authorizationUrl({ scopes: groups.map((g) => scopeOf(g as never)), state, codeChallenge: pkce.challenge });
      const code = await server.approve(url, state, granted, duration);
      return { code, verifier: pkce.verifier };
    }

    it('exchanges a code once, with its verifier, for the granted scopes and a refresh token', async () => {
      const server = await make();
      const { code, verifier } = await connect(server, ['chrome.history', 'myactivity.search'], ['chrome.history']);
      const grant = await server.oauth.exchangeCode(code, verifier);
      expect(grant.scopes).toEqual([scopeOf('chrome.history')]);
      expect(grant.refreshToken).toBeTruthy();
      expect(grant.accessTokenExpiresAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
      await expect(server.oauth.exchangeCode(code, verifier)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', reason: 'INVALID_GRANT' });
    });

    it('refuses a code with the wrong verifier as invalid_grant', async () => {
      const server = await make();
      const { code } = await connect(server, ['chrome.history'], ['chrome.history']);
      await expect(server.oauth.exchangeCode(code, newPkce().verifier)).rejects.toMatchObject({ reason: 'INVALID_GRANT' });
    });

    it('refreshes until the refresh token is revoked, then answers invalid_grant', async () => {
      const server = await make();
      const { code, verifier } = await connect(server, ['chrome.history'], ['chrome.history']);
      const grant = await server.oauth.exchangeCode(code, verifier);
      const refreshed = await server.oauth.refresh(grant.refreshToken!);
      expect(refreshed.accessToken).toBeTruthy();
      expect(refreshed.refreshToken).toBeUndefined();
      await server.oauth.revoke(grant.refreshToken!);
      await expect(server.oauth.refresh(grant.refreshToken!)).rejects.toMatchObject({ reason: 'INVALID_GRANT' });
      await expect(server.oauth.revoke(grant.refreshToken!)).resolves.toBeUndefined();
    });

    it('tells one-time from time-based groups, and a time-based grant carries its end', async () => {
      const server = await make();
      const once = await connect(server, ['chrome.history'], ['chrome.history'], 'ONE_TIME');
      const g1 = await server.oauth.exchangeCode(once.code, once.verifier);
      expect(await server.grants.checkAccessType(g1.accessToken)).toEqual({ oneTime: ['chrome.history'], timeBased: [] });
      const days = await connect(server, ['myactivity.search'], ['myactivity.search'], 'DAYS_30');
      const g2 = await server.oauth.exchangeCode(days.code, days.verifier);
      expect(await server.grants.checkAccessType(g2.accessToken)).toEqual({ oneTime: [], timeBased: ['myactivity.search'] });
      expect(g2.refreshTokenExpiresAt!.getTime() - Date.now()).toBeGreaterThan(29 * 86_400_000);
    });

    it('reset ends the grant: the access token answers UNAUTHENTICATED and the refresh token invalid_grant', async () => {
      const server = await make();
      const { code, verifier } = await connect(server, ['chrome.history'], ['chrome.history']);
      const grant = await server.oauth.exchangeCode(code, verifier);
      await server.reset(grant.accessToken);
      await expect(server.grants.checkAccessType(grant.accessToken)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      await expect(server.oauth.refresh(grant.refreshToken!)).rejects.toMatchObject({ reason: 'INVALID_GRANT' });
    });
  });
}
