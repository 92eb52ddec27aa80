import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notYet, waitUntil } from '../fixtures/wait.js';
import { approveWithoutCallback, confirmConnect, connectViaAutomation, newConnectSession, startE2EStack, type E2EStack } from './stack.js';

/**
 * Issue 4 end to end on the local stack: an authenticated connect-session request, the browser
 * hops (connect URL → consent at the sandbox → callback), and the resulting consent.
 */
interface ConsentJson {
  name: string;
  appUserId: string;
  state: string;
  resources: { resource: string; accessType: string }[];
  grantTime: string;
  expireTime?: string;
}
interface ConsentList {
  consents: ConsentJson[];
  nextPageToken?: string;
}

let stack: E2EStack;
beforeAll(async () => {
  stack = await startE2EStack('connect', undefined, { sweepIntervalMs: 1_000 });
});
afterAll(async () => {
  await stack?.stop();
});

async function newSession(resources: string[], appUserId = 'user-1') {
  const res = await stack.api('/v1/connectSessions', { body: { appUserId, resources, returnUrl: stack.info.returnUrls[0] } });
  expect(res.status).toBe(200);
  return (await res.json()) as { name: string; connectUrl: string; expireTime: string };
}

/** Every document of every collection of this project, as JSON text. */
async function allDocuments(): Promise<string> {
  const texts: string[] = [];
  for (const collection of await stack.firestore.listCollections()) {
    const snap = await collection.get();
    for (const doc of snap.docs) texts.push(JSON.stringify({ path: doc.ref.path, data: doc.data() }));
  }
  return texts.join('\n');
}

describe('connect (OAuth consent) on the local stack', () => {
  it('grants every requested group and records their access types', async () => {
    const session = await newSession(['myactivity.search', 'chrome.history']);
    expect(session.connectUrl).toMatch(new RegExp(`^${stack.info.functions['oauth']!.url}/connect/[A-Za-z0-9_-]{43}$`));
    const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME' });
    expect(flow.startStatus).toBe(302);
    expect(flow.callback.status).toBe(302);
    expect(flow.callback.headers.get('referrer-policy')).toBe('no-referrer');
    expect(flow.location.startsWith(stack.info.returnUrls[0]!)).toBe(true);
    expect(flow.query['outcome']).toBe('granted');
    const consent = (await (await stack.api(`/v1/${flow.query['consent']}`)).json()) as ConsentJson;
    expect(consent).toMatchObject({
      name: flow.query['consent'],
      appUserId: 'user-1',
      state: 'ACTIVE',
      resources: [
        { resource: 'myactivity.search', accessType: 'ONE_TIME' },
        { resource: 'chrome.history', accessType: 'ONE_TIME' },
      ],
    });
    expect(consent.expireTime).toBeUndefined();
  });

  it('records a partial, time-based grant with its expiry', async () => {
    const session = await newSession(['myactivity.search', 'chrome.history', 'youtube.subscriptions'], 'user-2');
    const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'DAYS_30', resources: ['chrome.history'] });
    expect(flow.query['outcome']).toBe('partial');
    const consent = (await (await stack.api(`/v1/${flow.query['consent']}`)).json()) as ConsentJson;
    expect(consent.resources).toEqual([{ resource: 'chrome.history', accessType: 'TIME_BASED' }]);
    const days = (Date.parse(consent.expireTime ?? '') - Date.parse(consent.grantTime)) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);
  });

  it('a denied consent stores no consent and tells the application', async () => {
    const session = await newSession(['chrome.history'], 'user-3');
    const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME', deny: true });
    expect(flow.query).toEqual({ outcome: 'denied', reason: 'access_denied' });
    const list = (await (await stack.api('/v1/consents?appUserId=user-3')).json()) as ConsentList;
    expect(list.consents).toEqual([]);
  });

  it("lists a user's consents page by page", async () => {
    for (let i = 0; i < 3; i++) {
      const session = await newSession(['chrome.history'], 'user-pages');
      await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME' });
    }
    const first = (await (await stack.api('/v1/consents?appUserId=user-pages&pageSize=2')).json()) as ConsentList;
    expect(first.consents).toHaveLength(2);
    const second = (await (await stack.api(`/v1/consents?appUserId=user-pages&pageSize=2&pageToken=${first.nextPageToken}`)).json()) as ConsentList;
    expect(second.consents).toHaveLength(1);
    expect(second.nextPageToken).toBeUndefined();
    expect(new Set([...first.consents, ...second.consents].map((c) => c.name)).size).toBe(3);
  });

  it('stores refresh tokens only as ciphertext: no token, code or verifier in any document or log', async () => {
    const text = await allDocuments();
    expect(text.length).toBeGreaterThan(0);
    expect(text).toContain('ciphertext');
    // Every token and code the sandbox issues carries one of these prefixes.
    for (const marker of ['1//sandbox-', 'ya29.sandbox-', '4/0sandbox-']) expect(text).not.toContain(marker);
    const logs = readdirSync(stack.info.logDir)
      .map((f) => readFileSync(join(stack.info.logDir, f), 'utf8'))
      .join('\n');
    expect(logs).toContain('consent flow finished');
    for (const marker of ['1//sandbox-', 'ya29.sandbox-', '4/0sandbox-', 'code_verifier', 'dp_oauth_state=']) expect(logs).not.toContain(marker);
  });

  it('revokes a consent: resets upstream, deletes the ciphertext, and a second revoke is harmless', async () => {
    const session = await newSession(['chrome.history'], 'user-revoke');
    const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME' });
    const name = flow.query['consent']!;
    await stack.sandbox('/sandbox/v1/calls', { method: 'DELETE' });
    const first = await stack.api(`/v1/${name}:revoke`, { body: {} });
    expect(first.status).toBe(200);
    expect(((await first.json()) as ConsentJson).state).toBe('REVOKED');
    const second = await stack.api(`/v1/${name}:revoke`, { method: 'POST' });
    expect(second.status).toBe(200);
    expect(((await second.json()) as ConsentJson).state).toBe('REVOKED');
    const calls = ((await (await stack.sandbox('/sandbox/v1/calls')).json()) as { calls: { path: string }[] }).calls;
    expect(calls.filter((c) => c.path === '/v1/authorization:reset')).toHaveLength(1);
    const doc = await stack.firestore.collection('consents').doc(name.split('/')[1]!).get();
    expect(doc.data()?.['token']).toBeNull();
    const audit = await stack.firestore.collection('audit').where('subject', '==', name).get();
    expect(audit.size).toBe(1);
    expect(JSON.stringify(audit.docs[0]!.data())).not.toContain('user-revoke');
  });
});

