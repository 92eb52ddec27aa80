import { completeConsent, type CallbackRequest } from '../consent/connect.js';
import type { ConsentDeps } from '../consent/deps.js';
import type { ExportDeps } from './deps.js';
import { requestExports } from './request.js';

/**
 * The OAuth callback: completes the consent and, when the connect session asked for it
 * (`autoStart`), requests an export of every granted group (slot `connect`, so a repeated
 * callback finds the same jobs). A failure to start does not undo the consent: the application
 * can still call `POST /v1/exports`.
 */
export async function completeConsentAndStart(deps: { consent: ConsentDeps; exports: () => ExportDeps }, request: CallbackRequest) {
  const done = await completeConsent(deps.consent, request);
  let started = false;
  if (done.autoStart && done.consentId) {
    await requestExports(deps.exports(), { consentId: done.consentId, slot: 'connect' });
    started = true;
  }
  return { ...done, started };
}
