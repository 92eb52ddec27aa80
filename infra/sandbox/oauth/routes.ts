// Google's OAuth endpoints: authorization (consent page), token, revoke, tokeninfo, plus the
// browserless consent used by tests (`POST /sandbox/v1/consent`).
import { z } from 'zod';
import type { Clock } from '../lib/clock.js';
import { ApiError, OAuthError, errorInfo, statusOfHttp } from '../lib/errors.js';
import { queryParams, readJsonObject, readParams, redirect, sendHtml, sendJson } from '../lib/http.js';
import { randomToken } from '../lib/ids.js';
import type { RequestContext, SandboxModule } from '../lib/router.js';
import type { GrantDuration } from '../lib/state.js';
import type { StateStore } from '../lib/store.js';
import { callbackUrl, parseAuthorizationRequest } from './authorize-request.js';
import type { AuthRequest } from './authorize-request.js';
import { CONSENT_FORM_PATH, consentPage } from './consent-page.js';
import type { OAuthService } from './grants.js';
import { DEFAULT_USER, scopeString } from './grants.js';

export interface OAuthDeps {
  store: StateStore;
  clock: Clock;
  oauth: OAuthService;
  /** Claims of a valid ID token from the sandbox's issuer, else undefined. */
  verifyIdToken(token: string): Record<string, unknown> | undefined;
}

const DURATIONS = ['ONE_TIME', 'DAYS_30', 'DAYS_180'] as const;
const USER = /^[^\s@<>"]{1,200}@[^\s@<>"]{1,100}$/;
const CONSENT_PAGE_LIFETIME_MS = 3_600_000;

const automationSchema = z
  .object({
    authorizeUrl: z.string().max(64 * 1024),
    grant: z
      .object({
        resources: z.array(z.string().max(200)).max(200).optional(),
        duration: z.enum(DURATIONS).optional(),
      })
      .strict()
      .optional(),
    deny: z.boolean().optional(),
    user: z.string().regex(USER).optional(),
  })
  .strict();

function noStore(): Record<string, string> {
  return { Pragma: 'no-cache' };
}

function toApiError(err: OAuthError): ApiError {
  return new ApiError(err.httpStatus, statusOfHttp(err.httpStatus), `${err.error}: ${err.description}`, [errorInfo(err.error, {}, 'accounts.google.com')]);
}

