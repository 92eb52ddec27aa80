import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FirestoreRecordStore } from '../../functions/adapters/firestore-record-store.js';
import { LocalKeyWrapper } from '../../functions/adapters/local-key-wrapper.js';
import { PubSubWorkQueue } from '../../functions/adapters/pubsub-work-queue.js';
import { AccessTokens } from '../../functions/core/consent/access-tokens.js';
import type { Consent } from '../../functions/core/consent/model.js';
import { isAppError } from '../../functions/core/errors.js';
import { systemClock } from '../../functions/core/ports/clock.js';
import type { Topic } from '../../functions/core/ports/work-queue.js';
import { TokenVault } from '../../functions/core/token-vault.js';
import { drainEvents, tapEvents } from './events.js';
import { connectViaAutomation, newConnectSession, startE2EStack, type E2EStack } from './stack.js';
import { sandboxOAuthProvider } from '../fixtures/sandbox-oauth.js';

/**
 * `invalid_grant` on refresh (an upstream reset, an expired time-based grant) parks the consent as
 * NEEDS_RECONSENT once, with one event, and is never retried. No export pipeline exists yet, so the
 * refresh path is driven through the real core AccessTokens with the real adapters, configured
 * like the served functions (same Firestore, Pub/Sub topic, OAuth client and token key).
 */
let stack: E2EStack;
const SUBSCRIPTION = 'tap';

beforeAll(async () => {
  stack = await startE2EStack('reconsent');
  await tapEvents(stack, SUBSCRIPTION);
});
afterAll(async () => {
  await stack?.stop();
});

/** A new AccessTokens instance (empty cache), wired as the composition root wires it. */
function freshAccessTokens(): AccessTokens {
  const oauth = sandboxOAuthProvider(stack.info.services.sandbox.url, {
    clientId: stack.info.oauthClient.clientId,
    clientSecret: stack.secrets.oauthClientSecret,
    redirectUri: stack.info.oauthClient.redirectUri,
  });
  const topicName = (t: Topic) => stack.info.topics[t].split('/').pop() ?? t;
  return new AccessTokens({
    clock: systemClock,
    consents: new FirestoreRecordStore<Consent>(stack.firestore, 'consents'),
    vault: new TokenVault(new LocalKeyWrapper(Buffer.from(stack.secrets.localTokenKey, 'base64'))),
    oauth,
    queue: new PubSubWorkQueue(stack.pubsub, topicName),
  });
}

async function tokenCalls(): Promise<number> {
  return (await stack.calls()).filter((c) => c.method === 'POST' && c.path === '/token').length;
}

async function connect(user: string, duration: 'ONE_TIME' | 'DAYS_30') {
  const session = await newConnectSession(stack, user, ['chrome.history']);
  const flow = await connectViaAutomation(stack, session.connectUrl, { duration, user: `${user}@example.com` });
  expect(flow.query['outcome']).toBe('granted');
  const name = flow.query['consent'] ?? '';
  expect(name).toMatch(/^consents\/[A-Za-z0-9]+$/);
  return { name, id: name.split('/')[1] ?? '' };
}

async function expectNeedsReconsent(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isAppError(error), `expected an AppError, got ${String(error)}`).toBe(true);
  if (!isAppError(error)) return;
  expect(error.code).toBe('FAILED_PRECONDITION');
  expect(error.reason).toBe('CONSENT_NEEDS_RECONSENT');
}

/** After the upstream grant died: one refusal, one state change, one event, then no more calls. */
async function expectParkedOnce(consent: { name: string; id: string }) {
  await drainEvents(stack, SUBSCRIPTION);
  await stack.clearCalls();
  await expectNeedsReconsent(freshAccessTokens().get(consent.id));
  // The single refresh attempt is the only token call; it was refused upstream.
  const first = (await stack.calls()).filter((c) => c.method === 'POST' && c.path === '/token');
  expect(first).toHaveLength(1);
  expect(first[0]?.status).toBe(400);

  const doc = await stack.firestore.collection('consents').doc(consent.id).get();
  expect(doc.data()?.['status']).toBe('NEEDS_RECONSENT');
  const shown = (await (await stack.api(`/v1/${consent.name}`)).json()) as { state: string };
  expect(shown.state).toBe('NEEDS_RECONSENT');

  const events = await drainEvents(stack, SUBSCRIPTION);
  expect(events.map((e) => e.attributes['type'])).toEqual(['consent.needs_reconsent']);
  expect(events[0]?.attributes['subject']).toBe(consent.name);
  expect(events[0]?.data).toMatchObject({ type: 'consent.needs_reconsent', subject: consent.name, data: { reason: 'invalid_grant' } });
  expect(JSON.stringify(events)).not.toMatch(/1\/\/sandbox-|ya29\.sandbox-/);

  // Never retried: a second worker (fresh instance, empty cache) is refused from the record alone.
  await stack.clearCalls();
  await expectNeedsReconsent(freshAccessTokens().get(consent.id));
  expect(await tokenCalls()).toBe(0);
  expect(await drainEvents(stack, SUBSCRIPTION)).toEqual([]);
  expect((await stack.firestore.collection('consents').doc(consent.id).get()).data()?.['status']).toBe('NEEDS_RECONSENT');
}

describe('invalid_grant → NEEDS_RECONSENT once, never retried', () => {
  it('after an upstream reset of a one-time grant', async () => {
    const consent = await connect('reset-user', 'ONE_TIME');
    const accessToken = await freshAccessTokens().get(consent.id);
    expect(accessToken).toMatch(/^ya29\.sandbox-/);
    const reset = await fetch(`${stack.info.services.sandbox.url}/v1/authorization:reset`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(reset.status).toBe(200);
    await expectParkedOnce(consent);
  });

  it('several workers hitting the dead grant at once → still one state change and one event', async () => {
    const consent = await connect('race-user', 'ONE_TIME');
    const accessToken = await freshAccessTokens().get(consent.id);
    const reset = await fetch(`${stack.info.services.sandbox.url}/v1/authorization:reset`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(reset.status).toBe(200);
    await drainEvents(stack, SUBSCRIPTION);
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => freshAccessTokens().get(consent.id)));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') await expectNeedsReconsent(Promise.reject(r.reason));
    }
    const events = await drainEvents(stack, SUBSCRIPTION);
    expect(events.filter((e) => e.attributes['subject'] === consent.name).map((e) => e.attributes['type'])).toEqual(['consent.needs_reconsent']);
    expect((await stack.firestore.collection('consents').doc(consent.id).get()).data()?.['status']).toBe('NEEDS_RECONSENT');
  });

  it('after a 30-day grant expires (sandbox clock moved 31 days on)', async () => {
    const consent = await connect('expiry-user', 'DAYS_30');
    // Still refreshable before the expiry: the control case.
    await stack.clearCalls();
    expect(await freshAccessTokens().get(consent.id)).toMatch(/^ya29\.sandbox-/);
    expect(await tokenCalls()).toBe(1);
    const advanced = await stack.sandbox('/sandbox/v1/clock:advance', { body: { seconds: 31 * 86_400 } });
    expect(advanced.status).toBe(200);
    await expectParkedOnce(consent);
  });
});
