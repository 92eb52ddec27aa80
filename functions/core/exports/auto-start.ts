import { startConnectExports, type StartOutcome } from '../consent/activation.js';
import { confirmConnectSession } from '../consent/confirm.js';
import { completeConsent, type CallbackRequest } from '../consent/connect.js';
import type { ConsentDeps } from '../consent/deps.js';
import { withParams } from '../consent/return-url.js';
import { isAppError } from '../errors.js';
import type { ExportDeps } from './deps.js';

interface Deps {
  readonly consent: ConsentDeps;
  readonly exports: () => ExportDeps;
}

/** How the auto-start went: `deferred` means it failed for now and the poll sweep starts the exports. */
export type ExportsOutcome = StartOutcome | 'deferred';

/**
 * The OAuth callback: completes the consent and, for a consent that is ACTIVE at once (a session
 * without confirmation) whose session asked for it (`autoStart`), requests an export of every
 * granted group (slot `connect`, so a repeat finds the same jobs). A failure to start never undoes
 * the consent or shows an error page: the browser goes back to `returnUrl` with
 * `exports=deferred` and the sweep starts the exports (the consent keeps the follow-up).
 */
export async function completeConsentAndStart(deps: Deps, request: CallbackRequest) {
  const done = await completeConsent(deps.consent, request);
  if (!done.startExports || !done.consentId) return { ...done, started: false, exports: 'none' as ExportsOutcome };
  const { outcome: exports, error } = await startNow(deps, done.consentId);
  return { ...done, redirectUrl: withParams(done.redirectUrl, { exports }), started: exports === 'started', exports, ...(error ? { deferredBecause: error } : {}) };
}

/**
 * `POST /v1/connectSessions/{id}:confirm`: the application confirms the completion code for its
 * logged-in user; the consent becomes ACTIVE, `consent.granted` goes out, and the auto-start (if
 * the session asked for it) runs now or, if that fails, from the sweep.
 */
export async function confirmAndStart(deps: Deps, sessionId: string, code: string) {
  const confirmed = await confirmConnectSession(deps.consent, sessionId, code);
  if (!confirmed.startExports) return { ...confirmed.consent, exports: 'none' as ExportsOutcome };
  const { outcome } = await startNow(deps, confirmed.consentId);
  return { ...confirmed.consent, exports: outcome };
}

async function startNow(deps: Deps, consentId: string): Promise<{ outcome: ExportsOutcome; error?: string }> {
  try {
    return { outcome: await startConnectExports(deps.exports(), consentId) };
  } catch (error) {
    return { outcome: 'deferred', error: isAppError(error) ? error.code : 'INTERNAL' };
  }
}
