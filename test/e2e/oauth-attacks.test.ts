import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPE_PREFIX } from '../../functions/core/resource-groups.js';
import { approveWithoutCallback, connectViaAutomation, newConnectSession, startE2EStack, type E2EStack } from './stack.js';

/**
 * Attacks on the consent flow over HTTP against the local stack (reliability page, scenarios 1, 2
 * and 4, plus caller authentication of the api function). Every refusal is checked for its side
 * effects: no token exchange at the sandbox and no document written.
 */
let stack: E2EStack;
let oauthUrl: string;
let returnUrl: string;
beforeAll(async () => {
  stack = await startE2EStack('oauth-attacks');
  oauthUrl = stack.info.functions['oauth']!.url;
  returnUrl = stack.info.returnUrls[0]!;
});
afterAll(async () => {
  await stack?.stop();
});

const sha256Hex = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

async function tokenExchanges(): Promise<number> {
  return (await stack.calls()).filter((c) => c.method === 'POST' && c.path === '/token').length;
}

/** Runs a request that must be refused; checks 4xx, no token exchange and no new consent. */
async function expectRefusedWithoutSideEffects(send: () => Promise<Response>): Promise<Response> {
  await stack.clearCalls();
  const consentsBefore = await stack.count('consents');
  const res = await send();
  expect(res.status, `expected a 4xx, got ${res.status}`).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('location')).toBeNull();
  expect(await tokenExchanges()).toBe(0);
  expect(await stack.count('consents')).toBe(consentsBefore);
  return res;
}

const callback = (callbackUrl: string, cookie?: string) => fetch(callbackUrl, { redirect: 'manual', ...(cookie === undefined ? {} : { headers: { Cookie: cookie } }) });

function withQuery(url: string, change: (q: URLSearchParams) => void): string {
  const u = new URL(url);
  change(u.searchParams);
  return u.href;
}

async function expectGoogleError(res: Response, code: number, status: string) {
  expect(res.status).toBe(code);
  expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  const body = (await res.json()) as { error: { code: number; status: string; message: string; details: unknown[] } };
  expect(body.error.code).toBe(code);
  expect(body.error.status).toBe(status);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(Array.isArray(body.error.details)).toBe(true);
  return body;
}

