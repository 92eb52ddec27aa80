import { describe, expect, it } from 'vitest';
import { confirmConnectSession, hashCode } from '../../../functions/core/consent/confirm.js';
import { completeConsent, createConnectSession, startConsent } from '../../../functions/core/consent/connect.js';
import { getConsent, revokeConsent } from '../../../functions/core/consent/consents.js';
import { UNCONFIRMED_DETAIL, type ConfirmationMode } from '../../../functions/core/consent/model.js';
import { hashState } from '../../../functions/core/consent/pkce.js';
import { AppError } from '../../../functions/core/errors.js';
import { completeConsentAndStart, confirmAndStart } from '../../../functions/core/exports/auto-start.js';
import { requestExports } from '../../../functions/core/exports/request.js';
import { sweep } from '../../../functions/core/exports/sweep.js';
import type { WorkQueue } from '../../../functions/core/ports/work-queue.js';
import { scopeOf } from '../../../functions/core/resource-groups.js';
import { recordUndeliverable, type UndeliverableMessage } from '../../../functions/core/undeliverable.js';
import { consentDepsWithFakes, RETURN_URL } from '../../fakes/consent-deps.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';
import { MemoryRecordStore } from '../../fakes/memory-record-store.js';

/** Consent and export use cases on one set of fakes (one consent store, one queue, one clock). */
async function world() {
  const consent = consentDepsWithFakes();
  const exports = await exportDepsWithFakes();
  const exportDeps = { ...exports.deps, clock: consent.clock, consents: consent.consents, queue: consent.queue, vault: consent.vault, oauth: consent.server.provider };
  const deps = { consent: consent.deps, exports: () => exportDeps };
  return { ...consent, exportDeps, deps, jobs: exports.jobs };
}
type World = Awaited<ReturnType<typeof world>>;

/** A user connects through the callback; returns the redirect's query and the session id. */
async function connect(w: World, options: { autoStart?: boolean; confirmation?: ConfirmationMode; appUserId?: string } = {}) {
  const session = await createConnectSession(w.deps.consent, {
    appUserId: options.appUserId ?? 'u1',
    resources: ['chrome.history', 'myactivity.search'],
    returnUrl: RETURN_URL,
    autoStart: options.autoStart ?? false,
    ...(options.confirmation ? { confirmation: options.confirmation } : {}),
  });
  const started = await startConsent(w.deps.consent, session.connectUrl.split('/connect/')[1]!);
  const code = w.server.approve(started.state, [scopeOf('chrome.history'), scopeOf('myactivity.search')]);
  const done = await completeConsentAndStart(w.deps, { state: started.state, code, error: undefined, boundState: started.state });
  const url = new URL(done.redirectUrl);
  const query = Object.fromEntries(url.searchParams);
  return { done, url, query, sessionId: session.name.split('/')[1]!, consentId: done.consentId!, state: started.state };
}

