import { randomBytes } from 'node:crypto';
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
  /** The stack's OAuth client secret and local token key (fresh per stack, known to the test). */
  readonly secrets: { readonly oauthClientSecret: string; readonly localTokenKey: string };
  /** A fresh Google ID token of the allowed local caller. */
  callerToken(email?: string, audience?: string): Promise<string>;
  /** Calls the api function as the allowed caller. */
  api(path: string, init?: { method?: string; body?: unknown; token?: string | null }): Promise<Response>;
  sandbox(path: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  /** The sandbox's call log (upstream calls the pipeline made; control routes excluded). */
  calls(): Promise<SandboxCall[]>;
  clearCalls(): Promise<void>;
  /** Number of documents in a collection of this stack's project. */
  count(collection: string): Promise<number>;
  /** Stops one served function (SIGKILL: a crash) and serves it again on the same port, after `downMs`. */
  restartFunction(name: string, signal?: NodeJS.Signals, downMs?: number): Promise<{ readonly pid: number }>;
  stop(): Promise<void>;
}

/** Optional settings of the stack beyond the sandbox's (defaults: those of `startStack`). */
export interface E2EStackOptions {
  /** Extra environment for every served function (e.g. `TRANSFER_CHUNK_BYTES`, `LEASE_SECONDS`). */
  readonly functionEnv?: Readonly<Record<string, string>>;
  /** How often the local Cloud Scheduler runs the poll-sweep job; 0 = no job. */
  readonly sweepIntervalMs?: number;
  /** How often it runs the exports and expiry ticks; 0 or absent = no such jobs. */
  readonly tickIntervalMs?: number;
}

export interface SandboxCall {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly time: string;
  /** The fault rule action the sandbox applied to this call, if any. */
  readonly fault?: string;
}

export async function startE2EStack(label: string, sandboxConfig?: Partial<SandboxConfig>, options: E2EStackOptions = {}): Promise<E2EStack> {
  const dir = mkdtempSync(join(tmpdir(), `dp-e2e-${label}-`));
  const emulators = inject('emulators');
  const projectId =
    `e2e-${label}`
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 20) + `-${Math.random().toString(16).slice(2, 8)}`;
  const secrets = { oauthClientSecret: randomBytes(24).toString('base64url'), localTokenKey: randomBytes(32).toString('base64') };
  const stack: Stack = await startStack({
    dir,
    projectId,
    emulators,
    logFormat: 'json',
    secrets,
    ...(sandboxConfig ? { sandboxConfig } : {}),
    ...(options.functionEnv ? { functionEnv: options.functionEnv } : {}),
    ...(options.sweepIntervalMs !== undefined ? { sweepIntervalMs: options.sweepIntervalMs } : {}),
    ...(options.tickIntervalMs !== undefined ? { tickIntervalMs: options.tickIntervalMs } : {}),
  });
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
    secrets,
    callerToken,
    sandbox,
    async calls() {
      const res = await sandbox('/sandbox/v1/calls');
      if (res.status !== 200) throw new Error(`sandbox call log: HTTP ${res.status}`);
      return ((await res.json()) as { calls: SandboxCall[] }).calls;
    },
    async clearCalls() {
      const res = await sandbox('/sandbox/v1/calls', { method: 'DELETE' });
      if (res.status !== 200) throw new Error(`sandbox call log: HTTP ${res.status}`);
    },
    async count(collection) {
      return (await firestore.collection(collection).count().get()).data().count;
    },
    restartFunction(name, signal = 'SIGKILL', downMs = 0) {
      return stack.restartFunction(name, { signal, downMs });
    },
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
 * cookie. Returns the final redirect (to the returnUrl) and its query. Then, as the application
 * whose logged-in user started the flow, it confirms the completion code the redirect carries
 * (`confirm: false` leaves the consent PENDING_CONFIRMATION, e.g. for a forwarded link).
 */
export async function connectViaAutomation(
  stack: E2EStack,
  connectUrl: string,
  grant: { resources?: string[]; duration: 'ONE_TIME' | 'DAYS_30' | 'DAYS_180'; user?: string; deny?: boolean; confirm?: boolean },
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
  const confirmed = grant.confirm === false ? undefined : await confirmConnect(stack, query);
  return { startStatus: start.status, authorizeUrl, cookie, callbackUrl, callback, location, query, confirmed };
}

/**
 * The application's side of the return: when the redirect to `returnUrl` carries a completion code
 * (`session` and `code`), confirm it with `POST /v1/{session}:confirm` (an application does this
 * only after checking that the returning browser is the logged-in user who created the session).
 * Throws unless the API answers 200; returns the consent (undefined when there was nothing to confirm).
 */
export async function confirmConnect(stack: E2EStack, query: Readonly<Record<string, string>>) {
  const { session, code } = query;
  if (!session || !code) return undefined;
  const res = await stack.api(`/v1/${session}:confirm`, { body: { code } });
  if (res.status !== 200) throw new Error(`${session}:confirm: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as { name: string; state: string; exports: string };
}

/** Creates a connect session as the allowed caller; throws unless the API answers 200. */
export async function newConnectSession(
  stack: E2EStack,
  appUserId: string,
  resources: string[],
  returnUrl = stack.info.returnUrls[0],
  options: { confirmation?: 'CODE' | 'NONE'; autoStart?: boolean } = {},
) {
  const res = await stack.api('/v1/connectSessions', { body: { appUserId, resources, returnUrl, ...options } });
  if (res.status !== 200) throw new Error(`connectSessions: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as { name: string; connectUrl: string; expireTime: string };
}

/**
 * The first two browser hops without the callback: GET the connect URL (state cookie kept), then
 * approve at the sandbox's automation endpoint. Returns the callback URL the browser would follow
 * (carrying `code` and `state`) and the cookie that binds it. A consent completed through it stays
 * PENDING_CONFIRMATION until `confirmConnect` confirms the code of its return redirect.
 */
export async function approveWithoutCallback(
  stack: E2EStack,
  connectUrl: string,
  grant: { resources?: string[]; duration: 'ONE_TIME' | 'DAYS_30' | 'DAYS_180'; user?: string } = { duration: 'ONE_TIME' },
) {
  const start = await fetch(connectUrl, { redirect: 'manual' });
  if (start.status !== 302) throw new Error(`connect URL: HTTP ${start.status}`);
  const authorizeUrl = start.headers.get('location') ?? '';
  const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const state = new URL(authorizeUrl).searchParams.get('state') ?? '';
  const consent = await stack.sandbox('/sandbox/v1/consent', {
    body: { authorizeUrl, grant: { duration: grant.duration, ...(grant.resources ? { resources: grant.resources } : {}) }, ...(grant.user ? { user: grant.user } : {}) },
  });
  if (consent.status !== 200) throw new Error(`sandbox consent: HTTP ${consent.status} ${await consent.text()}`);
  const { redirectUrl: callbackUrl } = (await consent.json()) as { redirectUrl: string };
  return { authorizeUrl, cookie, state, callbackUrl };
}
