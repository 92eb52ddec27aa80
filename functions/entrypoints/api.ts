import { createConnectSession } from '../core/consent/connect.js';
import { getConsent, listConsents, patchConsent } from '../core/consent/consents.js';
import { confirmAndStart } from '../core/exports/auto-start.js';
import { disconnect } from '../core/exports/disconnect.js';
import { cancelExport, getExport, listExports, retryExport } from '../core/exports/manage.js';
import { apiSlot, requestExports } from '../core/exports/request.js';
import { createTenant, deleteTenant, getTenant, listTenants } from '../core/tenants/tenants.js';
import { httpFunction, type Route } from '../platform/http.js';
import type { Runtime } from '../platform/runtime.js';
import { parseWith } from '../platform/validation.js';
import {
  confirmConnectSessionBody,
  connectSessionBody,
  connectSessionId,
  consentId,
  createExportsBody,
  emptyBody,
  exportId,
  jsonBody,
  listConsentsQuery,
  patchConsentBody,
  patchConsentQuery,
  listExportsQuery,
  queryObject,
  revokeBody,
  createTenantBody,
  listTenantsQuery,
  tenantId,
} from './schemas.js';

/** The application's REST API; every route but /healthz needs an allow-listed caller's ID token. */
export function api(rt: Runtime) {
  const deps = () => rt.consentDeps();
  const routes: Route[] = [
    { method: 'GET', path: /^\/healthz$/, head: true, handle: async () => ({ status: 200, body: { status: 'ok' } }) },
    {
      method: 'POST',
      path: /^\/v1\/connectSessions$/,
      handle: async (req) => ({ status: 200, body: await createConnectSession(deps(), jsonBody(req, connectSessionBody)) }),
    },
    {
      method: 'POST',
      path: /^\/v1\/connectSessions\/(?<id>[^/:]+):confirm$/,
      handle: async (req, ctx) => {
        const { code } = jsonBody(req, confirmConnectSessionBody);
        const id = parseWith(connectSessionId, ctx.params['id'], 'name');
        return { status: 200, body: await confirmAndStart({ consent: deps(), exports: () => rt.exportDeps() }, id, code) };
      },
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
      method: 'PATCH',
      path: /^\/v1\/consents\/(?<id>[^/:]+)$/,
      handle: async (req, ctx) => {
        const { updateMask } = parseWith(patchConsentQuery, queryObject(req));
        const { schedule } = jsonBody(req, patchConsentBody);
        const id = parseWith(consentId, ctx.params['id'], 'name');
        return { status: 200, body: await patchConsent(deps(), id, { updateMask, ...schedule }) };
      },
    },
    {
      method: 'POST',
      path: /^\/v1\/consents\/(?<id>[^/:]+):revoke$/,
      handle: async (req, ctx) => {
        const { erase } = jsonBody(req, revokeBody);
        const id = parseWith(consentId, ctx.params['id'], 'name');
        return { status: 200, body: await disconnect({ consent: deps(), exports: rt.exportDeps() }, id, { erase, actor: ctx.caller?.email ?? 'unknown' }) };
      },
    },
    {
      method: 'POST',
      path: /^\/v1\/exports$/,
      handle: async (req) => {
        const body = jsonBody(req, createExportsBody);
        return {
          status: 200,
          body: await requestExports(rt.exportDeps(), {
            consentId: body.consent.slice('consents/'.length),
            ...(body.resources ? { resources: body.resources } : {}),
            ...(body.startTime ? { startTime: body.startTime } : {}),
            ...(body.endTime ? { endTime: body.endTime } : {}),
            slot: apiSlot(rt.clock.now(), body),
          }),
        };
      },
    },
    {
      method: 'GET',
      path: /^\/v1\/exports$/,
      handle: async (req) => {
        const q = parseWith(listExportsQuery, queryObject(req));
        return {
          status: 200,
          body: await listExports(rt.exportDeps(), { consentId: q.consent.slice('consents/'.length), pageSize: q.pageSize, ...(q.pageToken ? { pageToken: q.pageToken } : {}) }),
        };
      },
    },
    {
      method: 'GET',
      path: /^\/v1\/exports\/(?<id>[^/:]+)$/,
      handle: async (_req, ctx) => ({ status: 200, body: await getExport(rt.exportDeps(), parseWith(exportId, ctx.params['id'], 'name')) }),
    },
    {
      method: 'POST',
      path: /^\/v1\/exports\/(?<id>[^/:]+):cancel$/,
      handle: async (req, ctx) => {
        jsonBody(req, emptyBody);
        return { status: 200, body: await cancelExport(rt.exportDeps(), parseWith(exportId, ctx.params['id'], 'name')) };
      },
    },
    {
      method: 'POST',
      path: /^\/v1\/exports\/(?<id>[^/:]+):retry$/,
      handle: async (req, ctx) => {
        jsonBody(req, emptyBody);
        return { status: 200, body: await retryExport(rt.exportDeps(), parseWith(exportId, ctx.params['id'], 'name')) };
      },
    },
    {
      method: 'POST',
      path: /^\/v1\/tenants$/,
      handle: async (req, ctx) => ({ status: 200, body: await createTenant(rt.tenantDeps(), jsonBody(req, createTenantBody), ctx.caller?.email ?? 'unknown') }),
    },
    {
      method: 'GET',
      path: /^\/v1\/tenants$/,
      handle: async (req) => ({ status: 200, body: await listTenants(rt.tenantDeps(), parseWith(listTenantsQuery, queryObject(req))) }),
    },
    {
      method: 'GET',
      path: /^\/v1\/tenants\/(?<id>[^/:]+)$/,
      handle: async (_req, ctx) => ({ status: 200, body: await getTenant(rt.tenantDeps(), parseWith(tenantId, ctx.params['id'], 'name')) }),
    },
    {
      method: 'DELETE',
      path: /^\/v1\/tenants\/(?<id>[^/:]+)$/,
      handle: async (_req, ctx) => {
        const id = parseWith(tenantId, ctx.params['id'], 'name');
        return { status: 200, body: await deleteTenant({ tenant: rt.tenantDeps(), exports: rt.exportDeps() }, id, ctx.caller?.email ?? 'unknown') };
      },
    },
  ];
  return httpFunction('api', rt, routes, { authenticate: (req) => rt.callers().verify(req.headers.authorization), publicPaths: ['/healthz'] });
}
