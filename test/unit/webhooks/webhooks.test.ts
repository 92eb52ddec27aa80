import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LocalKeyWrapper } from '../../../functions/adapters/local-key-wrapper.js';
import { AppError } from '../../../functions/core/errors.js';
import { isPublicAddress } from '../../../functions/core/webhooks/addresses.js';
import { deliverWebhook, fanOutEvent, type WebhookEvent } from '../../../functions/core/webhooks/deliver.js';
import type { WebhookDeps } from '../../../functions/core/webhooks/deps.js';
import { DEFAULT_WEBHOOK_SETTINGS, type Webhook, type WebhookDelivery } from '../../../functions/core/webhooks/model.js';
import { deleteWebhook, getWebhook, listWebhooks, registerWebhook, rotateWebhookSecret } from '../../../functions/core/webhooks/manage.js';
import { verifyWebhookSignature } from '../../../functions/core/webhooks/signature.js';
import { TokenVault } from '../../../functions/core/token-vault.js';
import { ManualClock } from '../../fakes/fake-oauth.js';
import { FakeWebhookTransport } from '../../fakes/fake-webhook-transport.js';
import { MemoryRecordStore } from '../../fakes/memory-record-store.js';
import { MemoryWorkQueue } from '../../fakes/memory-work-queue.js';

function world(production = false) {
  const clock = new ManualClock();
  const webhooks = new MemoryRecordStore<Webhook>();
  const queue = new MemoryWorkQueue();
  const transport = new FakeWebhookTransport();
  const deps: WebhookDeps = {
    clock,
    webhooks,
    queue,
    vault: new TokenVault(new LocalKeyWrapper(randomBytes(32))),
    transport,
    settings: { ...DEFAULT_WEBHOOK_SETTINGS, requireHttps: production, publicAddressesOnly: production },
  };
  return { deps, clock, webhooks, queue, transport };
}

const delivered: WebhookEvent = {
  id: 'export.delivered/j1',
  type: 'export.delivered',
  subject: 'exports/j1',
  appUserId: 'u1',
  time: '2026-12-03T10:00:00.000Z',
  data: { manifest: 'm' },
};

/** The fan-out's delivery messages, as the delivery worker gets them. */
async function fanOut(w: ReturnType<typeof world>, event: WebhookEvent): Promise<WebhookDelivery[]> {
  const before = w.queue.on('webhook-delivery').length;
  await fanOutEvent(w.deps, event);
  return w.queue
    .on('webhook-delivery')
    .slice(before)
    .map((m) => m.data as WebhookDelivery);
}

async function violations(promise: Promise<unknown>): Promise<string[]> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error.violations.map((v) => `${v.field}: ${v.description}`);
}

