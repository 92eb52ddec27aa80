import { describe, expect, it } from 'vitest';
import { AccessTokens } from '../../../functions/core/consent/access-tokens.js';
import { completeConsent, createConnectSession, startConsent } from '../../../functions/core/consent/connect.js';
import { revokeConsent } from '../../../functions/core/consent/consents.js';
import { AppError } from '../../../functions/core/errors.js';
import { scopeOf, type ResourceGroup } from '../../../functions/core/resource-groups.js';
import { consentDepsWithFakes, RETURN_URL } from '../../fakes/consent-deps.js';

const GROUPS: ResourceGroup[] = ['myactivity.search', 'chrome.history', 'youtube.subscriptions', 'maps.starred_places'];

/** A flow without the confirmation step (its own tests are in confirmation.test.ts): the consent is ACTIVE at the callback. */
async function begin(env: ReturnType<typeof consentDepsWithFakes>, resources: readonly string[] = GROUPS) {
  const session = await createConnectSession(env.deps, { appUserId: 'u1', resources, returnUrl: RETURN_URL, autoStart: false, confirmation: 'NONE' });
  const token = session.connectUrl.split('/connect/')[1]!;
  const started = await startConsent(env.deps, token);
  return { session, token, started };
}

describe('connect flow (core, on fakes)', () => {
  it('scenario 5: for every subset of the requested groups, the consent holds exactly the granted ones', async () => {
    for (let mask = 0; mask < 1 << GROUPS.length; mask++) {
      const env = consentDepsWithFakes();
      const granted = GROUPS.filter((_, i) => mask & (1 << i));
      const { started } = await begin(env);
      const code = env.server.approve(started.state, granted.map(scopeOf));
      const done = await completeConsent(env.deps, { state: started.state, code, error: undefined, boundState: started.state });
      const url = new URL(done.redirectUrl);
      if (granted.length === 0) {
        expect(done.outcome).toBe('denied');
        expect(env.consents.size()).toBe(0);
        expect(url.searchParams.get('reason')).toBe('no_groups_granted');
        continue;
      }
      expect(done.outcome).toBe(granted.length === GROUPS.length ? 'granted' : 'partial');
      const consent = await env.consents.get(done.consentId!);
      expect(consent?.groups.map((g) => g.resource)).toEqual(granted);
      expect(url.origin + url.pathname).toBe(RETURN_URL);
      expect(url.searchParams.get('consent')).toBe(`consents/${done.consentId}`);
      expect(env.queue.on('export-events').map((m) => (m.data as { type: string }).type)).toEqual(['consent.granted']);
    }
  });

  it("asks for exactly the session's scopes with a PKCE S256 challenge", async () => {
    const env = consentDepsWithFakes();
    const { started } = await begin(env, ['chrome.history', 'chrome.history', 'myactivity.search']);
    const url = new URL(started.redirectUrl);
    expect(url.searchParams.get('scope')).toBe(`${scopeOf('chrome.history')} ${scopeOf('myactivity.search')}`);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('records time-based groups and the grant expiry for a 30-day grant', async () => {
    const env = consentDepsWithFakes();
    const { started } = await begin(env, ['chrome.history']);
    const code = env.server.approve(started.state, [scopeOf('chrome.history')], 'DAYS_30');
    const done = await completeConsent(env.deps, { state: started.state, code, error: undefined, boundState: started.state });
    const consent = await env.consents.get(done.consentId!);
    expect(consent?.groups).toEqual([{ resource: 'chrome.history', accessType: 'TIME_BASED' }]);
    expect(consent?.expiresAt?.getTime()).toBe(env.clock.now().getTime() + 30 * 86_400_000);
  });

  it('refuses unknown groups and a return URL off the allow-list, naming each field', async () => {
    const env = consentDepsWithFakes();
    const error = await createConnectSession(env.deps, {
      appUserId: 'u1',
      resources: ['chrome.history', 'gmail.everything'],
      returnUrl: 'https://evil.example/connected',
      autoStart: false,
    }).catch((e: unknown) => e as AppError);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).violations.map((v) => v.field)).toEqual(['resources[1]', 'returnUrl']);
    expect(env.sessions.size()).toBe(0);
  });

  it('a connect link works once and not after it expires', async () => {
    const env = consentDepsWithFakes();
    const { token } = await begin(env, ['chrome.history']);
    await expect(startConsent(env.deps, token)).rejects.toMatchObject({ reason: 'SESSION_USED' });
    const late = await createConnectSession(env.deps, { appUserId: 'u1', resources: ['chrome.history'], returnUrl: RETURN_URL, autoStart: false });
    env.clock.advance(1801_000);
    await expect(startConsent(env.deps, late.connectUrl.split('/connect/')[1]!)).rejects.toMatchObject({ reason: 'SESSION_EXPIRED' });
    await expect(startConsent(env.deps, 'no-such-session')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses missing, unbound, unknown, reused and expired state before any token exchange', async () => {
    const env = consentDepsWithFakes();
    const { started } = await begin(env, ['chrome.history']);
    const code = env.server.approve(started.state, [scopeOf('chrome.history')]);
    const cases: [Parameters<typeof completeConsent>[1], string][] = [
      [{ state: undefined, code, error: undefined, boundState: started.state }, 'STATE_MISSING'],
      [{ state: started.state, code, error: undefined, boundState: undefined }, 'STATE_NOT_BOUND'],
      [{ state: started.state, code, error: undefined, boundState: 'x'.repeat(43) }, 'STATE_NOT_BOUND'],
      [{ state: 'f'.repeat(43), code, error: undefined, boundState: 'f'.repeat(43) }, 'STATE_UNKNOWN'],
    ];
    for (const [request, reason] of cases) {
      await expect(completeConsent(env.deps, request)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', reason });
    }
    expect(env.server.calls.token).toBe(0);
    await completeConsent(env.deps, { state: started.state, code, error: undefined, boundState: started.state });
    await expect(completeConsent(env.deps, { state: started.state, code, error: undefined, boundState: started.state })).rejects.toMatchObject({ reason: 'STATE_REUSED' });
    expect(env.server.calls.token).toBe(1);

    const second = await begin(env, ['chrome.history']);
    env.clock.advance(601_000);
    const lateCode = env.server.approve(second.started.state, [scopeOf('chrome.history')]);
    await expect(completeConsent(env.deps, { state: second.started.state, code: lateCode, error: undefined, boundState: second.started.state })).rejects.toMatchObject({
      reason: 'STATE_EXPIRED',
    });
    expect(env.server.calls.token).toBe(1);
    expect((await env.attempts.get((await import('../../../functions/core/consent/pkce.js')).hashState(second.started.state)))?.consumedAt).toBeNull();
  });

  it('replays of one callback exchange the code once and create one consent', async () => {
    const env = consentDepsWithFakes();
    const { started } = await begin(env, ['chrome.history']);
    const code = env.server.approve(started.state, [scopeOf('chrome.history')]);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => completeConsent(env.deps, { state: started.state, code, error: undefined, boundState: started.state })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(env.server.calls.token).toBe(1);
    expect(env.consents.size()).toBe(1);
  });

  it('a denial or an exchange without refresh token stores no token', async () => {
    const env = consentDepsWithFakes();
    const denied = await begin(env, ['chrome.history']);
    const d = await completeConsent(env.deps, { state: denied.started.state, code: undefined, error: 'access_denied', boundState: denied.started.state });
    expect(d.outcome).toBe('denied');
    env.server.omitRefreshToken = true;
    const noRefresh = await begin(env, ['chrome.history']);
    const code = env.server.approve(noRefresh.started.state, [scopeOf('chrome.history')]);
    const n = await completeConsent(env.deps, { state: noRefresh.started.state, code, error: undefined, boundState: noRefresh.started.state });
    expect(n).toMatchObject({ outcome: 'error', consentId: null });
    expect(new URL(n.redirectUrl).searchParams.get('reason')).toBe('no_refresh_token');
    expect(env.consents.size()).toBe(0);
    expect(env.server.calls.revoke).toBe(1);
  });
});

describe('access tokens and re-consent (core, on fakes)', () => {
  async function connected(duration: 'ONE_TIME' | 'DAYS_30' = 'ONE_TIME') {
    const env = consentDepsWithFakes();
    const { started } = await begin(env, ['chrome.history']);
    const code = env.server.approve(started.state, [scopeOf('chrome.history')], duration);
    const done = await completeConsent(env.deps, { state: started.state, code, error: undefined, boundState: started.state });
    return { env, id: done.consentId! };
  }

  it('caches the access token in memory and refreshes it from the sealed refresh token when it expires', async () => {
    const { env, id } = await connected();
    const first = await env.deps.tokens.get(id);
    expect(await env.deps.tokens.get(id)).toBe(first);
    expect(env.server.calls.refresh).toBe(0);
    env.clock.advance(3_600_000);
    const second = await env.deps.tokens.get(id);
    expect(second).not.toBe(first);
    expect(env.server.calls.refresh).toBe(1);
  });

  it('invalid_grant after expiry parks the consent as NEEDS_RECONSENT once, with one event, and never retries', async () => {
    const { env, id } = await connected('DAYS_30');
    env.clock.advance(31 * 86_400_000);
    const fresh = () => new AccessTokens({ clock: env.clock, consents: env.consents, vault: env.vault, oauth: env.server.provider, queue: env.queue });
    await expect(fresh().get(id)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'CONSENT_NEEDS_RECONSENT' });
    await expect(fresh().get(id)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'CONSENT_NEEDS_RECONSENT' });
    expect(env.server.calls.refresh).toBe(1);
    expect((await env.consents.get(id))?.status).toBe('NEEDS_RECONSENT');
    expect(env.queue.on('export-events').map((m) => (m.data as { type: string }).type)).toEqual(['consent.granted', 'consent.needs_reconsent']);
  });

  it('revoke resets upstream once, deletes the sealed token, audits without personal data, and is harmless twice', async () => {
    const { env, id } = await connected();
    const first = await revokeConsent(env.deps, id, 'backend@p.iam.gserviceaccount.com');
    const second = await revokeConsent(env.deps, id, 'backend@p.iam.gserviceaccount.com');
    expect(first.state).toBe('REVOKED');
    expect(second).toEqual(first);
    expect(env.server.calls.reset).toBe(1);
    expect((await env.consents.get(id))?.token).toBeNull();
    const audit = await env.audit.list({ pageSize: 10 });
    expect(audit.items).toHaveLength(1);
    expect(JSON.stringify(audit.items)).not.toContain('u1');
    expect(env.queue.on('export-events').filter((m) => (m.data as { type: string }).type === 'consent.revoked')).toHaveLength(1);
  });
});
