// Validation of an authorization request (`/o/oauth2/v2/auth?…`), in the order Google checks:
// client, redirect URI, response type, scopes, PKCE, access type. Every failure is an OAuthError
// shown to the user as an error page (never a redirect: the redirect URI may not be trusted yet).
import { SCOPE_PREFIX, groupOfScope } from '../../../functions/core/resource-groups.js';
import { OAuthError } from '../lib/errors.js';
import type { OAuthClientRecord } from '../lib/state.js';

export interface AuthRequest {
  clientId: string;
  redirectUri: string;
  /** Requested groups, in request order, without duplicates. */
  groups: string[];
  state?: string;
  codeChallenge: string;
  accessType: 'online' | 'offline';
  includeGrantedScopes: boolean;
  prompt?: string;
  loginHint?: string;
}

const KNOWN_PROMPTS = new Set(['none', 'consent', 'select_account']);
const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw new OAuthError(400, 'invalid_request', `Parameter not allowed to repeat: ${name}`);
  return values[0];
}

function required(params: URLSearchParams, name: string): string {
  const value = single(params, name);
  if (value === undefined || value === '') {
    throw new OAuthError(400, 'invalid_request', `Missing required parameter: ${name}`);
  }
  return value;
}

export function parseAuthorizationRequest(params: URLSearchParams, clients: Readonly<Record<string, OAuthClientRecord>>): AuthRequest {
  const clientId = required(params, 'client_id');
  const client = Object.hasOwn(clients, clientId) ? clients[clientId] : undefined;
  if (!client) throw new OAuthError(401, 'invalid_client', 'The OAuth client was not found.');
  const redirectUri = required(params, 'redirect_uri');
  if (!client.redirectUris.includes(redirectUri)) {
    throw new OAuthError(400, 'redirect_uri_mismatch', `You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. redirect_uri=${redirectUri}`);
  }
  const responseType = required(params, 'response_type');
  if (responseType !== 'code') {
    throw new OAuthError(400, 'unsupported_response_type', `Invalid response_type: ${responseType}`);
  }
  const scope = required(params, 'scope');
  const scopes = [...new Set(scope.split(/[ +]+/).filter((s) => s !== ''))];
  if (scopes.length === 0) throw new OAuthError(400, 'invalid_request', 'Missing required parameter: scope');
  const foreign = scopes.filter((s) => !s.startsWith(SCOPE_PREFIX));
  if (foreign.length > 0) {
    throw new OAuthError(400, 'invalid_request', `Data Portability API scopes cannot be requested together with other scopes: ${foreign.join(' ')}`);
  }
  const unknown = scopes.filter((s) => groupOfScope(s) === undefined);
  if (unknown.length > 0) {
    throw new OAuthError(400, 'invalid_scope', `Some requested scopes were invalid. {invalid=[${unknown.join(', ')}]}`);
  }
  const groups = scopes.map((s) => s.slice(SCOPE_PREFIX.length));
  const challenge = single(params, 'code_challenge');
  if (challenge === undefined || challenge === '') {
    throw new OAuthError(400, 'invalid_request', 'Missing required parameter: code_challenge (the sandbox requires PKCE)');
  }
  const method = single(params, 'code_challenge_method') ?? 'plain';
  if (method !== 'S256') {
    throw new OAuthError(400, 'invalid_request', `Invalid code_challenge_method: ${method} (S256 required)`);
  }
  if (!PKCE_CHALLENGE.test(challenge)) {
    throw new OAuthError(400, 'invalid_request', 'Invalid code_challenge: expected 43 base64url characters');
  }
  const accessType = single(params, 'access_type') ?? 'online';
  if (accessType !== 'online' && accessType !== 'offline') {
    throw new OAuthError(400, 'invalid_request', `Invalid access_type: ${accessType}`);
  }
  const include = single(params, 'include_granted_scopes');
  if (include !== undefined && include !== 'true' && include !== 'false') {
    throw new OAuthError(400, 'invalid_request', `Invalid include_granted_scopes: ${include}`);
  }
  const prompt = single(params, 'prompt');
  if (prompt !== undefined && !prompt.split(' ').every((p) => KNOWN_PROMPTS.has(p))) {
    throw new OAuthError(400, 'invalid_request', `Invalid prompt: ${prompt}`);
  }
  const request: AuthRequest = {
    clientId,
    redirectUri,
    groups,
    codeChallenge: challenge,
    accessType,
    includeGrantedScopes: include === 'true',
  };
  const state = single(params, 'state');
  if (state !== undefined) request.state = state;
  if (prompt !== undefined) request.prompt = prompt;
  const hint = single(params, 'login_hint');
  if (hint !== undefined && hint !== '') request.loginHint = hint;
  return request;
}

/** The callback URL with the given parameters appended (keeps the redirect URI's own query). */
export function callbackUrl(redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.append(k, v);
  return url.toString();
}