describe('registering webhooks', () => {
  it('shows the signing secret once: the record holds it only sealed, list and get never show it', async () => {
    const w = world();
    const created = await registerWebhook(w.deps, { url: 'http://127.0.0.1:9000/hook', eventTypes: ['export.delivered', 'export.delivered'] });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(created.eventTypes).toEqual(['export.delivered']);
    const id = created.name.slice('webhooks/'.length);
    expect(JSON.stringify(await w.webhooks.get(id))).not.toContain(created.secret.slice(6));
    const listed = await listWebhooks(w.deps, { pageSize: 10 });
    expect(listed.webhooks.map((h) => h.name)).toEqual([created.name]);
    expect(JSON.stringify([listed, await getWebhook(w.deps, id)])).not.toContain(created.secret.slice(6));
    expect(JSON.stringify(listed)).not.toContain('secret"');
  });

  it('production: refuses http, the metadata server, private, loopback and mapped addresses, and names that resolve to them, naming url', async () => {
    const w = world(true);
    w.transport.hosts.set('internal.example.com', ['10.1.2.3']);
    w.transport.hosts.set('mixed.example.com', ['93.184.216.34', 'fd00::1']);
    w.transport.hosts.set('hooks.example.com', ['93.184.216.34', '2606:2800:220:1::1']);
    expect(await violations(registerWebhook(w.deps, { url: 'http://169.254.169.254/' }))).toEqual(['url: must be an https URL']);
    for (const url of [
      'https://169.254.169.254/latest/meta-data',
      'https://127.0.0.1/',
      'https://[::1]/',
      'https://[::ffff:169.254.169.254]/',
      'https://10.0.0.8/',
      'https://0x7f.1/',
    ]) {
      expect(await violations(registerWebhook(w.deps, { url })), url).toEqual(['url: must not point at a private, loopback, link-local or reserved address']);
    }
    expect((await violations(registerWebhook(w.deps, { url: 'https://internal.example.com/h' })))[0]).toMatch(/^url: names a host that resolves to a private/);
    expect((await violations(registerWebhook(w.deps, { url: 'https://mixed.example.com/h' })))[0]).toMatch(/^url: names a host that resolves to a private/);
    expect((await violations(registerWebhook(w.deps, { url: 'https://nowhere.example.com/h' })))[0]).toMatch(/^url: names a host that does not resolve/);
    expect((await listWebhooks(w.deps, { pageSize: 10 })).webhooks).toEqual([]);
    const ok = await registerWebhook(w.deps, { url: 'https://hooks.example.com/h' });
    expect(ok.name).toMatch(/^webhooks\/[0-9a-f]{32}$/);
  });

  it('development: reaches a local receiver over http', async () => {
    const w = world(false);
    await expect(registerWebhook(w.deps, { url: 'http://127.0.0.1:8080/' })).resolves.toMatchObject({ url: 'http://127.0.0.1:8080/' });
  });

  it('is limited in number, and a deleted webhook is gone (404 the second time)', async () => {
    const w = world();
    const deps = { ...w.deps, settings: { ...w.deps.settings, maxWebhooks: 2 } };
    const a = await registerWebhook(deps, { url: 'http://127.0.0.1:1/a' });
    await registerWebhook(deps, { url: 'http://127.0.0.1:1/b' });
    await expect(registerWebhook(deps, { url: 'http://127.0.0.1:1/c' })).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    const id = a.name.slice('webhooks/'.length);
    await expect(deleteWebhook(deps, id)).resolves.toEqual({});
    await expect(deleteWebhook(deps, id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(registerWebhook(deps, { url: 'http://127.0.0.1:1/c' })).resolves.toBeDefined();
  });
});

describe('delivering events', () => {
  it('fans out to the webhooks that take the event type, and signs each POST so that the receiver verifies it', async () => {
    const w = world();
    const all = await registerWebhook(w.deps, { url: 'http://127.0.0.1:1/all' });
    await registerWebhook(w.deps, { url: 'http://127.0.0.1:1/consents', eventTypes: ['consent.granted'] });
    const deliveries = await fanOut(w, delivered);
    expect(deliveries.map((d) => d.webhook)).toEqual([all.name.slice('webhooks/'.length)]);
    expect(await deliverWebhook(w.deps, deliveries[0]!)).toBe('DELIVERED');
    const [sent] = w.transport.sent;
    expect(sent?.url).toBe('http://127.0.0.1:1/all');
    expect(sent?.headers['Webhook-Id']).toBe('export.delivered/j1');
    expect(sent?.headers['Webhook-Timestamp']).toBe(String(Math.floor(w.clock.now().getTime() / 1000)));
    expect(sent?.headers['Webhook-Signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(JSON.parse(sent!.body)).toEqual(delivered);
    const check = (secret: string, body: string, now = w.clock.now()) =>
      verifyWebhookSignature({ secret, body, timestamp: sent!.headers['Webhook-Timestamp'], signature: sent!.headers['Webhook-Signature'], now });
    expect(check(all.secret, sent!.body)).toBe(true);
    expect(check(all.secret, sent!.body.replace('"m"', '"n"'))).toBe(false);
    expect(check(`whsec_${randomBytes(32).toString('base64url')}`, sent!.body)).toBe(false);
    expect(check(all.secret, sent!.body, new Date(w.clock.now().getTime() + 301_000))).toBe(false);
  });

  it('a failed attempt is retried (a transient error) until the window ends, then gives up for good; a refused address gives up at once', async () => {
    const w = world();
    await registerWebhook(w.deps, { url: 'http://127.0.0.1:1/h' });
    const [d] = await fanOut(w, delivered);
    w.transport.outcomes.push({ kind: 'answered', status: 500 }, { kind: 'answered', status: 302 }, { kind: 'failed', reason: 'no answer within 10000 ms' });
    for (const what of ['HTTP 500', 'HTTP 302', 'no answer within']) {
      const error = await deliverWebhook(w.deps, d!).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).retryable).toBe(true);
      expect((error as AppError).message).toContain(what);
    }
    w.clock.advance(DEFAULT_WEBHOOK_SETTINGS.giveUpAfterSeconds * 1000);
    w.transport.outcomes.push({ kind: 'answered', status: 503 });
    await expect(deliverWebhook(w.deps, d!)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'WEBHOOK_GAVE_UP' });
    expect(w.transport.sent).toHaveLength(4);

    const p = world(true);
    p.transport.hosts.set('hooks.example.com', ['93.184.216.34']);
    await registerWebhook(p.deps, { url: 'https://hooks.example.com/h' });
    const [pd] = await fanOut(p, delivered);
    p.transport.hosts.set('hooks.example.com', ['169.254.169.254']); // DNS rebinding after registration
    await expect(deliverWebhook(p.deps, pd!)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'WEBHOOK_ADDRESS_REFUSED' });
    expect(p.transport.sent).toEqual([]);
  });

  it('a rotated secret: both signatures during the grace period, then only the new one; the old secret stops verifying', async () => {
    const w = world();
    const created = await registerWebhook(w.deps, { url: 'http://127.0.0.1:1/h' });
    const id = created.name.slice('webhooks/'.length);
    const rotated = await rotateWebhookSecret(w.deps, id);
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.previousSecretExpireTime).toBe(new Date(w.clock.now().getTime() + 86_400_000).toISOString());
    const [d] = await fanOut(w, delivered);
    await deliverWebhook(w.deps, d!);
    const verify = (secret: string, n: number) => {
      const sent = w.transport.sent[n]!;
      return verifyWebhookSignature({ secret, body: sent.body, timestamp: sent.headers['Webhook-Timestamp'], signature: sent.headers['Webhook-Signature'], now: w.clock.now() });
    };
    expect(w.transport.sent[0]?.headers['Webhook-Signature']).toMatch(/^v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    expect([verify(rotated.secret, 0), verify(created.secret, 0)]).toEqual([true, true]);
    w.clock.advance(86_400_000);
    await deliverWebhook(w.deps, d!);
    expect([verify(rotated.secret, 1), verify(created.secret, 1)]).toEqual([true, false]);
    expect((await getWebhook(w.deps, id)).previousSecretExpireTime).toBeUndefined();
  });

  it('a delivery for a deleted webhook is dropped without a POST', async () => {
    const w = world();
    const created = await registerWebhook(w.deps, { url: 'http://127.0.0.1:1/h' });
    const [d] = await fanOut(w, delivered);
    await deleteWebhook(w.deps, created.name.slice('webhooks/'.length));
    expect(await deliverWebhook(w.deps, d!)).toBe('WEBHOOK_GONE');
    expect(w.transport.sent).toEqual([]);
  });
});

describe('isPublicAddress', () => {
  it.each([
    ['93.184.216.34', true],
    ['2606:2800:220:1::1', true],
    ['8.8.8.8', true],
    ['169.254.169.254', false],
    ['127.0.0.1', false],
    ['10.0.0.1', false],
    ['172.16.5.4', false],
    ['172.32.0.1', true],
    ['192.168.1.1', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['255.255.255.255', false],
    ['224.0.0.1', false],
    ['::1', false],
    ['::', false],
    ['fe80::1', false],
    ['fd12:3456::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:8.8.8.8', true],
    ['64:ff9b::a9fe:a9fe', false],
    ['ff02::1', false],
    ['metadata.google.internal', false],
  ])('%s → %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});
