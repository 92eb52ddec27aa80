import type { Request } from '@google-cloud/functions-framework';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppError, transient } from '../../functions/core/errors.js';
import type { RecordStore } from '../../functions/core/ports/record-store.js';
import { undeliverableId, type UndeliverableMessage } from '../../functions/core/undeliverable.js';
import { jsonPayload, pubsubFunction } from '../../functions/platform/events.js';
import { httpFunction } from '../../functions/platform/http.js';
import { createRuntime } from '../../functions/platform/runtime.js';
import { parseWith } from '../../functions/platform/validation.js';
import { Writable } from 'node:stream';
import { createConnectSession } from '../../functions/core/consent/connect.js';
import type { ConnectSession } from '../../functions/core/consent/model.js';
import { oauth } from '../../functions/entrypoints/oauth.js';
import { parseConfig } from '../../functions/platform/config.js';
import { createLogger } from '../../functions/platform/logger.js';
import { Runtime } from '../../functions/platform/runtime.js';
import { FakeAuthorizationServer, ManualClock } from '../fakes/fake-oauth.js';
import { MemoryRecordStore } from '../fakes/memory-record-store.js';
import { MemoryWorkQueue } from '../fakes/memory-work-queue.js';
import { developmentEnv } from '../fixtures/env.js';
import { deliver, fakeResponse, pushEnvelope as event } from '../fixtures/push.js';

function runtimeWithFakes() {
  const stores = new Map<string, MemoryRecordStore<unknown>>();
  const rt = createRuntime(developmentEnv(), {
    store: <T>(name: string) => {
      if (!stores.has(name)) stores.set(name, new MemoryRecordStore<unknown>());
      return stores.get(name) as unknown as RecordStore<T>;
    },
  });
  return { rt, undeliverable: () => rt.store<UndeliverableMessage>('undeliverable') };
}

const schema = z.object({ job: z.string().min(1), attempt: z.number().int().nonnegative() }).strict();

describe('pubsubFunction (event edge)', () => {
  it('runs the handler with the decoded command', async () => {
    const { rt } = runtimeWithFakes();
    const seen: unknown[] = [];
    const fn = pubsubFunction(
      't',
      rt,
      (m) => parseWith(schema, jsonPayload(m)),
      async (cmd) => void seen.push(cmd),
    );
    expect(await deliver(fn, event({ job: 'j', attempt: 1 }))).toMatchObject({ statusCode: 204 });
    expect(seen).toEqual([{ job: 'j', attempt: 1 }]);
  });

  it('acks and records a malformed message once, naming each field, even when redelivered', async () => {
    const { rt, undeliverable } = runtimeWithFakes();
    let calls = 0;
    const fn = pubsubFunction(
      't',
      rt,
      (m) => parseWith(schema, jsonPayload(m)),
      async () => void calls++,
    );
    expect(await deliver(fn, event({ job: '', attempt: -1, extra: 1 }))).toMatchObject({ statusCode: 204 });
    expect(await deliver(fn, event({ job: '', attempt: -1, extra: 1 }))).toMatchObject({ statusCode: 204 });
    expect(calls).toBe(0);
    const record = await undeliverable().get(undeliverableId('REJECTED', 't', 'm1'));
    expect(record?.violations.map((v) => v.field).sort()).toEqual(['attempt', 'extra', 'job']);
    expect(record?.publishTime).toEqual(new Date('2026-11-23T10:00:00Z'));
    expect((await undeliverable().list({ pageSize: 10 })).items).toHaveLength(1);
  });

  it('records a missing or empty envelope as malformed instead of crashing', async () => {
    const { rt, undeliverable } = runtimeWithFakes();
    const fn = pubsubFunction(
      't',
      rt,
      (m) => parseWith(schema, jsonPayload(m)),
      async () => undefined,
    );
    expect(await deliver(fn, { subscription: 'projects/p/subscriptions/s' })).toMatchObject({ statusCode: 204 });
    expect(await deliver(fn, { message: { messageId: 'e9', data: 7, attributes: 'x' } })).toMatchObject({ statusCode: 204 });
    const records = (await undeliverable().list({ pageSize: 10 })).items;
    expect(records).toHaveLength(2);
    for (const { value } of records) expect(value.violations).toEqual([{ field: 'message.data', description: 'is empty' }]);
    expect(await undeliverable().get(undeliverableId('REJECTED', 't', 'e9'))).toBeDefined();
  });

  it('acks a permanent error from the use case and records it', async () => {
    const { rt, undeliverable } = runtimeWithFakes();
    const fn = pubsubFunction(
      't',
      rt,
      (m) => parseWith(schema, jsonPayload(m)),
      async () => {
        throw new AppError('FAILED_PRECONDITION', 'job already finished');
      },
    );
    expect(await deliver(fn, event({ job: 'j', attempt: 0 }, 'm2'))).toMatchObject({ statusCode: 204 });
    expect((await undeliverable().get(undeliverableId('REJECTED', 't', 'm2')))?.errorCode).toBe('FAILED_PRECONDITION');
  });

  it('answers a transient error with an error status so Pub/Sub redelivers, and records nothing', async () => {
    const { rt, undeliverable } = runtimeWithFakes();
    const failure = transient('firestore unavailable');
    const fn = pubsubFunction(
      't',
      rt,
      (m) => parseWith(schema, jsonPayload(m)),
      async () => {
        throw failure;
      },
    );
    const answer = await deliver(fn, event({ job: 'j', attempt: 0 }));
    expect(answer.statusCode).toBe(503);
    expect(answer.body).toMatchObject({ error: { status: 'UNAVAILABLE' } });
    expect((await undeliverable().list({ pageSize: 10 })).items).toHaveLength(0);
  });
});

