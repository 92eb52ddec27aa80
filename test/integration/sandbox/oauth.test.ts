// Google's OAuth web-server flow as the sandbox plays it: authorization request validation,
// the consent page and its automation, code exchange with PKCE, refresh, revoke, tokeninfo.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPE_PREFIX } from '../../../functions/core/resource-groups.js';
import { REDIRECT_URI, advance, api, authorizeUrl, call, connect, consent, errorInfoOf, pkce, registerClient, startTestSandbox, token } from './helpers.js';
import type { Client, TestSandbox } from './helpers.js';

let sb: TestSandbox;
let client: Client;

beforeAll(async () => {
  sb = await startTestSandbox();
  client = await registerClient(sb.baseUrl);
});
afterAll(async () => {
  await sb.stop();
});

function url(groups: string[], extra: Record<string, string> = {}, c: Client = client): string {
  return authorizeUrl(sb.baseUrl, c, groups, { pkce: pkce(), extra });
}

async function page(target: string): Promise<{ status: number; html: string }> {
  const res = await fetch(target, { redirect: 'manual' });
  return { status: res.status, html: await res.text() };
}

describe('authorization endpoint validation (HTML error pages)', () => {
  it.each([
    ['unknown client', (u: URL) => u.searchParams.set('client_id', 'nobody'), 401, 'invalid_client'],
    ['redirect URI not registered exactly', (u: URL) => u.searchParams.set('redirect_uri', REDIRECT_URI + '/'), 400, 'redirect_uri_mismatch'],
    ['response_type=token', (u: URL) => u.searchParams.set('response_type', 'token'), 400, 'unsupported_response_type'],
    ['missing scope', (u: URL) => u.searchParams.delete('scope'), 400, 'invalid_request'],
    ['openid mixed in', (u: URL) => u.searchParams.set('scope', `openid ${SCOPE_PREFIX}chrome.history`), 400, 'invalid_request'],
    ['email mixed in', (u: URL) => u.searchParams.set('scope', `email ${SCOPE_PREFIX}chrome.history`), 400, 'invalid_request'],
    ['unknown portability scope', (u: URL) => u.searchParams.set('scope', `${SCOPE_PREFIX}chrome.nothing`), 400, 'invalid_scope'],
    ['no PKCE', (u: URL) => u.searchParams.delete('code_challenge'), 400, 'invalid_request'],
    ['PKCE plain', (u: URL) => u.searchParams.set('code_challenge_method', 'plain'), 400, 'invalid_request'],
    ['bad access_type', (u: URL) => u.searchParams.set('access_type', 'forever'), 400, 'invalid_request'],
    ['repeated parameter', (u: URL) => u.searchParams.append('state', 'again'), 400, 'invalid_request'],
  ])('%s', async (_name, mutate, status, error) => {
    const u = new URL(url(['chrome.history']));
    mutate(u);
    const res = await page(u.toString());
    expect(res.status).toBe(status);
    expect(res.html).toContain(`Error ${status}: ${error}`);
    const automated = await consent(sb.baseUrl, u.toString());
    expect(automated.status).toBe(status);
    expect(errorInfoOf(automated.body)?.reason).toBe(error);
  });

  it('shows a consent page with each requested group, the durations, Allow and Deny', async () => {
    const res = await page(url(['chrome.history', 'youtube.music']));
    expect(res.status).toBe(200);
    expect(res.html).toContain('value="chrome.history" id="resource-0" data-resource="chrome.history" checked');
    expect(res.html).toContain('value="youtube.music"');
    for (const d of ['ONE_TIME', 'DAYS_30', 'DAYS_180']) expect(res.html).toContain(`value="${d}"`);
    expect(res.html).toContain('id="allow"');
    expect(res.html).toContain('id="deny"');
    expect(res.html).toContain('value="sandbox-user@example.com"');
  });

  it('the consent form (without a browser) grants the ticked groups and redirects with code and state', async () => {
    const target = new URL(url(['chrome.history', 'youtube.music']));
    const res = await page(target.toString());
    const id = /name="consent_id" value="([^"]+)"/.exec(res.html)?.[1] ?? '';
    const form = new URLSearchParams({ consent_id: id, user: 'form@example.com', resource: 'youtube.music', duration: 'DAYS_180', action: 'allow' });
    const posted = await fetch(`${sb.baseUrl}/o/oauth2/v2/auth/consent`, {
      method: 'POST',
      body: form,
      redirect: 'manual',
    });
    expect(posted.status).toBe(302);
    const location = new URL(posted.headers.get('location') ?? '');
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get('state')).toBe(target.searchParams.get('state'));
    expect(location.searchParams.get('code')).toBeTruthy();
    expect(location.searchParams.get('scope')).toBe(`${SCOPE_PREFIX}youtube.music`);
    const reused = await fetch(`${sb.baseUrl}/o/oauth2/v2/auth/consent`, { method: 'POST', body: form, redirect: 'manual' });
    expect(reused.status).toBe(400);
  });

  it('deny goes back to the redirect URI with error=access_denied and the state', async () => {
    const target = url(['chrome.history'], { state: 'keep-me' });
    const res = await consent(sb.baseUrl, target, {}, { deny: true });
    const location = new URL(String(res.body.redirectUrl));
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('state')).toBe('keep-me');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('prompt=none answers interaction_required on the redirect URI', async () => {
    const res = await fetch(url(['chrome.history'], { prompt: 'none', state: 's1' }), { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('interaction_required');
    expect(location.searchParams.get('state')).toBe('s1');
  });

  it('include_granted_scopes=true with scopes already granted is 400 invalid_request', async () => {
    const c = await registerClient(sb.baseUrl);
    const fresh = await consent(sb.baseUrl, url(['maps.reviews'], { include_granted_scopes: 'true' }, c));
    expect(fresh.status).toBe(200);
    const again = await consent(sb.baseUrl, url(['maps.reviews', 'maps.starred_places'], { include_granted_scopes: 'true' }, c));
    expect(again.status).toBe(400);
    expect(errorInfoOf(again.body)?.reason).toBe('invalid_request');
    expect(JSON.stringify(again.body)).toContain('Incremental auth is not allowed');
    const pageRes = await page(url(['maps.reviews'], { include_granted_scopes: 'true' }, c));
    expect(pageRes.status).toBe(400);
    const otherUser = await consent(sb.baseUrl, url(['maps.reviews'], { include_granted_scopes: 'true' }, c), {}, { user: 'other@example.com' });
    expect(otherUser.status).toBe(200);
  });

  it('a granted subset must come from the request', async () => {
    const res = await consent(sb.baseUrl, url(['chrome.history']), { resources: ['youtube.music'] });
    expect(res.status).toBe(400);
  });
});

describe('token endpoint', () => {
  async function codeFor(groups: string[], grant: Parameters<typeof consent>[2] = {}, accessType = 'offline') {
    const p = pkce();
    const res = await consent(sb.baseUrl, authorizeUrl(sb.baseUrl, client, groups, { pkce: p, accessType }), grant);
    return { code: new URL(String(res.body.redirectUrl)).searchParams.get('code') ?? '', verifier: p.verifier };
  }
  const exchange = (code: string, verifier: string, extra: Record<string, string> = {}) =>
    token(sb.baseUrl, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, ...extra });

  it('verifies the PKCE verifier', async () => {
    const { code } = await codeFor(['chrome.history']);
    const res = await exchange(code, pkce().verifier);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_grant', error_description: 'Invalid code verifier.' });
  });

  it('a code works once; a reused code fails and revokes what it issued', async () => {
    const { code, verifier } = await codeFor(['chrome.history']);
    const first = await exchange(code, verifier);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ token_type: 'Bearer', scope: `${SCOPE_PREFIX}chrome.history`, expires_in: 3599 });
    expect(typeof first.body.refresh_token).toBe('string');
    expect(first.body.refresh_token_expires_in).toBeUndefined();
    const second = await exchange(code, verifier);
    expect(second.status).toBe(400);
    expect(second.body.error).toBe('invalid_grant');
    expect((await api(sb.baseUrl, String(first.body.access_token)).check()).status).toBe(401);
    const refresh = await token(sb.baseUrl, client, { grant_type: 'refresh_token', refresh_token: String(first.body.refresh_token) });
    expect(refresh.body.error).toBe('invalid_grant');
  });

  it('refresh token only for access_type=offline', async () => {
    const { code, verifier } = await codeFor(['chrome.history'], {}, 'online');
    const res = await exchange(code, verifier);
    expect(res.status).toBe(200);
    expect(res.body.refresh_token).toBeUndefined();
  });

  it('refresh_token_expires_in for time-based grants', async () => {
    const { code, verifier } = await codeFor(['chrome.history'], { duration: 'DAYS_180' });
    const res = await exchange(code, verifier);
    expect(Number(res.body.refresh_token_expires_in)).toBeGreaterThan(180 * 86400 - 60);
  });

  it('redirect_uri must match, client must authenticate, grant_type must be known, codes expire', async () => {
    const { code, verifier } = await codeFor(['chrome.history']);
    expect((await exchange(code, verifier, { redirect_uri: 'http://127.0.0.1:9/other' })).body.error).toBe('redirect_uri_mismatch');
    const badSecret = await token(sb.baseUrl, { ...client, clientSecret: 'wrong' }, { grant_type: 'authorization_code', code });
    expect(badSecret.status).toBe(401);
    expect(badSecret.body.error).toBe('invalid_client');
    expect((await token(sb.baseUrl, client, { grant_type: 'password' })).body.error).toBe('unsupported_grant_type');
    const basic = await call(
      sb.baseUrl,
      'POST',
      '/token',
      new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }).toString(),
      {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      },
    );
    expect(basic.status).toBe(200);
    const late = await codeFor(['chrome.history']);
    await advance(sb.baseUrl, 601);
    expect((await exchange(late.code, late.verifier)).body.error).toBe('invalid_grant');
  });

  it('access tokens expire after the configured lifetime; refresh gives a new one', async () => {
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { accessTokenLifetimeSeconds: 5 });
    try {
      const c = await connect(sb.baseUrl, ['chrome.reading_list'], {}, { client });
      expect(c.tokenResponse.expires_in).toBe(5);
      await advance(sb.baseUrl, 6);
      expect((await api(sb.baseUrl, c.accessToken).check()).status).toBe(401);
      const refreshed = await token(sb.baseUrl, client, { grant_type: 'refresh_token', refresh_token: c.refreshToken ?? '' });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.scope).toBe(`${SCOPE_PREFIX}chrome.reading_list`);
      expect((await api(sb.baseUrl, String(refreshed.body.access_token)).check()).status).toBe(200);
    } finally {
      await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { accessTokenLifetimeSeconds: 3599 });
    }
  });
});

