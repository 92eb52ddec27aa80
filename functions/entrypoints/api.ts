import { composeBundle } from '../core/bundles/compose.js';
import { getBundle } from '../core/bundles/trigger.js';
import { createConnectSession } from '../core/consent/connect.js';
import { getConsent, listConsents, patchConsent } from '../core/consent/consents.js';
import { confirmAndStart } from '../core/exports/auto-start.js';
import { disconnect } from '../core/exports/disconnect.js';
import { openDelivered } from '../core/exports/download.js';
import { cancelExport, getExport, listExports, retryExport } from '../core/exports/manage.js';
import { apiSlot, requestExports, requestTenantExports } from '../core/exports/request.js';
import { RESOURCE_GROUP_CATALOGUE } from '../core/resource-groups.js';
import { z } from 'zod';
import { deleteWebhook, getWebhook, listWebhooks, registerWebhook, rotateWebhookSecret } from '../core/webhooks/manage.js';
import { httpFunction, queryParam, type Route } from '../platform/http.js';
import { parseWith } from '../platform/validation.js';
import { consoleRoutes } from './console.js';
import { openApiDocument } from '../platform/openapi.js';
import { checkOperations, operation, operationRoute, type Operation } from '../platform/operations.js';
import { createTenant, deleteTenant, getTenant, listTenants } from '../core/tenants/tenants.js';
import { updateTenant } from '../core/tenants/schedule.js';
import type { Runtime } from '../platform/runtime.js';
import {
  confirmedConsent,
  connectSessionResource,
  consentPage,
  consentResource,
  exportRequest,
  bundleResource,
  exportPage,
  exportResource,
  health,
  resourceGroupCatalogue,
  revokedConsent,
} from './resources.js';
import {
  bundlePath,
  createBundleBody,
  confirmConnectSessionBody,
  connectSessionBody,
  consentPath,
  createExportsBody,
  downloadQuery,
  emptyBody,
  exportId,
  exportPath,
  jsonBody,
  listConsentsQuery,
  listExportsQuery,
  patchConsentBody,
  patchConsentQuery,
  revokeBody,
  sessionPath,
  createWebhookBody,
  listWebhooksQuery,
  webhookPath,
  createTenantBody,
  listTenantsQuery,
  patchTenantBody,
  patchTenantQuery,
  tenantPath,
} from './schemas.js';
import { deleted, webhookPage, webhookResource, webhookWithSecret } from './webhook-resources.js';
import { tenantPage, tenantResource } from './tenant-resources.js';

/**
 * The operations of the application's REST API. Each is declared once (see platform/operations.ts
 * for the pattern): its routing, validation and its part of /v1/openapi.json all come from here.
 * Every path but /healthz needs an allow-listed caller's ID token.
 */
