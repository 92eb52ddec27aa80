import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalKeyWrapper } from '../../../functions/adapters/local-key-wrapper.js';
import type { RecordStore } from '../../../functions/core/ports/record-store.js';
import { api } from '../../../functions/entrypoints/api.js';
import { forwardFrameworkRefusals } from '../../../functions/platform/framework-errors.js';
import { createRuntime } from '../../../functions/platform/runtime.js';
import { FakeWebhookTransport } from '../../fakes/fake-webhook-transport.js';
import { MemoryRecordStore } from '../../fakes/memory-record-store.js';
import { productionEnv } from '../../fixtures/env.js';

/**
 * The webhook routes of the api function in production mode, through the Functions Framework: the
 * URL policy refuses the metadata server (and any private address) with a Google-style 400 naming
 * `url`, and nothing is stored.
 */
const stores = new Map<string, MemoryRecordStore<unknown>>();
const transport = new FakeWebhookTransport();
transport.hosts.set('hooks.example.com', ['93.184.216.34']);
const rt = createRuntime(productionEnv({ LOG_LEVEL: 'silent' }), {
  store: <T>(name: string) => {
    if (!stores.has(name)) stores.set(name, new MemoryRecordStore<unknown>());
    return stores.get(name) as unknown as RecordStore<T>;
  },
  callers: { verify: async () => ({ email: 'backend@my-project-1.iam.gserviceaccount.com' }) },
  keyWrapper: new LocalKeyWrapper(randomBytes(32)),
  webhookTransport: transport,
});
forwardFrameworkRefusals();
ff.http('webhooks-production-api', api(rt));
let server: Server;
let base: string;
beforeAll(async () => {
  server = getTestServer('webhooks-production-api');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const call = (path: string, method = 'GET', body?: unknown) =>
  fetch(`${base}${path}`, { method, headers: { 'Content-Type': 'application/json', Authorization: 'Bearer t' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

describe('webhook routes in production mode', () => {
  it('refuses http://169.254.169.254/ and https to the metadata server at registration, naming url; stores nothing', async () => {
    expect(rt.config.env).toBe('production');
    for (const [url, description] of [
      ['http://169.254.169.254/', 'must be an https URL'],
      ['https://169.254.169.254/computeMetadata/v1/', 'must not point at a private, loopback, link-local or reserved address'],
    ] as const) {
      const res = await call('/v1/webhooks', 'POST', { url });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { status: string; details: { fieldViolations?: unknown[] }[] } };
      expect(body.error.status).toBe('INVALID_ARGUMENT');
      expect(body.error.details[0]?.fieldViolations).toEqual([{ field: 'url', description }]);
    }
    expect((await (await call('/v1/webhooks')).json()) as unknown).toEqual({ webhooks: [] });
  });

  it('names each bad field: an unknown event type, a URL with credentials', async () => {
    const res = await call('/v1/webhooks', 'POST', { url: 'https://user:pw@hooks.example.com/', eventTypes: ['export.delivered', 'export.exploded'] });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { details: { fieldViolations?: { field: string }[] }[] } };
    expect(body.error.details[0]?.fieldViolations?.map((v) => v.field).sort()).toEqual(['eventTypes[1]', 'url']);
  });

  it('registers a public https endpoint, lists it, rotates its secret and deletes it', async () => {
    const created = await call('/v1/webhooks', 'POST', { url: 'https://hooks.example.com/dp', eventTypes: ['export.delivered'] });
    expect(created.status).toBe(200);
    const hook = (await created.json()) as { name: string; secret: string };
    expect(hook.secret).toMatch(/^whsec_/);
    const listed = await (await call('/v1/webhooks?pageSize=10')).text();
    expect(listed).toContain(hook.name);
    expect(listed).not.toContain(hook.secret);
    const rotated = (await (await call(`/v1/${hook.name}:rotateSecret`, 'POST', {})).json()) as { secret: string; previousSecretExpireTime: string };
    expect(rotated.secret).not.toBe(hook.secret);
    expect(rotated.previousSecretExpireTime).toBeDefined();
    expect((await call(`/v1/${hook.name}`, 'DELETE')).status).toBe(200);
    expect((await call(`/v1/${hook.name}`)).status).toBe(404);
    expect((await call('/v1/webhooks/not-an-id')).status).toBe(400);
  });
});
