import { createConnectSession } from '../core/consent/connect.js';
import { getConsent, listConsents, revokeConsent } from '../core/consent/consents.js';
import { httpFunction, type Route } from '../platform/http.js';
import type { Runtime } from '../platform/runtime.js';
import { parseWith } from '../platform/validation.js';
import { connectSessionBody, consentId, jsonBody, listConsentsQuery, queryObject, revokeBody } from './schemas.js';

/** The application's REST API; every route but /healthz needs an allow-listed caller's ID token. */
export function api(rt: Runtime) {
  const deps = () => rt.consentDeps();
  const routes: Route[] = [
    { method: 'GET', path: /^\/healthz$/, handle: async () => ({ status: 200, body: { status: 'ok' } }) },
    {
      method: 'POST',
      path: /^\/v1\/connectSessions$/,
      handle: async (req) => ({ status: 200, body: await createConnectSession(deps(), jsonBody(req, connectSessionBody)) }),
    },
    {
      method: 'GET',
      path: /^\/v1\/consents$/,
      handle: async (req) => ({ status: 200, body: await listConsents(deps(), parseWith(listConsentsQuery, queryObject(req))) }),
    },
    {
      method: 'GET',
      path: /^\/v1\/consents\/(?<id>[^/:]+)$/,
      handle: async (_req, ctx) => ({ status: 200, body: await getConsent(deps(), parseWith(consentId, ctx.params['id'], 'name')) }),
    },
    {
      method: 'POST',
      path: /^\/v1\/consents\/(?<id>[^/:]+):revoke$/,
      handle: async (req, ctx) => {
        jsonBody(req, revokeBody);
        const id = parseWith(consentId, ctx.params['id'], 'name');
        return { status: 200, body: await revokeConsent(deps(), id, ctx.caller?.email ?? 'unknown') };
      },
    },
  ];
  return httpFunction('api', rt, routes, { authenticate: (req) => rt.callers().verify(req.headers.authorization), publicPaths: ['/healthz'] });
}