describe('CSRF: the callback refuses a state that is missing, forged, reused, expired or from another browser', () => {
  it('missing state → 4xx, no token exchange, no consent', async () => {
    const session = await newConnectSession(stack, 'csrf-missing', ['chrome.history']);
    const flow = await approveWithoutCallback(stack, session.connectUrl);
    await expectRefusedWithoutSideEffects(() =>
      callback(
        withQuery(flow.callbackUrl, (q) => q.delete('state')),
        flow.cookie,
      ),
    );
    // Also when the cookie is missing too (nothing to compare).
    await expectRefusedWithoutSideEffects(() => callback(withQuery(flow.callbackUrl, (q) => q.delete('state'))));
  });

  it('forged (random) state → 4xx, with or without a matching cookie', async () => {
    const session = await newConnectSession(stack, 'csrf-forged', ['chrome.history']);
    const flow = await approveWithoutCallback(stack, session.connectUrl);
    const forged = randomBytes(32).toString('base64url');
    const url = withQuery(flow.callbackUrl, (q) => q.set('state', forged));
    // The attacker controls both the link and (say, through a sibling subdomain) the cookie.
    await expectRefusedWithoutSideEffects(() => callback(url, `dp_oauth_state=${forged}`));
    await expectRefusedWithoutSideEffects(() => callback(url, flow.cookie));
    await expectRefusedWithoutSideEffects(() => callback(url));
  });

  it('reused state: a completed callback replayed → 4xx, no second exchange', async () => {
    const session = await newConnectSession(stack, 'csrf-reused', ['chrome.history']);
    const flow = await approveWithoutCallback(stack, session.connectUrl);
    const first = await callback(flow.callbackUrl, flow.cookie);
    expect(first.status).toBe(302);
    expect(new URL(first.headers.get('location') ?? '').searchParams.get('outcome')).toBe('granted');
    await expectRefusedWithoutSideEffects(() => callback(flow.callbackUrl, flow.cookie));
    // Same state with a fresh code from another approval of the same authorization URL.
    const again = await stack.sandbox('/sandbox/v1/consent', { body: { authorizeUrl: flow.authorizeUrl, grant: { duration: 'ONE_TIME' } } });
    expect(again.status).toBe(200);
    const { redirectUrl } = (await again.json()) as { redirectUrl: string };
    await expectRefusedWithoutSideEffects(() => callback(redirectUrl, flow.cookie));
  });

  it('expired state (attempt past its expiresAt) → 4xx, no token exchange', async () => {
    const session = await newConnectSession(stack, 'csrf-expired', ['chrome.history']);
    const flow = await approveWithoutCallback(stack, session.connectUrl);
    const attempt = stack.firestore.collection('oauthAttempts').doc(sha256Hex(flow.state));
    expect((await attempt.get()).exists).toBe(true);
    await attempt.update({ expiresAt: new Date(Date.now() - 1000) });
    const res = await expectRefusedWithoutSideEffects(() => callback(flow.callbackUrl, flow.cookie));
    expect(await res.text()).toMatch(/expired/i);
  });

  it('the state TTL is at most 10 minutes, in the cookie and in the stored attempt', async () => {
    const session = await newConnectSession(stack, 'csrf-ttl', ['chrome.history']);
    const start = await fetch(session.connectUrl, { redirect: 'manual' });
    const state = new URL(start.headers.get('location') ?? '').searchParams.get('state') ?? '';
    const maxAge = Number(/Max-Age=(\d+)/i.exec(start.headers.get('set-cookie') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(600);
    const data = (await stack.firestore.collection('oauthAttempts').doc(sha256Hex(state)).get()).data() ?? {};
    const ttlMs = data['expiresAt'].toDate().getTime() - data['createdAt'].toDate().getTime();
    expect(ttlMs).toBeGreaterThan(0);
    expect(ttlMs).toBeLessThanOrEqual(600_000);
  });

  it("other browser: a valid state without its cookie, or with another flow's cookie → 4xx; the right browser still completes", async () => {
    const victim = await approveWithoutCallback(stack, (await newConnectSession(stack, 'csrf-victim', ['chrome.history'])).connectUrl);
    const attacker = await approveWithoutCallback(stack, (await newConnectSession(stack, 'csrf-attacker', ['chrome.history'])).connectUrl);
    expect(victim.cookie).toMatch(/^dp_oauth_state=/);
    await expectRefusedWithoutSideEffects(() => callback(victim.callbackUrl));
    await expectRefusedWithoutSideEffects(() => callback(victim.callbackUrl, attacker.cookie));
    await expectRefusedWithoutSideEffects(() => callback(victim.callbackUrl, 'dp_oauth_state='));
    await expectRefusedWithoutSideEffects(() => callback(victim.callbackUrl, `${attacker.cookie}; ${victim.cookie}`));
    // The refusals consumed nothing: the victim's own browser completes its flow.
    await stack.clearCalls();
    const done = await callback(victim.callbackUrl, victim.cookie);
    expect(done.status).toBe(302);
    expect(new URL(done.headers.get('location') ?? '').searchParams.get('outcome')).toBe('granted');
    expect(await tokenExchanges()).toBe(1);
  });
});

describe('replay: one code+state sent 50 times at once', () => {
  it('→ exactly one token exchange and one consent; every other answer 4xx, never 5xx', async () => {
    const appUserId = 'replay-user';
    const session = await newConnectSession(stack, appUserId, ['chrome.history', 'myactivity.search']);
    const flow = await approveWithoutCallback(stack, session.connectUrl);
    await stack.clearCalls();
    const consentsBefore = await stack.count('consents');
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => callback(flow.callbackUrl, flow.cookie).then(async (r) => ({ status: r.status, location: r.headers.get('location') }))),
    );
    const statuses = answers.map((a) => a.status);
    expect(
      statuses.filter((s) => s >= 500),
      `statuses: ${statuses.join(',')}`,
    ).toEqual([]);
    const redirected = answers.filter((a) => a.status === 302);
    expect(redirected, `statuses: ${statuses.join(',')}`).toHaveLength(1);
    expect(new URL(redirected[0]!.location ?? '').searchParams.get('outcome')).toBe('granted');
    for (const s of statuses.filter((x) => x !== 302)) {
      expect(s).toBeGreaterThanOrEqual(400);
      expect(s).toBeLessThan(500);
    }
    expect(await tokenExchanges()).toBe(1);
    expect(await stack.count('consents')).toBe(consentsBefore + 1);
    const mine = await stack.firestore.collection('consents').where('appUserId', '==', appUserId).get();
    expect(mine.size).toBe(1);
  });
});