describe('httpFunction (HTTP edge)', () => {
  const { rt } = runtimeWithFakes();
  const fn = httpFunction('api', rt, [
    { method: 'GET', path: /^\/v1\/things\/(?<id>[^/]+)$/, handle: async (_req, ctx) => ({ status: 200, body: { id: ctx.params['id'] } }) },
    {
      method: 'POST',
      path: /^\/v1\/fail$/,
      handle: async () => {
        throw new TypeError('boom at /srv/secret.ts');
      },
    },
  ]);
  const call = async (method: string, path: string) => {
    const { res, api } = fakeResponse();
    await fn({ method, path, headers: {} } as unknown as Request, api);
    return res;
  };

  it('routes with decoded path parameters', async () => {
    expect(await call('GET', '/v1/things/a%20b')).toMatchObject({ statusCode: 200, body: { id: 'a b' } });
  });

  it('answers 404, 405 with Allow for a wrong method, and 400 for bad percent-encoding, all Google-style', async () => {
    expect(await call('GET', '/nowhere')).toMatchObject({ statusCode: 404, body: { error: { status: 'NOT_FOUND' } } });
    expect(await call('DELETE', '/v1/things/x')).toMatchObject({
      statusCode: 405,
      headers: { allow: 'GET' },
      body: { error: { code: 405, details: [{ reason: 'METHOD_NOT_ALLOWED' }] } },
    });
    expect(await call('GET', '/v1/things/%E0%A4%A')).toMatchObject({
      statusCode: 400,
      body: { error: { status: 'INVALID_ARGUMENT', details: [{ fieldViolations: [{ field: 'id' }] }] } },
    });
  });

  it('turns an unexpected error into a generic 500 that leaks nothing', async () => {
    const res = await call('POST', '/v1/fail');
    expect(res.statusCode).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain('secret');
    expect(res.headers['cache-control']).toBe('no-store');
  });
});

describe('oauth function edge (connect links)', () => {
  async function oauthWithFakes() {
    const clock = new ManualClock();
    const server = new FakeAuthorizationServer(clock);
    const stores = new Map<string, MemoryRecordStore<unknown>>();
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString('utf8')), done()) });
    const config = parseConfig(developmentEnv());
    const rt = new Runtime(config, createLogger({ log: { level: 'debug', format: 'json' } }, sink), {
      clock,
      oauth: server.provider,
      grants: server.grants,
      queue: new MemoryWorkQueue(),
      store: <T>(name: string) => {
        if (!stores.has(name)) stores.set(name, new MemoryRecordStore<unknown>());
        return stores.get(name) as unknown as RecordStore<T>;
      },
    });
    const session = await createConnectSession(rt.consentDeps(), {
      appUserId: 'u1',
      resources: ['chrome.history'],
      returnUrl: config.oauth.returnUrlAllowlist[0]!,
      autoStart: false,
    });
    const token = session.connectUrl.split('/connect/')[1]!;
    const fn = oauth(rt);
    const call = async (method: string, path: string) => {
      const { res, api } = fakeResponse();
      await fn({ method, path, headers: {}, query: {} } as unknown as Request, api);
      return res;
    };
    return { call, token, lines, sessions: () => rt.store<ConnectSession>('connectSessions') };
  }

  it('HEAD on a connect link (a link previewer) does not use it up; the GET that follows still starts consent', async () => {
    const { call, token, sessions } = await oauthWithFakes();
    const head = await call('HEAD', `/connect/${token}`);
    expect(head.statusCode).toBe(405);
    expect(head.headers['allow']).toBe('GET');
    expect(head.headers['location']).toBeUndefined();
    expect((await sessions().list({ pageSize: 10 })).items.map((s) => s.value.status)).toEqual(['PENDING']);
    const get = await call('GET', `/connect/${token}`);
    expect(get.statusCode).toBe(302);
    expect(get.headers['location']).toMatch(/^https:\/\/accounts\.example\//);
  });

  it('a refused connect link never appears in the logs; every answer carries nosniff and a strict CSP', async () => {
    const { call, token, lines } = await oauthWithFakes();
    const answers = [
      await call('HEAD', `/connect/${token}`),
      await call('GET', `/connect/${token}/x`),
      await call('GET', `/connect/${token}`),
      await call('GET', `/connect/${token}`),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([405, 404, 302, 400]);
    expect(lines.join('\n')).toContain('/connect/[redacted]');
    expect(lines.join('\n')).not.toContain(token);
    for (const a of answers) {
      expect(a.headers['x-content-type-options']).toBe('nosniff');
      expect(a.headers['content-security-policy']).toBe("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    }
  });
});