export function apiOperations(rt: Runtime): Operation[] {
  const deps = () => rt.consentDeps();
  return [
    operation({
      method: 'GET',
      path: '/healthz',
      operationId: 'health',
      summary: 'Liveness check (no authentication)',
      head: true,
      response: health,
      handle: async () => ({ status: 'ok' as const }),
    }),
    operation({
      method: 'GET',
      path: '/v1/resourceGroups',
      operationId: 'listResourceGroups',
      summary: 'The resource groups a connect session or an export may name',
      response: resourceGroupCatalogue,
      handle: async () => ({ resourceGroups: RESOURCE_GROUP_CATALOGUE.map((g) => ({ ...g, scopes: [...g.scopes] })) }),
    }),
    operation({
      method: 'POST',
      path: '/v1/connectSessions',
      operationId: 'createConnectSession',
      summary: "Start connecting a user: answers the URL to send the user's browser to",
      body: connectSessionBody,
      response: connectSessionResource,
      handle: async ({ body }) => createConnectSession(deps(), body),
    }),
    operation({
      method: 'POST',
      path: '/v1/connectSessions/{id}:confirm',
      operationId: 'confirmConnectSession',
      summary: 'Confirm the browser that came back (with the code it brought) and activate its consent',
      params: sessionPath,
      body: confirmConnectSessionBody,
      response: confirmedConsent,
      errors: { 404: 'No such connect session', 409: 'The code was already used (CODE_USED)' },
      handle: async ({ params, body }) => confirmAndStart({ consent: deps(), exports: () => rt.exportDeps() }, params.id, body.code),
    }),
    operation({
      method: 'GET',
      path: '/v1/consents',
      operationId: 'listConsents',
      summary: 'Consents, of one app user or all of them, paged',
      query: listConsentsQuery,
      response: consentPage,
      handle: async ({ query }) => listConsents(deps(), query),
    }),
    operation({
      method: 'GET',
      path: '/v1/consents/{id}',
      operationId: 'getConsent',
      summary: 'A consent',
      params: consentPath,
      response: consentResource,
      errors: { 404: 'No such consent' },
      handle: async ({ params }) => getConsent(deps(), params.id),
    }),
    operation({
      method: 'PATCH',
      path: '/v1/consents/{id}',
      operationId: 'updateConsent',
      summary: "Change a time-based consent's schedule (pause, resume, interval), as updateMask says",
      params: consentPath,
      query: patchConsentQuery,
      body: patchConsentBody,
      response: consentResource,
      errors: { 404: 'No such consent' },
      handle: async ({ params, query, body }) => patchConsent(deps(), params.id, { updateMask: query.updateMask, ...body.schedule }),
    }),
    operation({
      method: 'POST',
      path: '/v1/consents/{id}:revoke',
      operationId: 'revokeConsent',
      summary: 'Revoke a consent (and with erase, delete its archives and export records)',
      params: consentPath,
      body: revokeBody,
      response: revokedConsent,
      errors: { 404: 'No such consent' },
      handle: async ({ params, body, caller }) => disconnect({ consent: deps(), exports: rt.exportDeps() }, params.id, { erase: body.erase, actor: caller?.email ?? 'unknown' }),
    }),
    operation({
      method: 'POST',
      path: '/v1/exports',
      operationId: 'createExports',
      summary: 'Export now: one export per resource group of a consent, or per entity type of a tenant',
      body: createExportsBody,
      response: exportRequest,
      errors: { 404: 'No such consent or tenant' },
      handle: async ({ body }) => {
        const shared = { slot: apiSlot(rt.clock.now(), body), ...(body.bundle ? { bundle: body.bundle } : {}) };
        if (body.tenant) return requestTenantExports(rt.exportDeps(), { tenantId: body.tenant.slice('tenants/'.length), entityTypes: body.entityTypes ?? [], ...shared });
        return requestExports(rt.exportDeps(), {
          consentId: (body.consent ?? '').slice('consents/'.length),
          ...(body.resources ? { resources: body.resources } : {}),
          ...(body.startTime ? { startTime: body.startTime } : {}),
          ...(body.endTime ? { endTime: body.endTime } : {}),
          ...shared,
        });
      },
    }),
    operation({
      method: 'GET',
      path: '/v1/exports',
      operationId: 'listExports',
      summary: "A consent's or a tenant's exports, paged",
      query: listExportsQuery,
      response: exportPage,
      handle: async ({ query }) =>
        listExports(rt.exportDeps(), {
          ...(query.tenant ? { consentId: query.tenant.slice('tenants/'.length), grantKind: 'tenant' as const } : { consentId: (query.consent ?? '').slice('consents/'.length) }),
          pageSize: query.pageSize,
          ...(query.pageToken ? { pageToken: query.pageToken } : {}),
        }),
    }),
    operation({
      method: 'GET',
      path: '/v1/exports/{id}',
      operationId: 'getExport',
      summary: 'An export, with the progress of each file',
      params: exportPath,
      response: exportResource,
      errors: { 404: 'No such export' },
      handle: async ({ params }) => getExport(rt.exportDeps(), params.id),
    }),
    operation({
      method: 'GET',
      path: '/v1/bundles/{id}',
      operationId: 'getBundle',
      summary: 'A bundle: every delivered file of one export request packed into one object',
      params: bundlePath,
      response: bundleResource,
      errors: { 404: 'No such bundle' },
      handle: async ({ params }) => getBundle(rt.exportDeps(), params.id),
    }),
    operation({
      method: 'POST',
      path: '/v1/bundles',
      operationId: 'createBundle',
      summary: 'Bundle exports already requested, of any consents and tenants, into one zip or tar.gz (the same exports and format give the same bundle)',
      body: createBundleBody,
      response: bundleResource,
      handle: async ({ body }) => composeBundle(rt.exportDeps(), { format: body.format, exports: body.exports.map((e) => e.slice('exports/'.length)) }),
    }),
    operation({
      method: 'POST',
      path: '/v1/exports/{id}:cancel',
      operationId: 'cancelExport',
      summary: 'Cancel an export',
      params: exportPath,
      body: emptyBody,
      response: exportResource,
      errors: { 404: 'No such export' },
      handle: async ({ params }) => cancelExport(rt.exportDeps(), params.id),
    }),
    operation({
      method: 'POST',
      path: '/v1/exports/{id}:retry',
      operationId: 'retryExport',
      summary: 'Run a failed or cancelled export again',
      params: exportPath,
      body: emptyBody,
      response: exportResource,
      errors: { 404: 'No such export', 409: 'Another export of the group runs (EXPORT_RUNNING)' },
      handle: async ({ params }) => retryExport(rt.exportDeps(), params.id),
    }),
    operation({
      method: 'POST',
      path: '/v1/webhooks',
      operationId: 'createWebhook',
      summary: 'Register a webhook endpoint; its signing secret is in this answer only',
      body: createWebhookBody,
      response: webhookWithSecret,
      errors: { 429: 'Too many webhooks (WEBHOOK_LIMIT)' },
      handle: async ({ body }) => registerWebhook(rt.webhookDeps(), { url: body.url, ...(body.eventTypes ? { eventTypes: body.eventTypes } : {}) }),
    }),
    operation({
      method: 'GET',
      path: '/v1/webhooks',
      operationId: 'listWebhooks',
      summary: 'The registered webhooks, paged (never a secret)',
      query: listWebhooksQuery,
      response: webhookPage,
      handle: async ({ query }) => listWebhooks(rt.webhookDeps(), { pageSize: query.pageSize, ...(query.pageToken ? { pageToken: query.pageToken } : {}) }),
    }),
    operation({
      method: 'GET',
      path: '/v1/webhooks/{id}',
      operationId: 'getWebhook',
      summary: 'A webhook',
      params: webhookPath,
      response: webhookResource,
      errors: { 404: 'No such webhook' },
      handle: async ({ params }) => getWebhook(rt.webhookDeps(), params.id),
    }),
    operation({
      method: 'DELETE',
      path: '/v1/webhooks/{id}',
      operationId: 'deleteWebhook',
      summary: 'Delete a webhook; deliveries still queued for it are dropped',
      params: webhookPath,
      response: deleted,
      errors: { 404: 'No such webhook' },
      handle: async ({ params }) => deleteWebhook(rt.webhookDeps(), params.id),
    }),
    operation({
      method: 'POST',
      path: '/v1/webhooks/{id}:rotateSecret',
      operationId: 'rotateWebhookSecret',
      summary: 'A new signing secret (shown once); the old one stays valid for 24 hours',
      params: webhookPath,
      body: emptyBody,
      response: webhookWithSecret,
      errors: { 404: 'No such webhook' },
      handle: async ({ params }) => rotateWebhookSecret(rt.webhookDeps(), params.id),
    }),
    operation({
      method: 'POST',
      path: '/v1/tenants',
      operationId: 'createTenant',
      summary: 'Register a tenant of a source authorised by API keys (Mews); the keys are sealed and never returned',
      body: createTenantBody,
      response: tenantResource,
      handle: async ({ body, caller }) => createTenant(rt.tenantDeps(), body, caller?.email ?? 'unknown'),
    }),
    operation({
      method: 'GET',
      path: '/v1/tenants',
      operationId: 'listTenants',
      summary: 'The tenants, paged',
      query: listTenantsQuery,
      response: tenantPage,
      handle: async ({ query }) => listTenants(rt.tenantDeps(), query),
    }),
    operation({
      method: 'GET',
      path: '/v1/tenants/{id}',
      operationId: 'getTenant',
      summary: 'A tenant (never its keys)',
      params: tenantPath,
      response: tenantResource,
      errors: { 404: 'No such tenant' },
      handle: async ({ params }) => getTenant(rt.tenantDeps(), params.id),
    }),
    operation({
      method: 'PATCH',
      path: '/v1/tenants/{id}',
      operationId: 'updateTenant',
      summary: "Change a tenant's display name or its schedule (set, remove, pause, resume, interval, entity types, next export time), as updateMask says",
      params: tenantPath,
      query: patchTenantQuery,
      body: patchTenantBody,
      response: tenantResource,
      errors: { 404: 'No such tenant' },
      handle: async ({ params, query, body }) => updateTenant(rt.tenantDeps(), params.id, { updateMask: query.updateMask, ...body }),
    }),
    operation({
      method: 'DELETE',
      path: '/v1/tenants/{id}',
      operationId: 'deleteTenant',
      summary: 'Delete a tenant: its running exports end, its sealed keys are deleted, the deletion is audited',
      params: tenantPath,
      response: tenantResource,
      errors: { 404: 'No such tenant' },
      handle: async ({ params, caller }) => deleteTenant({ tenant: rt.tenantDeps(), exports: rt.exportDeps() }, params.id, caller?.email ?? 'unknown'),
    }),
  ];
}