export function oauthModule(deps: OAuthDeps): SandboxModule {
  const { store, clock, oauth } = deps;

  function promptNone(request: AuthRequest): string | undefined {
    return request.prompt?.split(' ').includes('none') ? callbackUrl(request.redirectUri, { error: 'interaction_required', state: request.state }) : undefined;
  }

  function checkLength(pathAndQuery: string): void {
    if (Buffer.byteLength(pathAndQuery) > store.state.config.maxAuthorizeUrlBytes) {
      throw new OAuthError(400, 'invalid_request', 'The request URL is too long (too many scopes?).');
    }
  }

  function authorizePage(ctx: RequestContext): void {
    checkLength(ctx.req.url ?? '');
    const request = parseAuthorizationRequest(ctx.query, store.state.clients);
    const none = promptNone(request);
    if (none) return redirect(ctx.res, none);
    const user = request.loginHint && USER.test(request.loginHint) ? request.loginHint : DEFAULT_USER;
    oauth.checkIncremental(request, user);
    const id = randomToken(18);
    store.state.pendingConsents[id] = {
      id,
      authorizeQuery: ctx.query.toString(),
      expiresAt: clock.now() + CONSENT_PAGE_LIFETIME_MS,
    };
    store.changed();
    sendHtml(ctx.res, 200, consentPage(id, request, user));
  }

  async function consentForm(ctx: RequestContext): Promise<void> {
    const form = await readParams(ctx.req);
    const id = form.get('consent_id')?.[0] ?? '';
    const pending = Object.hasOwn(store.state.pendingConsents, id) ? store.state.pendingConsents[id] : undefined;
    if (!pending || clock.now() >= pending.expiresAt) {
      throw new OAuthError(400, 'invalid_request', 'This consent page has expired. Start the sign-in again.');
    }
    const request = parseAuthorizationRequest(new URLSearchParams(pending.authorizeQuery), store.state.clients);
    const action = form.get('action')?.[0];
    if (action !== 'allow' && action !== 'deny') throw new OAuthError(400, 'invalid_request', 'Choose Allow or Deny.');
    const user = form.get('user')?.[0] ?? DEFAULT_USER;
    if (!USER.test(user)) throw new OAuthError(400, 'invalid_request', 'Enter an email address.');
    const duration = form.get('duration')?.[0] ?? 'ONE_TIME';
    if (!(DURATIONS as readonly string[]).includes(duration)) throw new OAuthError(400, 'invalid_request', 'Invalid duration.');
    const location = oauth.decide(request, {
      user,
      resources: form.get('resource') ?? [],
      duration: duration as GrantDuration,
      deny: action === 'deny',
    });
    delete store.state.pendingConsents[id];
    store.changed();
    redirect(ctx.res, location);
  }

  async function automation(ctx: RequestContext): Promise<void> {
    const parsed = automationSchema.safeParse(await readJsonObject(ctx.req));
    if (!parsed.success) throw new ApiError(400, 'INVALID_ARGUMENT', `Invalid consent request: ${parsed.error.issues[0]?.message ?? ''}`);
    const body = parsed.data;
    let url: URL;
    try {
      url = new URL(body.authorizeUrl);
    } catch {
      throw new ApiError(400, 'INVALID_ARGUMENT', 'authorizeUrl is not an absolute URL.');
    }
    if (url.pathname !== '/o/oauth2/v2/auth') {
      throw new ApiError(400, 'INVALID_ARGUMENT', 'authorizeUrl must point at /o/oauth2/v2/auth.');
    }
    try {
      checkLength(url.pathname + url.search);
      const request = parseAuthorizationRequest(url.searchParams, store.state.clients);
      const none = promptNone(request);
      if (none) return sendJson(ctx.res, 200, { redirectUrl: none });
      const decision = {
        user: body.user ?? DEFAULT_USER,
        duration: body.grant?.duration ?? 'ONE_TIME',
        deny: body.deny ?? false,
        ...(body.grant?.resources ? { resources: body.grant.resources } : {}),
      };
      sendJson(ctx.res, 200, { redirectUrl: oauth.decide(request, decision) });
    } catch (err) {
      throw err instanceof OAuthError ? toApiError(err) : err;
    }
  }

  async function token(ctx: RequestContext): Promise<void> {
    const params = await readParams(ctx.req);
    for (const [k, v] of params) if (v.length > 1) throw new OAuthError(400, 'invalid_request', `Parameter not allowed to repeat: ${k}`);
    const client = oauth.authenticateClient(ctx.req.headers.authorization, params);
    const grantType = params.get('grant_type')?.[0];
    if (!grantType) throw new OAuthError(400, 'invalid_request', 'Missing required parameter: grant_type');
    if (grantType === 'authorization_code') return sendJson(ctx.res, 200, oauth.exchangeCode(client, params), noStore());
    if (grantType === 'refresh_token') return sendJson(ctx.res, 200, oauth.refresh(client, params), noStore());
    throw new OAuthError(400, 'unsupported_grant_type', `Invalid grant_type: ${grantType}`);
  }

  async function tokenParam(ctx: RequestContext, names: readonly string[]): Promise<Map<string, string[]>> {
    const fromBody = ctx.method === 'POST' ? await readParams(ctx.req) : new Map<string, string[]>();
    const out = queryParams(ctx.query);
    for (const [k, v] of fromBody) out.set(k, [...(out.get(k) ?? []), ...v]);
    for (const n of names) if ((out.get(n)?.length ?? 0) > 1) throw new OAuthError(400, 'invalid_request', `Parameter not allowed to repeat: ${n}`);
    return out;
  }

  async function revoke(ctx: RequestContext): Promise<void> {
    const params = await tokenParam(ctx, ['token']);
    const value = params.get('token')?.[0];
    if (!value) throw new OAuthError(400, 'invalid_request', 'Missing required parameter: token');
    if (!oauth.revoke(value)) throw new OAuthError(400, 'invalid_token', 'Token expired or revoked');
    sendJson(ctx.res, 200, {});
  }

  async function tokeninfo(ctx: RequestContext): Promise<void> {
    const params = await tokenParam(ctx, ['access_token', 'id_token']);
    const idToken = params.get('id_token')?.[0];
    if (idToken !== undefined) {
      const claims = deps.verifyIdToken(idToken);
      if (!claims) throw new OAuthError(400, 'invalid_token', 'Invalid Value');
      const out: Record<string, string> = { alg: 'RS256', typ: 'JWT' };
      for (const [k, v] of Object.entries(claims)) out[k] = String(v);
      return sendJson(ctx.res, 200, out);
    }
    const header = /^Bearer\s+(\S+)$/i.exec(ctx.req.headers.authorization ?? '')?.[1];
    const auth = oauth.authenticate(params.get('access_token')?.[0] ?? header);
    if (!auth.ok) throw new OAuthError(400, 'invalid_token', 'Invalid Value');
    const expiresIn = Math.max(0, Math.floor((auth.token.expiresAt - clock.now()) / 1000));
    sendJson(ctx.res, 200, {
      azp: auth.grant.clientId,
      aud: auth.grant.clientId,
      scope: scopeString(auth.grant.groups),
      exp: String(Math.floor(auth.token.expiresAt / 1000)),
      expires_in: String(expiresIn),
      access_type: auth.grant.offline ? 'offline' : 'online',
    });
  }

  return {
    name: 'oauth',
    routes: [
      { methods: ['GET'], path: /^\/o\/oauth2\/v2\/auth$/, style: 'html', handle: authorizePage },
      { methods: ['POST'], path: new RegExp(`^${CONSENT_FORM_PATH.replace(/\//g, '\\/')}$`), style: 'html', handle: consentForm },
      { methods: ['POST'], path: /^\/sandbox\/v1\/consent$/, style: 'google', handle: automation },
      { methods: ['POST'], path: /^\/token$/, style: 'oauth', handle: token },
      { methods: ['POST', 'GET'], path: /^\/revoke$/, style: 'oauth', handle: revoke },
      { methods: ['GET', 'POST'], path: /^\/tokeninfo$/, style: 'oauth', handle: tokeninfo },
    ],
  };
}
