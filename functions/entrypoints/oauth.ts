import { startConsent } from '../core/consent/connect.js';
import { completeConsentAndStart } from '../core/exports/auto-start.js';
import { cookiesOf, httpFunction, queryParam, type Route } from '../platform/http.js';
import type { Runtime } from '../platform/runtime.js';

export const STATE_COOKIE = 'dp_oauth_state';
const CALLBACK_PATH = '/oauth2/callback';

/**
 * The public OAuth function (people's browsers): `/connect/{session}` starts consent with a
 * browser-bound state cookie, `/oauth2/callback` finishes it and returns to the application.
 */
export function oauth(rt: Runtime) {
  const secure = rt.config.oauth.publicUrl.startsWith('https://');
  const cookie = (value: string, maxAge: number) => `${STATE_COOKIE}=${value}; Path=${CALLBACK_PATH}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  const routes: Route[] = [
    {
      method: 'GET',
      path: /^\/connect\/(?<session>[A-Za-z0-9_-]{1,128})$/,
      handle: async (_req, ctx) => {
        const started = await startConsent(rt.consentDeps(), ctx.params['session'] ?? '');
        return { status: 302, headers: { Location: started.redirectUrl, 'Set-Cookie': cookie(started.state, started.stateTtlSeconds) } };
      },
    },
    {
      method: 'GET',
      path: new RegExp(`^${CALLBACK_PATH}$`),
      handle: async (req, ctx) => {
        const done = await completeConsentAndStart(
          { consent: rt.consentDeps(), exports: () => rt.exportDeps() },
          {
            state: queryParam(req, 'state'),
            code: queryParam(req, 'code'),
            error: queryParam(req, 'error'),
            boundState: cookiesOf(req)[STATE_COOKIE],
          },
        );
        ctx.logger.info(
          { outcome: done.outcome, consentId: done.consentId, exports: done.exports, ...('deferredBecause' in done ? { deferredBecause: done.deferredBecause } : {}) },
          'consent flow finished',
        );
        return { status: 302, headers: { Location: done.redirectUrl, 'Set-Cookie': cookie('', 0) } };
      },
    },
  ];
  // Neither route answers HEAD (a link previewer must not use up a connect link or a callback).
  // A connect link is a bearer token: it is never logged.
  return httpFunction('oauth', rt, routes, {
    htmlErrors: true,
    headers: { 'Referrer-Policy': 'no-referrer' },
    logPath: (path) => path.replace(/^\/connect\/.*/s, '/connect/[redacted]'),
  });
}