describe('Google behaviours behind the token response', () => {
  it('no refresh token when the consent screen is skipped (no prompt=consent, scopes already granted offline)', async () => {
    const c = await registerClient(sb.baseUrl);
    const first = await connect(sb.baseUrl, ['maps.vehicle_profile'], {}, { client: c });
    expect(first.refreshToken).toBeDefined();
    const p = pkce();
    const noPrompt = new URL(authorizeUrl(sb.baseUrl, c, ['maps.vehicle_profile'], { pkce: p }));
    noPrompt.searchParams.delete('prompt');
    const decided = await consent(sb.baseUrl, noPrompt.toString());
    const code = new URL(String(decided.body.redirectUrl)).searchParams.get('code') ?? '';
    const res = await token(sb.baseUrl, c, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: p.verifier });
    expect(res.status).toBe(200);
    expect(res.body.refresh_token).toBeUndefined();
    const withPrompt = await connect(sb.baseUrl, ['maps.vehicle_profile'], {}, { client: c });
    expect(withPrompt.refreshToken).toBeDefined();
  });

  it('clients in Testing get grants that end after 7 days', async () => {
    const testing = { clientId: 'testing-client.apps.googleusercontent.com', clientSecret: 'testing-secret' };
    await call(sb.baseUrl, 'POST', '/sandbox/v1/clients', { ...testing, redirectUris: [REDIRECT_URI], publishingStatus: 'TESTING' });
    const c = await connect(sb.baseUrl, ['maps.ev_profile'], { duration: 'DAYS_30' }, { client: testing });
    expect(Number(c.tokenResponse.refresh_token_expires_in)).toBeLessThanOrEqual(7 * 86400);
    expect(Number(c.tokenResponse.refresh_token_expires_in)).toBeGreaterThan(7 * 86400 - 60);
    await advance(sb.baseUrl, 7 * 86400 + 1);
    const res = await token(sb.baseUrl, testing, { grant_type: 'refresh_token', refresh_token: c.refreshToken ?? '' });
    expect(res.body.error).toBe('invalid_grant');
  });

  it('refresh_token_expires_in can be switched off (the client must cope with its absence)', async () => {
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { includeRefreshTokenExpiresIn: false });
    try {
      const c = await connect(sb.baseUrl, ['maps.commute_routes'], { duration: 'DAYS_30' }, { client });
      expect(c.refreshToken).toBeDefined();
      expect(c.tokenResponse.refresh_token_expires_in).toBeUndefined();
    } finally {
      await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { includeRefreshTokenExpiresIn: true });
    }
  });

  it('an authorization URL beyond the URL limit is a 400', async () => {
    const all = ['chrome.history', 'youtube.music'];
    const long = url(all, { state: 'x'.repeat(9000) });
    const res = await page(long);
    expect(res.status).toBe(400);
    expect((await consent(sb.baseUrl, long)).status).toBe(400);
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { maxAuthorizeUrlBytes: 16384 });
    try {
      expect((await page(long)).status).toBe(200);
    } finally {
      await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { maxAuthorizeUrlBytes: 8192 });
    }
  });
});