describe('connect link', () => {
  it('used twice → the second use is 4xx and starts no new attempt', async () => {
    const session = await newConnectSession(stack, 'link-twice', ['chrome.history']);
    const first = await fetch(session.connectUrl, { redirect: 'manual' });
    expect(first.status).toBe(302);
    const attemptsBefore = await stack.count('oauthAttempts');
    const second = await fetch(session.connectUrl, { redirect: 'manual' });
    expect(second.status).toBeGreaterThanOrEqual(400);
    expect(second.status).toBeLessThan(500);
    expect(second.headers.get('location')).toBeNull();
    expect(second.headers.get('set-cookie') ?? '').not.toMatch(/dp_oauth_state=[^;]/);
    expect(second.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await stack.count('oauthAttempts')).toBe(attemptsBefore);
  });

  it('an unknown session token → 404', async () => {
    const res = await fetch(`${oauthUrl}/connect/${randomBytes(32).toString('base64url')}`, { redirect: 'manual' });
    expect(res.status).toBe(404);
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('location')).toBeNull();
  });

  it('every answer of the oauth function carries Referrer-Policy: no-referrer', async () => {
    const session = await newConnectSession(stack, 'link-headers', ['chrome.history']);
    const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME' });
    expect(flow.callback.status).toBe(302);
    expect(flow.callback.headers.get('referrer-policy')).toBe('no-referrer');
    for (const path of ['/connect/x', '/oauth2/callback', '/oauth2/callback?state=x&code=y', '/nope', '/']) {
      const res = await fetch(`${oauthUrl}${path}`, { redirect: 'manual' });
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
    }
    const start = await fetch((await newConnectSession(stack, 'link-headers', ['chrome.history'])).connectUrl, { redirect: 'manual' });
    expect(start.status).toBe(302);
    expect(start.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it("the redirect asks for exactly the session's scopes: code flow, offline, consent prompt, PKCE S256; the cookie is HttpOnly, SameSite=Lax, Path=/oauth2/callback", async () => {
    const resources = ['chrome.history', 'myactivity.search', 'youtube.subscriptions'];
    const session = await newConnectSession(stack, 'link-shape', resources);
    const start = await fetch(session.connectUrl, { redirect: 'manual' });
    expect(start.status).toBe(302);
    const location = new URL(start.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(`${stack.info.services.sandbox.url}/o/oauth2/v2/auth`);
    const q = location.searchParams;
    const single = (name: string) => {
      expect(q.getAll(name), name).toHaveLength(1);
      return q.get(name) ?? '';
    };
    expect(single('scope').split(' ').sort()).toEqual(resources.map((r) => `${SCOPE_PREFIX}${r}`).sort());
    expect(single('response_type')).toBe('code');
    expect(single('access_type')).toBe('offline');
    expect(single('prompt')).toBe('consent');
    expect(single('code_challenge_method')).toBe('S256');
    expect(single('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(single('client_id')).toBe(stack.info.oauthClient.clientId);
    expect(single('redirect_uri')).toBe(stack.info.oauthClient.redirectUri);
    expect(q.has('include_granted_scopes')).toBe(false);
    expect(q.has('code_verifier')).toBe(false);
    const state = single('state');
    // ≥ 128 random bits: 43 base64url characters carry 256.
    expect(state).toMatch(/^[A-Za-z0-9_-]{22,}$/);

    const setCookie = start.headers.get('set-cookie') ?? '';
    const [pair = '', ...attributes] = setCookie.split(';').map((s) => s.trim());
    expect(pair).toBe(`dp_oauth_state=${state}`);
    const attrs = attributes.map((a) => a.toLowerCase());
    expect(attrs).toContain('httponly');
    expect(attrs).toContain('samesite=lax');
    expect(attrs).toContain('path=/oauth2/callback');
    expect(attrs.some((a) => a.startsWith('domain='))).toBe(false);
  });
});

describe('open redirect: hostile returnUrls are refused at POST /v1/connectSessions', () => {
  function corpus(allowed: string): string[] {
    const u = new URL(allowed);
    const hostPort = u.host; // 127.0.0.1:PORT
    const otherPort = `${u.hostname}:${Number(u.port) + 1}`;
    return [
      '//evil.example/connected',
      '///evil.example/connected',
      'https:evil.example',
      'https:/evil.example/connected',
      '\\\\evil.example',
      '\\\\evil.example\\connected',
      '/\\evil.example/connected',
      'https://evil.example/connected',
      'http://evil.example/connected',
      `https://${hostPort}/connected`,
      `http://${hostPort}@evil.example/connected`,
      `http://evil.example@${hostPort}/connected`,
      `http://user:pass@${hostPort}/connected`,
      `http://${hostPort}\\@evil.example/connected`,
      `http://${hostPort}%40evil.example/connected`,
      `http://evil.example%23@${hostPort}/connected`,
      `http://evil.example?@${hostPort}/connected`,
      `http://evil.example#@${hostPort}/connected`,
      'http%3A%2F%2Fevil.example%2Fconnected',
      '%2F%2Fevil.example%2Fconnected',
      `http%3A%2F%2F${hostPort}%2Fconnected`,
      `http://${hostPort}%2Fconnected`,
      `http://${hostPort}/connected%2F..%2F..%2Fevil.example`,
      `http://${hostPort}/%2F%2Fevil.example`,
      `http://${hostPort}/connected%0d%0aLocation:%20https://evil.example`,
      `http://${hostPort}/connected%0d%0aSet-Cookie:%20x=1`,
      `http://${hostPort}/connected\r\nLocation: https://evil.example`,
      `http://${hostPort}/connected?x=\r\nSet-Cookie: x=1`,
      `http://${hostPort}/connected\n`,
      `http://${hostPort}/conn\tected`,
      `http://${hostPort}%0d%0a.evil.example/connected`,
      ` ${allowed}`,
      'javascript:alert(1)',
      'JaVaScRiPt:alert(document.cookie)',
      `javascript://${hostPort}/connected%0aalert(1)`,
      'data:text/html,<script>alert(1)</script>',
      `data:text/html;base64,${Buffer.from('<script>alert(1)</script>').toString('base64')}`,
      'vbscript:msgbox(1)',
      `file:///etc/passwd`,
      `ftp://${hostPort}/connected`,
      `http://${otherPort}/connected`,
      `http://${u.hostname}/connected`,
      `http://localhost:${u.port}/connected`,
      `http://[::1]:${u.port}/connected`,
      `http://${hostPort}.evil.example/connected`,
      `http://${hostPort}/other`,
      `http://${hostPort}/connected/`,
      `http://${hostPort}/connected2`,
      `http://${hostPort}/Connected`,
      `http://${hostPort}/`,
      `http://${hostPort}`,
      `http://${hostPort}/connected/../evil.example`,
      `http://${hostPort}/connected/../../evil`,
      `http://${hostPort}/connected/..%2f..%2fevil.example`,
      `${allowed}#evil`,
      `${allowed}#@evil.example`,
      `${allowed}?next=x#https://evil.example`,
      '',
      'evil.example',
      `${allowed}${'a'.repeat(2100)}`,
    ];
  }

  it('every hostile URL → 400 with a BadRequest field violation on returnUrl, and no session written', async () => {
    const sessionsBefore = await stack.count('connectSessions');
    const failures: string[] = [];
    for (const hostile of corpus(returnUrl)) {
      const res = await stack.api('/v1/connectSessions', { body: { appUserId: 'redirect-user', resources: ['chrome.history'], returnUrl: hostile } });
      const text = await res.text();
      let fields: string[] = [];
      try {
        const body = JSON.parse(text) as { error?: { details?: { '@type'?: string; fieldViolations?: { field: string }[] }[] } };
        fields = (body.error?.details ?? [])
          .filter((d) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest')
          .flatMap((d) => (d.fieldViolations ?? []).map((v) => v.field));
      } catch {
        // Not JSON: reported below.
      }
      if (res.status !== 400 || !fields.includes('returnUrl')) failures.push(`${JSON.stringify(hostile)} → ${res.status} ${text.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
    expect(await stack.count('connectSessions')).toBe(sessionsBefore);
  });

  it('a returnUrl that is not a string → 400 naming returnUrl', async () => {
    for (const value of [42, null, ['x'], { href: returnUrl }, true]) {
      const res = await stack.api('/v1/connectSessions', { body: { appUserId: 'redirect-user', resources: ['chrome.history'], returnUrl: value } });
      const body = await expectGoogleError(res, 400, 'INVALID_ARGUMENT');
      expect(JSON.stringify(body.error.details), JSON.stringify(value)).toContain('"field":"returnUrl"');
    }
  });

  it('the allowed URL with its own query string is accepted, and the final redirect stays on it', async () => {
    const withQueryString = `${returnUrl}?tab=imports&ref=settings`;
    const session = await newConnectSession(stack, 'redirect-query', ['chrome.history'], withQueryString);
    const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME' });
    expect(flow.callback.status).toBe(302);
    const landed = new URL(flow.location);
    expect(`${landed.origin}${landed.pathname}`).toBe(returnUrl);
    expect(landed.searchParams.get('tab')).toBe('imports');
    expect(landed.searchParams.get('ref')).toBe('settings');
    expect(landed.searchParams.get('outcome')).toBe('granted');
  });
});

describe('caller authentication of the api function', () => {
  const body = () => ({ appUserId: 'auth-user', resources: ['chrome.history'], returnUrl });

  async function expectNoSideEffect(send: () => Promise<Response>, code: 401 | 403) {
    const before = await stack.count('connectSessions');
    const res = await send();
    await expectGoogleError(res, code, code === 401 ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED');
    expect(await stack.count('connectSessions')).toBe(before);
  }

  const post = (authorization: string | undefined) =>
    fetch(`${stack.info.functions['api']!.url}/v1/connectSessions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(authorization === undefined ? {} : { Authorization: authorization }) },
      body: JSON.stringify(body()),
    });

  it('the allowed caller is accepted (the control case)', async () => {
    const res = await post(`Bearer ${await stack.callerToken()}`);
    expect(res.status).toBe(200);
  });

  it('no Authorization header → 401', async () => {
    await expectNoSideEffect(() => post(undefined), 401);
  });

  it('malformed tokens → 401', async () => {
    const valid = await stack.callerToken();
    for (const header of [
      'Bearer',
      'Bearer ',
      'Bearer abc',
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      `bearer${valid}`,
      `Bearer ${valid} extra`,
      'Bearer a.b.c',
      `Token ${valid}`,
    ]) {
      await expectNoSideEffect(() => post(header), 401);
    }
  });

  it('a token minted for another audience → 401', async () => {
    const other = await stack.callerToken(stack.info.caller.email, 'https://other-service.example');
    await expectNoSideEffect(() => post(`Bearer ${other}`), 401);
  });

  it('a valid token of an email not on the allow-list → 403', async () => {
    const intruder = await stack.callerToken(`intruder@${stack.info.projectId}.iam.gserviceaccount.com`);
    await expectNoSideEffect(() => post(`Bearer ${intruder}`), 403);
  });

  it('an expired payload or a garbled signature → 401', async () => {
    const valid = await stack.callerToken();
    const [header = '', payload = '', signature = ''] = valid.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const expired = Buffer.from(JSON.stringify({ ...claims, iat: 1_600_000_000, exp: 1_600_003_600 })).toString('base64url');
    const otherEmail = Buffer.from(JSON.stringify({ ...claims, aud: 'https://other-service.example' })).toString('base64url');
    const flipped = (signature.startsWith('A') ? 'B' : 'A') + signature.slice(1);
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    for (const token of [
      `${header}.${expired}.${signature}`,
      `${header}.${otherEmail}.${signature}`,
      `${header}.${payload}.${flipped}`,
      `${header}.${payload}.${signature.slice(0, -8)}`,
      `${none}.${payload}.x`,
    ]) {
      await expectNoSideEffect(() => post(`Bearer ${token}`), 401);
    }
  });

  it('refused callers cannot read or revoke consents either', async () => {
    const intruder = await stack.callerToken(`intruder@${stack.info.projectId}.iam.gserviceaccount.com`);
    const session = await newConnectSession(stack, 'auth-target', ['chrome.history']);
    const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME' });
    const name = flow.query['consent'] ?? '';
    expect(name).toMatch(/^consents\//);
    await expectGoogleError(await stack.api(`/v1/${name}`, { token: null }), 401, 'UNAUTHENTICATED');
    await expectGoogleError(await stack.api('/v1/consents?appUserId=auth-target', { token: intruder }), 403, 'PERMISSION_DENIED');
    await stack.clearCalls();
    await expectGoogleError(await stack.api(`/v1/${name}:revoke`, { body: {}, token: intruder }), 403, 'PERMISSION_DENIED');
    expect((await stack.calls()).filter((c) => c.path === '/v1/authorization:reset')).toHaveLength(0);
    const still = (await (await stack.api(`/v1/${name}`)).json()) as { state: string };
    expect(still.state).toBe('ACTIVE');
  });

  it('refused callers cannot confirm a completion code: the consent stays PENDING_CONFIRMATION', async () => {
    const intruder = await stack.callerToken(`intruder@${stack.info.projectId}.iam.gserviceaccount.com`);
    const session = await newConnectSession(stack, 'auth-confirm', ['chrome.history']);
    const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME', confirm: false });
    const path = `/v1/${flow.query['session']}:confirm`;
    await expectGoogleError(await stack.api(path, { body: { code: flow.query['code'] }, token: null }), 401, 'UNAUTHENTICATED');
    await expectGoogleError(await stack.api(path, { body: { code: flow.query['code'] }, token: intruder }), 403, 'PERMISSION_DENIED');
    const pending = (await (await stack.api(`/v1/${flow.query['consent']}`)).json()) as { state: string };
    expect(pending.state).toBe('PENDING_CONFIRMATION');
  });
});
