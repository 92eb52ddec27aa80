import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { inject } from 'vitest';
import { firestoreOptions, pubsubOptions } from '../../functions/platform/clients.js';
import { startStack, type Stack, type StackInfo } from '../../infra/local/stack.js';
import type { SandboxConfig } from '../../infra/sandbox/server.js';

/**
 * The local stack for one end-to-end test file: the run's shared emulators (a project id of its
 * own keeps data apart), the sandbox in-process, every function served by the Functions Framework
 * in its own process. Call `stop()` in afterAll.
 */
export interface E2EStack {
  readonly info: StackInfo;
  readonly firestore: Firestore;
  readonly pubsub: PubSub;
  readonly dir: string;
  /** A fresh Google ID token of the allowed local caller. */
  callerToken(email?: string, audience?: string): Promise<string>;
  /** Calls the api function as the allowed caller. */
  api(path: string, init?: { method?: string; body?: unknown; token?: string | null }): Promise<Response>;
  sandbox(path: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  stop(): Promise<void>;
}

export async function startE2EStack(label: string, sandboxConfig?: Partial<SandboxConfig>): Promise<E2EStack> {
  const dir = mkdtempSync(join(tmpdir(), `dp-e2e-${label}-`));
  const emulators = inject('emulators');
  const projectId = `e2e-${label}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 20) + `-${Math.random().toString(16).slice(2, 8)}`;
  const stack: Stack = await startStack({ dir, projectId, emulators, logFormat: 'json', ...(sandboxConfig ? { sandboxConfig } : {}) });
  const { info } = stack;
  const firestore = new Firestore(firestoreOptions(projectId, '(default)', emulators.firestoreHost));
  const pubsub = new PubSub(pubsubOptions(projectId, emulators.pubsubHost));
  const sandbox = async (path: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${info.services.sandbox.url}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { 'Content-Type': 'application/json' },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  const callerToken = async (email = info.caller.email, audience = info.caller.audience) => {
    const res = await sandbox('/sandbox/v1/idTokens', { body: { audience, email } });
    return ((await res.json()) as { idToken: string }).idToken;
  };
  return {
    info,
    firestore,
    pubsub,
    dir,
    callerToken,
    sandbox,
    async api(path, init = {}) {
      const token = init.token === undefined ? await callerToken() : init.token;
      return fetch(`${info.functions['api']!.url}${path}`, {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
      });
    },
    async stop() {
      await pubsub.close();
      await firestore.terminate();
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Follows a connect URL like a browser without JavaScript: GET the connect URL (keeping the state
 * cookie), approve at the sandbox with its automation endpoint, and GET the callback with the
 * cookie. Returns the final redirect (to the returnUrl) and its query.
 */
export async function connectViaAutomation(
  stack: E2EStack,
  connectUrl: string,
  grant: { resources?: string[]; duration: 'ONE_TIME' | 'DAYS_30' | 'DAYS_180'; user?: string; deny?: boolean },
) {
  const start = await fetch(connectUrl, { redirect: 'manual' });
  const authorizeUrl = start.headers.get('location') ?? '';
  const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const consent = await stack.sandbox('/sandbox/v1/consent', {
    body: {
      authorizeUrl,
      grant: { duration: grant.duration, ...(grant.resources ? { resources: grant.resources } : {}) },
      deny: grant.deny ?? false,
      ...(grant.user ? { user: grant.user } : {}),
    },
  });
  const { redirectUrl: callbackUrl } = (await consent.json()) as { redirectUrl: string };
  const callback = await fetch(callbackUrl, { redirect: 'manual', headers: { Cookie: cookie } });
  const location = callback.headers.get('location') ?? '';
  const query = location ? Object.fromEntries(new URL(location).searchParams) : {};
  return { startStatus: start.status, authorizeUrl, cookie, callbackUrl, callback, location, query };
}
