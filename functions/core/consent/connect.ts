import { createHash, randomBytes } from 'node:crypto';
import { AppError, invalidArgument, isAppError, type FieldViolation } from '../errors.js';
import { INVALID_GRANT, type TokenGrant } from '../ports/oauth-provider.js';
import { keep, put } from '../ports/record-store.js';
import { groupOfScope, isResourceGroup, scopeOf, type ResourceGroup } from '../resource-groups.js';
import type { ConsentDeps } from './deps.js';
import { announceGrant, FOLLOW_UP_GRACE_MS } from './activation.js';
import { hashCode, newCode } from './confirm.js';
import { consentName, retainUntil, type ConfirmationMode, type Consent, type ConnectSession, type GrantedGroup, type OAuthAttempt } from './model.js';
import { withSchedule } from './schedule.js';
import { hashState, newPkce, newState, openVerifier, sameSecret, sealVerifier } from './pkce.js';
import { allowedReturnUrl, withParams } from './return-url.js';

export interface ConnectRequest {
  readonly appUserId: string;
  readonly resources: readonly string[];
  readonly returnUrl: string;
  readonly autoStart: boolean;
  /** CODE (default): the application confirms the returning browser; NONE: the consent is active at once. */
  readonly confirmation?: ConfirmationMode;
}

/** Creates a short-lived, single-use connect session for one app user and a set of groups. */
export async function createConnectSession(deps: ConsentDeps, request: ConnectRequest) {
  const violations: FieldViolation[] = [];
  request.resources.forEach((r, i) => {
    if (!isResourceGroup(r)) {
      violations.push({ field: `resources[${i}]`, description: `${JSON.stringify(r)} is not a Data Portability resource group (GET /v1/resourceGroups lists them)` });
    }
  });
  if (request.resources.length === 0) violations.push({ field: 'resources', description: 'must name at least one resource group' });
  const returnUrl = allowedReturnUrl(request.returnUrl, deps.settings.returnUrlAllowlist);
  if (!returnUrl) violations.push({ field: 'returnUrl', description: 'is not on the allow-list of return URLs' });
  if (violations.length > 0) throw invalidArgument(violations);

  const token = randomBytes(32).toString('base64url');
  const id = sessionId(token);
  const now = deps.clock.now();
  const expiresAt = new Date(now.getTime() + deps.settings.connectSessionTtlSeconds * 1000);
  const session: ConnectSession = {
    appUserId: request.appUserId,
    resources: [...new Set(request.resources as ResourceGroup[])],
    returnUrl: returnUrl ?? '',
    autoStart: request.autoStart,
    createdAt: now,
    expiresAt,
    status: 'PENDING',
    consentId: null,
    confirmation: request.confirmation ?? 'CODE',
    codeHash: null,
    codeExpiresAt: null,
    confirmedAt: null,
    expireAt: retainUntil(expiresAt),
  };
  await deps.sessions.create(id, session);
  return {
    name: `connectSessions/${id}`,
    connectUrl: `${deps.settings.connectBaseUrl}/connect/${token}`,
    expireTime: expiresAt.toISOString(),
  };
}