const events = (w: World, type?: string) => w.queue.on('export-events').filter((m) => !type || (m.data as { type: string }).type === type);

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('connect confirmation (issue 13 item 2), on fakes', () => {
  it('by default the callback leaves the consent PENDING_CONFIRMATION: no event, no export, and the browser returns with the session and a completion code', async () => {
    const w = await world();
    const { query, consentId, sessionId } = await connect(w, { autoStart: true });
    expect(query['outcome']).toBe('granted');
    expect(query['consent']).toBe(`consents/${consentId}`);
    expect(query['session']).toBe(`connectSessions/${sessionId}`);
    expect(query['code']).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 random bits
    expect(query['exports']).toBeUndefined();
    expect((await w.consents.get(consentId))?.status).toBe('PENDING_CONFIRMATION');
    expect(events(w)).toEqual([]);
    expect(w.jobs.size()).toBe(0);
    await expect(requestExports(w.exportDeps, { consentId, slot: 'api' })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'CONSENT_PENDING_CONFIRMATION' });
    // Only the code's hash is stored, and it lives a few minutes.
    const session = await w.sessions.get(sessionId);
    expect(session?.codeHash).toBe(hashCode(query['code']!));
    expect(JSON.stringify(w.sessions.all())).not.toContain(query['code']);
    expect(session!.codeExpiresAt!.getTime() - w.clock.now().getTime()).toBe(300_000);
  });

  it('confirming with the code activates the consent once: consent.granted is published then, and the auto-start runs then', async () => {
    const w = await world();
    const { query, consentId, sessionId } = await connect(w, { autoStart: true });
    w.clock.advance(30_000);
    const confirmed = await confirmAndStart(w.deps, sessionId, query['code']!);
    expect(confirmed).toMatchObject({ name: `consents/${consentId}`, state: 'ACTIVE', appUserId: 'u1', exports: 'started' });
    expect(events(w, 'consent.granted')).toHaveLength(1);
    expect(
      w.jobs
        .all()
        .map((j) => j.value.resource)
        .sort(),
    ).toEqual(['chrome.history', 'myactivity.search']);
    const consent = await w.consents.get(consentId);
    expect(consent).toMatchObject({ status: 'ACTIVE', confirmBy: null, followUp: null, followUpAt: null });
    expect(await w.sessions.get(sessionId)).toMatchObject({ status: 'CONFIRMED', codeHash: null });
    // The code is single-use.
    const again = await refusal(confirmAndStart(w.deps, sessionId, query['code']!));
    expect(again).toMatchObject({ code: 'ALREADY_EXISTS', reason: 'CODE_USED' });
    expect(again.violations.map((v) => v.field)).toEqual(['code']);
    expect(events(w, 'consent.granted')).toHaveLength(1);
  });

  it('a wrong, or an expired code is refused naming `code`, and changes nothing', async () => {
    const w = await world();
    const { query, consentId, sessionId } = await connect(w);
    const wrong = await refusal(confirmConnectSession(w.deps.consent, sessionId, 'A'.repeat(43)));
    expect(wrong).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'CODE_INVALID' });
    expect(wrong.violations.map((v) => v.field)).toEqual(['code']);
    // A code of another session does not confirm this one.
    const other = await connect(w, { appUserId: 'u2' });
    await expect(confirmConnectSession(w.deps.consent, sessionId, other.query['code']!)).rejects.toMatchObject({ reason: 'CODE_INVALID' });
    await expect(confirmConnectSession(w.deps.consent, 'f'.repeat(64), query['code']!)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    w.clock.advance(300_000);
    const late = await refusal(confirmConnectSession(w.deps.consent, sessionId, query['code']!));
    expect(late).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'CODE_EXPIRED' });
    expect(late.violations.map((v) => v.field)).toEqual(['code']);
    expect((await w.consents.get(consentId))?.status).toBe('PENDING_CONFIRMATION');
    expect(events(w)).toEqual([]);
  });

  it('20 concurrent confirmations → one activation, one event, one set of jobs; the others 409', async () => {
    const w = await world();
    const { query, sessionId } = await connect(w, { autoStart: true });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => confirmAndStart(w.deps, sessionId, query['code']!)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'ALREADY_EXISTS', reason: 'CODE_USED' });
    expect(events(w, 'consent.granted')).toHaveLength(1);
    expect(w.jobs.size()).toBe(2);
  });

  it('an unconfirmed consent expires in the sweep after the code lifetime: grant revoked upstream, token deleted, nothing personal kept; a late confirm fails', async () => {
    const w = await world();
    const { query, consentId, sessionId } = await connect(w, { autoStart: true });
    w.clock.advance(299_000);
    await sweep(w.exportDeps);
    expect((await w.consents.get(consentId))?.status).toBe('PENDING_CONFIRMATION');
    expect(w.server.calls.revoke).toBe(0);
    w.clock.advance(1_000);
    await sweep(w.exportDeps);
    const consent = await w.consents.get(consentId);
    expect(consent).toMatchObject({ status: 'EXPIRED', detail: UNCONFIRMED_DETAIL, appUserId: '', token: null, confirmBy: null, followUp: null });
    expect(w.server.calls.revoke).toBe(1);
    // The grant is dead upstream: its refresh token no longer works.
    await expect(w.deps.consent.tokens.get(consentId)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(confirmConnectSession(w.deps.consent, sessionId, query['code']!)).rejects.toMatchObject({ reason: 'CODE_EXPIRED' });
    expect(events(w)).toEqual([]);
    expect(w.jobs.size()).toBe(0);
    expect((await getConsent(w.deps.consent, consentId)).state).toBe('EXPIRED');
    // A second sweep has nothing left to do.
    await sweep(w.exportDeps);
    expect(w.server.calls.revoke).toBe(1);
  });

  it('an upstream revocation that fails during expiry is finished by the next sweep (the consent is already EXPIRED, a late confirm fails)', async () => {
    const w = await world();
    const { query, consentId, sessionId } = await connect(w);
    let fail = true;
    const flaky = {
      ...w.server.provider,
      revoke: async (token: string) => {
        if (fail) throw new AppError('UNAVAILABLE', 'token server unavailable');
        return w.server.provider.revoke(token);
      },
    };
    w.clock.advance(300_000);
    await expect(sweep({ ...w.exportDeps, oauth: flaky })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const half = await w.consents.get(consentId);
    expect(half).toMatchObject({ status: 'EXPIRED', appUserId: '' });
    expect(half?.token).not.toBeNull();
    await expect(confirmConnectSession(w.deps.consent, sessionId, query['code']!)).rejects.toMatchObject({ reason: 'CODE_EXPIRED' });
    fail = false;
    await sweep({ ...w.exportDeps, oauth: flaky });
    expect(await w.consents.get(consentId)).toMatchObject({ status: 'EXPIRED', token: null, confirmBy: null });
    expect(w.server.calls.revoke).toBe(1);
  });

  it('revoking a pending consent revokes its grant only (no authorization reset) and deletes the token', async () => {
    const w = await world();
    const { consentId } = await connect(w);
    const revoked = await revokeConsent(w.deps.consent, consentId, 'app@p.iam.gserviceaccount.com');
    expect(revoked.state).toBe('REVOKED');
    expect(w.server.calls.revoke).toBe(1);
    expect(w.server.calls.reset).toBe(0);
    expect(await w.consents.get(consentId)).toMatchObject({ token: null, confirmBy: null });
  });

  it("confirmation NONE keeps today's behaviour: ACTIVE at once, consent.granted at the callback, no code in the redirect; confirm is refused", async () => {
    const w = await world();
    const { query, consentId, sessionId } = await connect(w, { confirmation: 'NONE' });
    expect(Object.keys(query).sort()).toEqual(['consent', 'outcome']);
    expect((await w.consents.get(consentId))?.status).toBe('ACTIVE');
    expect(events(w, 'consent.granted')).toHaveLength(1);
    await expect(confirmConnectSession(w.deps.consent, sessionId, 'A'.repeat(43))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'CONFIRMATION_NOT_REQUIRED' });
  });

  it('a denied flow issues no code', async () => {
    const w = await world();
    const session = await createConnectSession(w.deps.consent, { appUserId: 'u1', resources: ['chrome.history'], returnUrl: RETURN_URL, autoStart: false });
    const started = await startConsent(w.deps.consent, session.connectUrl.split('/connect/')[1]!);
    const done = await completeConsent(w.deps.consent, { state: started.state, code: undefined, error: 'access_denied', boundState: started.state });
    expect(Object.fromEntries(new URL(done.redirectUrl).searchParams)).toEqual({ outcome: 'denied', reason: 'access_denied' });
    await expect(confirmConnectSession(w.deps.consent, session.name.split('/')[1]!, 'A'.repeat(43))).rejects.toMatchObject({ reason: 'CODE_NOT_ISSUED' });
  });
});