describe('revoke and tokeninfo', () => {
  it('revoke ends the grant; a second revoke is invalid_token', async () => {
    const c = await connect(sb.baseUrl, ['play.devices'], {}, { client });
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    expect((await call(sb.baseUrl, 'POST', '/revoke', `token=${encodeURIComponent(c.refreshToken ?? '')}`, form)).status).toBe(200);
    const refresh = await token(sb.baseUrl, client, { grant_type: 'refresh_token', refresh_token: c.refreshToken ?? '' });
    expect(refresh.body.error).toBe('invalid_grant');
    expect((await api(sb.baseUrl, c.accessToken).check()).status).toBe(401);
    const again = await call(sb.baseUrl, 'POST', '/revoke', `token=${encodeURIComponent(c.refreshToken ?? '')}`, form);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_token');
  });

  it('tokeninfo describes a live access token and refuses others', async () => {
    const c = await connect(sb.baseUrl, ['play.devices', 'play.grouping'], {}, { client });
    const info = await call(sb.baseUrl, 'GET', `/tokeninfo?access_token=${encodeURIComponent(c.accessToken)}`);
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({ aud: client.clientId, azp: client.clientId, access_type: 'offline' });
    expect(String(info.body.scope).split(' ').sort()).toEqual([`${SCOPE_PREFIX}play.devices`, `${SCOPE_PREFIX}play.grouping`]);
    expect(Number(info.body.expires_in)).toBeGreaterThan(3500);
    const bad = await call(sb.baseUrl, 'GET', '/tokeninfo?access_token=nope');
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: 'invalid_token', error_description: 'Invalid Value' });
  });
});