export function sessionId(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * The browser follows the connect URL: the session is used up, one authorization attempt is
 * recorded (state hashed, PKCE verifier sealed) and the browser goes to the consent page.
 */
export async function startConsent(deps: ConsentDeps, sessionToken: string): Promise<{ redirectUrl: string; state: string; stateTtlSeconds: number }> {
  const id = sessionId(sessionToken);
  const now = deps.clock.now();
  const session = await deps.sessions.update(id, (s) => {
    if (!s) throw new AppError('NOT_FOUND', 'this connect link is not valid', { reason: 'SESSION_NOT_FOUND' });
    if (s.expiresAt.getTime() <= now.getTime()) throw new AppError('FAILED_PRECONDITION', 'this connect link has expired', { reason: 'SESSION_EXPIRED' });
    if (s.status !== 'PENDING') throw new AppError('FAILED_PRECONDITION', 'this connect link was already used', { reason: 'SESSION_USED' });
    return put<ConnectSession, ConnectSession>({ ...s, status: 'STARTED' }, s);
  });
  const state = newState();
  const pkce = newPkce();
  const attempt: OAuthAttempt = {
    sessionId: id,
    verifier: sealVerifier(pkce.verifier, state),
    createdAt: now,
    expiresAt: new Date(now.getTime() + deps.settings.stateTtlSeconds * 1000),
    consumedAt: null,
    expireAt: retainUntil(new Date(now.getTime() + deps.settings.stateTtlSeconds * 1000)),
  };
  await deps.attempts.create(hashState(state), attempt);
  const redirectUrl = deps.oauth.authorizationUrl({ scopes: session.resources.map(scopeOf), state, codeChallenge: pkce.challenge });
  return { redirectUrl, state, stateTtlSeconds: deps.settings.stateTtlSeconds };
}

export const OUTCOMES = ['granted', 'partial', 'denied', 'error'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface CallbackRequest {
  readonly state: string | undefined;
  readonly code: string | undefined;
  readonly error: string | undefined;
  /** The state value from the browser's cookie: binds the attempt to the browser that started it. */
  readonly boundState: string | undefined;
}

export interface CompletedConsent {
  readonly redirectUrl: string;
  readonly outcome: Outcome;
  readonly consentId: string | null;
  readonly autoStart: boolean;
  /** The consent is ACTIVE and the session asked for auto-start: the caller starts the exports now. */
  readonly startExports: boolean;
  /** The consent waits for the application's confirmation (the redirect carries the completion code). */
  readonly pendingConfirmation: boolean;
}

/**
 * The authorization server redirects back. The attempt is consumed exactly once (compare-and-set);
 * a missing, unbound, unknown, reused or expired state is refused before any token exchange.
 *
 * With confirmation (the default) the consent is stored PENDING_CONFIRMATION and the browser goes
 * back with the session name and a single-use completion code (only its hash is kept) that the
 * application confirms; nothing is announced or exported before. With `confirmation: NONE` the
 * consent is ACTIVE at once and `consent.granted` goes out here.
 */
export async function completeConsent(deps: ConsentDeps, request: CallbackRequest): Promise<CompletedConsent> {
  const { state } = request;
  if (!state) throw refuse('STATE_MISSING', 'the state parameter is missing', 'state');
  if (!request.boundState || !sameSecret(request.boundState, state)) {
    throw refuse('STATE_NOT_BOUND', 'this sign-in was not started in this browser', 'state');
  }
  const now = deps.clock.now();
  const attempt = await deps.attempts.update(hashState(state), (a) => {
    if (!a) throw refuse('STATE_UNKNOWN', 'this sign-in is not known', 'state');
    if (a.consumedAt) throw refuse('STATE_REUSED', 'this sign-in was already completed', 'state');
    if (a.expiresAt.getTime() <= now.getTime()) throw refuse('STATE_EXPIRED', 'this sign-in has expired; start again', 'state');
    return put<OAuthAttempt, OAuthAttempt>({ ...a, consumedAt: now }, a);
  });
  const verifier = openVerifier(attempt.verifier, state);
  const session = await deps.sessions.get(attempt.sessionId);
  if (!verifier || !session) throw new AppError('INTERNAL', 'authorization attempt is inconsistent');

  const confirm = (session.confirmation ?? 'NONE') === 'CODE';
  const finish = async (outcome: Outcome, consentId: string | null, reason?: string, code?: { value: string; expiresAt: Date }): Promise<CompletedConsent> => {
    await deps.sessions.update(attempt.sessionId, (s) =>
      s
        ? put<ConnectSession, null>(
            {
              ...s,
              status: 'COMPLETED',
              consentId,
              ...(code ? { codeHash: hashCode(code.value), codeExpiresAt: code.expiresAt, expireAt: retainUntil(code.expiresAt) } : {}),
            },
            null,
          )
        : keep(null),
    );
    const params: Record<string, string> = { outcome };
    if (consentId) params['consent'] = consentName(consentId);
    if (reason) params['reason'] = reason;
    if (code) {
      params['session'] = `connectSessions/${attempt.sessionId}`;
      params['code'] = code.value;
    }
    return {
      redirectUrl: withParams(session.returnUrl, params),
      outcome,
      consentId,
      autoStart: session.autoStart,
      startExports: !!consentId && !code && session.autoStart,
      pendingConfirmation: !!code,
    };
  };

  if (request.error !== undefined) return finish(request.error === 'access_denied' ? 'denied' : 'error', null, reasonParam(request.error));
  if (!request.code) throw refuse('CODE_MISSING', 'the code parameter is missing', 'code');

  let grant: TokenGrant;
  try {
    grant = await deps.oauth.exchangeCode(request.code, verifier);
  } catch (error) {
    if (isAppError(error) && error.reason === INVALID_GRANT) return finish('error', null, 'invalid_grant');
    throw error;
  }
  const requested = new Set<string>(session.resources);
  const granted = [...new Set(grant.scopes.map(groupOfScope).filter((g): g is ResourceGroup => !!g && requested.has(g)))];
  if (granted.length === 0 || !grant.refreshToken) {
    await deps.oauth.revoke(grant.refreshToken ?? grant.accessToken).catch(() => undefined);
    return granted.length === 0 ? finish('denied', null, 'no_groups_granted') : finish('error', null, 'no_refresh_token');
  }
  const access = await deps.grants.checkAccessType(grant.accessToken);
  const timeBased = new Set(access.timeBased);
  const groups: GrantedGroup[] = granted.map((resource) => ({
    resource,
    // A group the API does not list as time-based is treated as one-time: reset after export.
    accessType: timeBased.has(resource) && !access.oneTime.includes(resource) ? 'TIME_BASED' : 'ONE_TIME',
  }));
  const consentId = newConsentId();
  const partial = granted.length < requested.size;
  const codeExpiresAt = new Date(now.getTime() + deps.settings.confirmationCodeTtlSeconds * 1000);
  const created: Consent = {
    appUserId: session.appUserId,
    groups,
    grantedAt: now,
    expiresAt: groups.some((g) => g.accessType === 'TIME_BASED') ? (grant.refreshTokenExpiresAt ?? null) : null,
    status: confirm ? 'PENDING_CONFIRMATION' : 'ACTIVE',
    updatedAt: now,
    token: await deps.vault.seal(grant.refreshToken, consentId),
    confirmBy: confirm ? codeExpiresAt : null,
    followUp: { announce: true, startExports: session.autoStart, partial },
    // A pending consent's follow-up waits for the confirmation; an active one is the sweep's after a grace period.
    followUpAt: confirm ? null : new Date(now.getTime() + FOLLOW_UP_GRACE_MS),
    detail: null,
  };
  // An ACTIVE time-based consent gets its schedule (first export due now) and expiry timer.
  const consent = confirm ? created : withSchedule(created, now);
  await deps.consents.create(consentId, consent);
  const outcome = partial ? 'partial' : 'granted';
  if (confirm) return finish(outcome, consentId, undefined, { value: newCode(), expiresAt: codeExpiresAt });
  deps.tokens.remember(consentId, grant.accessToken, grant.accessTokenExpiresAt);
  // The consent exists: a failed publish never shows the user an error page; the sweep publishes it (followUpAt).
  await announceGrant(deps, consentId).catch(() => undefined);
  return finish(outcome, consentId);
}

function refuse(reason: string, message: string, field: string): AppError {
  return new AppError('INVALID_ARGUMENT', message, { reason, violations: [{ field, description: message }] });
}

function reasonParam(error: string): string {
  return /^[a-z_]{1,64}$/.test(error) ? error : 'authorization_error';
}

function newConsentId(): string {
  return randomBytes(15).toString('base64url').replace(/[-_]/g, 'x');
}