describe('a failed auto-start after a successful consent (issue 13 item 14), on fakes', () => {
  const failing: WorkQueue = {
    publish: async () => {
      throw new AppError('UNAVAILABLE', 'Pub/Sub is unavailable');
    },
  };

  it('the callback returns to returnUrl with exports=deferred, and the sweep starts the exports', async () => {
    const w = await world();
    const broken = { ...w.deps, exports: () => ({ ...w.exportDeps, queue: failing }) };
    const session = await createConnectSession(w.deps.consent, { appUserId: 'u1', resources: ['chrome.history'], returnUrl: RETURN_URL, autoStart: true, confirmation: 'NONE' });
    const started = await startConsent(w.deps.consent, session.connectUrl.split('/connect/')[1]!);
    const code = w.server.approve(started.state, [scopeOf('chrome.history')]);
    const done = await completeConsentAndStart(broken, { state: started.state, code, error: undefined, boundState: started.state });
    const url = new URL(done.redirectUrl);
    expect(`${url.origin}${url.pathname}`).toBe(RETURN_URL);
    expect(Object.fromEntries(url.searchParams)).toEqual({ outcome: 'granted', consent: `consents/${done.consentId}`, exports: 'deferred' });
    expect(done.started).toBe(false);
    const consent = await w.consents.get(done.consentId!);
    expect(consent).toMatchObject({ status: 'ACTIVE', followUp: { announce: false, startExports: true } });
    expect(w.queue.on('export-requested')).toHaveLength(0);
    // The sweep leaves the follow-up to the callback for a grace period, then starts the exports once.
    await sweep(w.exportDeps);
    expect(w.queue.on('export-requested')).toHaveLength(0);
    w.clock.advance(60_000);
    await sweep(w.exportDeps);
    expect(w.jobs.all().map((j) => j.value.resource)).toEqual(['chrome.history']);
    expect(w.queue.on('export-requested')).toHaveLength(1);
    expect(await w.consents.get(done.consentId!)).toMatchObject({ followUp: null, followUpAt: null });
    await sweep(w.exportDeps);
    expect(w.queue.on('export-requested')).toHaveLength(1);
  });

  it('a failed consent.granted publish fails neither the callback nor the confirmation: the sweep publishes it once', async () => {
    const w = await world();
    const down = { ...w.deps, consent: { ...w.deps.consent, queue: failing } };
    const session = await createConnectSession(w.deps.consent, { appUserId: 'u1', resources: ['chrome.history'], returnUrl: RETURN_URL, autoStart: false, confirmation: 'NONE' });
    const started = await startConsent(w.deps.consent, session.connectUrl.split('/connect/')[1]!);
    const code = w.server.approve(started.state, [scopeOf('chrome.history')]);
    const done = await completeConsentAndStart(down, { state: started.state, code, error: undefined, boundState: started.state });
    expect(done.outcome).toBe('granted');
    const pending = await connect(w);
    expect(await confirmAndStart(down, pending.sessionId, pending.query['code']!)).toMatchObject({ state: 'ACTIVE' });
    expect(events(w, 'consent.granted')).toHaveLength(0);
    w.clock.advance(60_000);
    await sweep(w.exportDeps);
    expect(
      events(w, 'consent.granted')
        .map((m) => (m.data as { subject: string }).subject)
        .sort(),
    ).toEqual([`consents/${done.consentId}`, `consents/${pending.consentId}`].sort());
    await sweep(w.exportDeps);
    expect(events(w, 'consent.granted')).toHaveLength(2);
  });

  it('the same after a confirmation: the confirm answers ACTIVE with exports deferred, the sweep starts them', async () => {
    const w = await world();
    const { query, sessionId, consentId } = await connect(w, { autoStart: true });
    const broken = { ...w.deps, exports: () => ({ ...w.exportDeps, queue: failing }) };
    const confirmed = await confirmAndStart(broken, sessionId, query['code']!);
    expect(confirmed).toMatchObject({ state: 'ACTIVE', exports: 'deferred' });
    w.clock.advance(60_000);
    await sweep(w.exportDeps);
    expect(w.jobs.size()).toBe(2);
    expect(await w.consents.get(consentId)).toMatchObject({ followUp: null });
  });
});