/** Paths answered without authentication. */
const PUBLIC_PATHS = ['/healthz'];

/**
 * The api function: its operations, and `GET /v1/openapi.json`, their OpenAPI 3.1 document. The
 * document needs the same caller authentication as the API it describes: it is for the
 * application's developers, who hold a token, and it tells a stranger nothing it may not know.
 */
export function api(rt: Runtime, operations: readonly Operation[] = apiOperations(rt)) {
  let document: unknown;
  const described: Operation[] = [
    ...operations,
    operation({
      method: 'GET',
      path: '/v1/openapi.json',
      operationId: 'getOpenApiDocument',
      summary: 'This document (OpenAPI 3.1)',
      head: true,
      response: z.record(z.string(), z.unknown()),
      handle: async () => {
        document ??= openApiDocument(
          {
            title: 'Data portability pipeline API',
            version: '1',
            description: "The application's REST API: connect users, follow their consents, export their data.",
            publicPaths: PUBLIC_PATHS,
          },
          described,
        );
        return document as Record<string, unknown>;
      },
    }),
  ];
  checkOperations(described);
  const routes = [...described.map((op) => operationRoute(op, jsonBody)), ...byteRoutes(rt)];
  return httpFunction('api', rt, routes, { authenticate: (req) => rt.callers().verify(req.headers.authorization), publicPaths: PUBLIC_PATHS });
}

/**
 * Routes that answer bytes, not JSON (so not in the OpenAPI document): a delivered object of an
 * export, streamed from the private bucket (the console's download links), and the web console.
 */
function byteRoutes(rt: Runtime): Route[] {
  return [
    {
      method: 'GET',
      path: /^\/v1\/exports\/(?<id>[^/:]+):download$/,
      handle: async (req, ctx) => {
        const { file } = parseWith(downloadQuery, { file: queryParam(req, 'file') });
        const id = parseWith(exportId, ctx.params['id'], 'name');
        const got = await openDelivered({ jobs: rt.exportDeps().jobs, reader: rt.archiveReader() }, id, file);
        const disposition = `attachment; filename="${got.fileName.replace(/[^\w.-]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(got.fileName)}`;
        return { status: 200, bytes: { contentType: got.contentType, data: got.stream, length: got.bytes }, headers: { 'Content-Disposition': disposition } };
      },
    },
    ...consoleRoutes(),
  ];
}
