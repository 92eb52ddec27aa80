// Shared helpers of the sandbox integration tests: start a sandbox in-process, register a
// client, run the consent through the automation endpoint, exchange the code.
import { request as httpRequest } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SCOPE_PREFIX } from '../../../functions/core/resource-groups.js';
import { startSandbox } from '../../../infra/sandbox/server.js';
import type { RunningSandbox, SandboxOptions } from '../../../infra/sandbox/server.js';

export interface TestSandbox extends RunningSandbox {
  cacheDir: string;
  /** Closes the sandbox and removes its temporary folders. */
  stop(): Promise<void>;
}

export async function startTestSandbox(options: Omit<SandboxOptions, 'port' | 'cacheDir'> = {}): Promise<TestSandbox> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'sandbox-cache-'));
  const sandbox = await startSandbox({ ...options, port: 0, cacheDir });
  return {
    ...sandbox,
    cacheDir,
    stop: async () => {
      await sandbox.close();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

export interface Json {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

export async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Json> {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export function api(base: string, token: string) {
  const auth = { Authorization: `Bearer ${token}` };
  return {
    initiate: (body: unknown) => call(base, 'POST', '/v1/portabilityArchive:initiate', body, auth),
    state: (id: string) => call(base, 'GET', `/v1/archiveJobs/${id}/portabilityArchiveState`, undefined, auth),
    retry: (id: string, body: unknown = {}) => call(base, 'POST', `/v1/archiveJobs/${id}:retry`, body, auth),
    cancel: (id: string, body: unknown = {}) => call(base, 'POST', `/v1/archiveJobs/${id}:cancel`, body, auth),
    reset: (body: unknown = {}) => call(base, 'POST', '/v1/authorization:reset', body, auth),
    check: (body: unknown = {}) => call(base, 'POST', '/v1/accessType:check', body, auth),
  };
}

export const REDIRECT_URI = 'http://127.0.0.1:9/oauth2/callback';

export interface Client {
  clientId: string;
  clientSecret: string;
}

let clientCounter = 0;

export async function registerClient(base: string, redirectUris: string[] = [REDIRECT_URI]): Promise<Client> {
  clientCounter += 1;
  const client = { clientId: `client-${clientCounter}-${randomBytes(4).toString('hex')}.apps.googleusercontent.com`, clientSecret: `secret-${randomBytes(8).toString('hex')}` };
  const res = await call(base, 'POST', '/sandbox/v1/clients', { ...client, redirectUris });
  if (res.status !== 200) throw new Error(`client registration failed: ${JSON.stringify(res.body)}`);
  return client;
}

export interface Pkce {
  verifier: string;
  challenge: string;
}

export function pkce(): Pkce {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function authorizeUrl(
  base: string,
  client: Client,
  groups: readonly string[],
  opts: { pkce: Pkce; state?: string; accessType?: string; redirectUri?: string; extra?: Record<string, string> },
): string {
  const url = new URL('/o/oauth2/v2/auth', base);
  url.searchParams.set('client_id', client.clientId);
  url.searchParams.set('redirect_uri', opts.redirectUri ?? REDIRECT_URI);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', groups.map((g) => SCOPE_PREFIX + g).join(' '));
  url.searchParams.set('access_type', opts.accessType ?? 'offline');
  url.searchParams.set('prompt', 'consent');
  url.searchParams.set('state', opts.state ?? randomBytes(16).toString('base64url'));
  url.searchParams.set('code_challenge', opts.pkce.challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  for (const [k, v] of Object.entries(opts.extra ?? {})) url.searchParams.set(k, v);
  return url.toString();
}

export async function consent(
  base: string,
  authorize: string,
  grant: { resources?: string[]; duration?: 'ONE_TIME' | 'DAYS_30' | 'DAYS_180' } = {},
  extra: { deny?: boolean; user?: string } = {},
): Promise<Json> {
  return call(base, 'POST', '/sandbox/v1/consent', { authorizeUrl: authorize, grant, ...extra });
}

export async function token(base: string, client: Client, params: Record<string, string>): Promise<Json> {
  const form = new URLSearchParams({ client_id: client.clientId, client_secret: client.clientSecret, ...params });
  return call(base, 'POST', '/token', form.toString(), { 'Content-Type': 'application/x-www-form-urlencoded' });
}

export interface Connected {
  client: Client;
  accessToken: string;
  refreshToken?: string;
  tokenResponse: Record<string, unknown>;
}

/** Full consent: register (or reuse) a client, consent through automation, exchange the code. */
export async function connect(
  base: string,
  groups: readonly string[],
  grant: { resources?: string[]; duration?: 'ONE_TIME' | 'DAYS_30' | 'DAYS_180' } = {},
  opts: { client?: Client; user?: string; accessType?: string } = {},
): Promise<Connected> {
  const client = opts.client ?? (await registerClient(base));
  const p = pkce();
  const state = 'st-' + randomBytes(8).toString('hex');
  const url = authorizeUrl(base, client, groups, { pkce: p, state, ...(opts.accessType ? { accessType: opts.accessType } : {}) });
  const decided = await consent(base, url, grant, opts.user ? { user: opts.user } : {});
  if (decided.status !== 200) throw new Error(`consent failed: ${JSON.stringify(decided.body)}`);
  const redirect = new URL(String(decided.body.redirectUrl));
  if (redirect.searchParams.get('state') !== state) throw new Error('state not echoed');
  const code = redirect.searchParams.get('code');
  if (!code) throw new Error(`no code in ${redirect.toString()}`);
  const exchanged = await token(base, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: p.verifier });
  if (exchanged.status !== 200) throw new Error(`token exchange failed: ${JSON.stringify(exchanged.body)}`);
  const out: Connected = { client, accessToken: String(exchanged.body.access_token), tokenResponse: exchanged.body };
  if (typeof exchanged.body.refresh_token === 'string') out.refreshToken = exchanged.body.refresh_token;
  return out;
}

export function errorInfoOf(body: Record<string, unknown>): { reason?: string; domain?: string; metadata?: Record<string, string> } | undefined {
  const error = body.error as { details?: Array<Record<string, unknown>> } | undefined;
  return error?.details?.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo') as
    { reason?: string; domain?: string; metadata?: Record<string, string> } | undefined;
}

export function errorStatus(body: Record<string, unknown>): string | undefined {
  return (body.error as { status?: string } | undefined)?.status;
}

export async function advance(base: string, seconds: number): Promise<void> {
  const res = await call(base, 'POST', '/sandbox/v1/clock:advance', { seconds });
  if (res.status !== 200) throw new Error('clock:advance failed');
}

/**
 * A raw HTTP request (bytes and headers exactly as given, no fetch normalisation), for fuzzing:
 * the status, the body as text, and any Location header.
 */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
): Promise<{ status: number; text: string; location?: string }> {
  const target = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: target.hostname, port: target.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ...(res.headers.location ? { location: res.headers.location } : {}) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