describe('TTL fields (issue 13 item 17)', () => {
  it('sessions and attempts carry expireAt some days after they expire; undeliverable records 30 days after they were recorded', async () => {
    const w = await world();
    const { sessionId, state } = await connect(w);
    const session = await w.sessions.get(sessionId);
    const attempt = await w.attempts.get(hashState(state));
    const day = 86_400_000;
    expect(session?.expireAt?.getTime()).toBe(session!.codeExpiresAt!.getTime() + 7 * day);
    expect(attempt?.expireAt?.getTime()).toBe(attempt!.expiresAt.getTime() + 7 * day);
    const fresh = await createConnectSession(w.deps.consent, { appUserId: 'u1', resources: ['chrome.history'], returnUrl: RETURN_URL, autoStart: false });
    const unused = await w.sessions.get(fresh.name.split('/')[1]!);
    expect(unused?.expireAt?.getTime()).toBe(unused!.expiresAt.getTime() + 7 * day);

    const undeliverable = new MemoryRecordStore<UndeliverableMessage>();
    await recordUndeliverable(
      { undeliverable, clock: w.clock },
      { messageId: 'm1', publishTime: null, attributes: {}, data: Buffer.from('{}') },
      { kind: 'REJECTED', source: 'initiate', errorCode: 'INVALID_ARGUMENT', errorMessage: 'bad', violations: [] },
    );
    const [record] = undeliverable.all();
    expect(record?.value.expireAt?.getTime()).toBe(w.clock.now().getTime() + 30 * day);
  });
});