interface GoogleError {
  error: { code: number; status: string; details: { '@type': string; reason?: string; fieldViolations?: { field: string }[] }[] };
}
const reasonOf = (body: GoogleError) => body.error.details.find((d) => d.reason)?.reason;
const fieldsOf = (body: GoogleError) => body.error.details.flatMap((d) => (d.fieldViolations ?? []).map((v) => v.field));

async function exportsOf(consent: string): Promise<unknown[]> {
  const res = await stack.api(`/v1/exports?consent=${encodeURIComponent(consent)}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { exports: unknown[] }).exports;
}

describe('connect confirmation (issue 13 item 2) on the local stack', () => {
  it('the browser returns with a completion code; the consent waits PENDING_CONFIRMATION until the application confirms it, then is ACTIVE and auto-starts', async () => {
    const session = await newConnectSession(stack, 'confirm-user', ['chrome.history'], stack.info.returnUrls[0], { autoStart: true });
    const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME', confirm: false });
    expect(flow.query).toMatchObject({ outcome: 'granted', session: session.name });
    expect(flow.query['code']).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const name = flow.query['consent']!;
    expect((await getConsentJson(name)).state).toBe('PENDING_CONFIRMATION');
    // Not exportable, nothing auto-started, no code in any document.
    const refused = await stack.api('/v1/exports', { body: { consent: name } });
    expect(refused.status).toBe(400);
    expect(reasonOf((await refused.json()) as GoogleError)).toBe('CONSENT_PENDING_CONFIRMATION');
    expect(await exportsOf(name)).toEqual([]);
    expect(await allDocuments()).not.toContain(flow.query['code']);

    const wrong = await stack.api(`/v1/${session.name}:confirm`, { body: { code: 'A'.repeat(43) } });
    expect(wrong.status).toBe(400);
    expect(fieldsOf((await wrong.json()) as GoogleError)).toEqual(['code']);
    const confirmed = await confirmConnect(stack, flow.query);
    expect(confirmed).toMatchObject({ name, state: 'ACTIVE', exports: 'started' });
    expect((await getConsentJson(name)).state).toBe('ACTIVE');
    expect(await exportsOf(name)).toHaveLength(1);
    const reused = await stack.api(`/v1/${session.name}:confirm`, { body: { code: flow.query['code'] } });
    expect(reused.status).toBe(409);
    expect(fieldsOf((await reused.json()) as GoogleError)).toEqual(['code']);
    const logs = readdirSync(stack.info.logDir)
      .map((f) => readFileSync(join(stack.info.logDir, f), 'utf8'))
      .join('\n');
    expect(logs).not.toContain(flow.query['code']);
  });

  it('concurrent confirmations of one code → one 200, the others 409', async () => {
    const session = await newConnectSession(stack, 'confirm-race', ['chrome.history']);
    const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME', confirm: false });
    const statuses = await Promise.all(Array.from({ length: 10 }, () => stack.api(`/v1/${session.name}:confirm`, { body: { code: flow.query['code'] } }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(9);
  });

  it("a forwarded link completed in another browser (another Google account) never becomes an active consent: no export, and after the code's lifetime the grant is revoked upstream and nothing personal kept", async () => {
    // The sender's application creates the link; the recipient opens it in their own browser,
    // signs in with their own account and approves. Their browser returns with a code, but the
    // application confirms only for its logged-in user who created the session, so it never does.
    const session = await newConnectSession(stack, 'forwarding-sender', ['chrome.history', 'myactivity.search'], stack.info.returnUrls[0], { autoStart: true });
    const recipient = await approveWithoutCallback(stack, session.connectUrl, { duration: 'ONE_TIME', user: 'recipient@example.com' });
    const callback = await fetch(recipient.callbackUrl, { redirect: 'manual', headers: { Cookie: recipient.cookie } });
    expect(callback.status).toBe(302);
    const back = Object.fromEntries(new URL(callback.headers.get('location') ?? '').searchParams);
    expect(back['code']).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const name = back['consent']!;
    const id = name.split('/')[1]!;
    expect((await getConsentJson(name)).state).toBe('PENDING_CONFIRMATION');
    expect((await stack.api('/v1/exports', { body: { consent: name } })).status).toBe(400);
    expect(await exportsOf(name)).toEqual([]);
    const active = (await (await stack.api('/v1/consents?appUserId=forwarding-sender')).json()) as ConsentList;
    expect(active.consents.filter((c) => c.state === 'ACTIVE')).toEqual([]);

    // The code's lifetime ends (moved forward here rather than waited for): the poll sweep expires it.
    // (The earlier tests' exports share this stack: their initiates are made before the call log is
    // cleared, so every initiate after it would be this consent's.)
    await waitUntil(
      async () => {
        // Every state before the upstream initiate: queued, backing off, or being started.
        const unstarted = (await stack.firestore.collection('jobs').where('state', 'in', ['PENDING', 'WAITING', 'STARTING']).count().get()).data().count;
        return unstarted === 0 ? true : notYet({ unstarted });
      },
      { what: "the other tests' exports to be started upstream", timeoutMs: 60_000 },
    );
    await stack.clearCalls();
    const past = new Date(Date.now() - 1_000);
    await stack.firestore.collection('consents').doc(id).update({ confirmBy: past });
    await stack.firestore.collection('connectSessions').doc(session.name.split('/')[1]!).update({ codeExpiresAt: past });
    const expired = await waitUntil(
      async () => {
        const c = await getConsentJson(name);
        return c.state === 'EXPIRED' ? c : notYet(c.state);
      },
      { what: 'the unconfirmed consent to expire', timeoutMs: 30_000 },
    );
    expect(expired).toMatchObject({ appUserId: '', detail: 'not confirmed by the application in time' });
    const revocations = await waitUntil(
      async () => {
        const calls = (await stack.calls()).filter((c) => c.path === '/revoke');
        return calls.length > 0 ? calls : undefined;
      },
      { what: 'the upstream revocation', timeoutMs: 30_000 },
    );
    expect(revocations.map((c) => c.status)).toEqual([200]);
    expect((await stack.calls()).filter((c) => c.path === '/v1/authorization:reset')).toEqual([]);
    await waitUntil(
      async () => {
        const doc = (await stack.firestore.collection('consents').doc(id).get()).data() ?? {};
        return doc['token'] === null && doc['confirmBy'] === null ? true : notYet({ token: doc['token'] === null ? null : 'set', confirmBy: doc['confirmBy'] ?? null });
      },
      { what: 'the sealed token to be deleted', timeoutMs: 30_000 },
    );
    // A confirmation after that is refused, and nothing was ever exported.
    const late = await stack.api(`/v1/${session.name}:confirm`, { body: { code: back['code'] } });
    expect(late.status).toBe(400);
    expect(reasonOf((await late.json()) as GoogleError)).toBe('CODE_EXPIRED');
    expect(await exportsOf(name)).toEqual([]);
    expect((await stack.calls()).filter((c) => c.path === '/v1/portabilityArchive:initiate')).toEqual([]);
  });
});

async function getConsentJson(name: string): Promise<ConsentJson & { detail?: string }> {
  const res = await stack.api(`/v1/${name}`);
  expect(res.status).toBe(200);
  return (await res.json()) as ConsentJson & { detail?: string };
}
