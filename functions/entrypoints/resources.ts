import { z } from 'zod';
import { ACCESS_TYPES, CONSENT_STATUSES } from '../core/consent/model.js';
import { END_REASONS, JOB_STATES } from '../core/exports/model.js';
import { RESOURCE_GROUPS } from '../core/resource-groups.js';
import { BUNDLE_STATES } from '../core/bundles/model.js';
import { BUNDLE_FORMATS } from '../core/ports/bundle-packer.js';
import { SOURCE_NAMES } from '../core/ports/export-source.js';

/**
 * What the api function answers, as schemas: the OpenAPI document's answer shapes are generated
 * from these (platform/openapi.ts), and the routes' handlers are typed by them (api.ts), so an
 * answer that gains, loses or retypes a field no longer compiles, and one that differs at run time
 * fails the conformance test (test/unit/openapi.test.ts).
 */

const time = z.string().meta({ format: 'date-time', description: 'RFC 3339, UTC' });

const schedule = z.object({
  intervalHours: z.number().int().meta({ description: 'Hours between scheduled exports (24-4320)' }),
  paused: z.boolean(),
  nextExportTime: time.optional(),
  lastExportTimes: z.record(z.string(), time).meta({ description: 'Per resource group, the exportTime of its last delivered export' }),
});

export const consentResource = z
  .object({
    name: z.string().meta({ description: 'consents/{id}', examples: ['consents/4f9c2a7e1b'] }),
    appUserId: z.string().meta({ description: "The application's id for its user (empty once erased)" }),
    state: z.enum(CONSENT_STATUSES),
    resources: z.array(z.object({ resource: z.string(), accessType: z.enum(ACCESS_TYPES) })),
    grantTime: time,
    expireTime: time.optional(),
    updateTime: time,
    confirmDeadline: time.optional(),
    detail: z.string().optional(),
    schedule: schedule.optional().meta({ description: 'Time-based consents only' }),
  })
  .meta({ id: 'Consent' });

export const connectSessionResource = z
  .object({
    name: z.string().meta({ description: 'connectSessions/{id}' }),
    connectUrl: z.string().meta({ description: "Where to send the user's browser (single use)" }),
    expireTime: time,
  })
  .meta({ id: 'ConnectSession' });

export const confirmedConsent = consentResource
  .extend({ exports: z.enum(['none', 'started', 'deferred', 'refused']).meta({ description: 'What the auto-start did' }) })
  .meta({ id: 'ConfirmedConsent' });

export const revokedConsent = consentResource
  .extend({ erased: z.boolean(), deletedObjects: z.number().int().optional().meta({ description: 'With erase: archive objects deleted' }) })
  .meta({ id: 'RevokedConsent' });

export const consentPage = z.object({ consents: z.array(consentResource), nextPageToken: z.string().optional() }).meta({ id: 'ConsentPage' });

const exportFile = z.object({
  name: z.string(),
  object: z.string().meta({ description: 'Object name in the archive bucket' }),
  state: z.enum(['PENDING', 'DONE']),
  bytes: z.number().int().optional(),
  crc32c: z.string().optional(),
  bytesCopied: z
    .number()
    .int()
    .meta({ description: "Bytes in the bucket so far: the transfer's last checkpoint while it copies (it lags by less than one checkpoint interval), all of them once DONE" }),
  totalBytes: z.number().int().optional().meta({ description: 'The archive size, once the download has said it' }),
});

export const exportResource = z
  .object({
    name: z.string().meta({ description: 'exports/{id}' }),
    source: z.enum(SOURCE_NAMES).meta({ description: 'The export API the job runs on' }),
    consent: z.string().optional().meta({ description: "consents/{id}: the consent a user's export runs under (absent on a tenant's)" }),
    tenant: z.string().optional().meta({ description: "tenants/{id}: the tenant an export of configured API keys runs under (absent on a consent's)" }),
    resource: z.string().meta({ description: "The unit exported: a consent's resource group, or a tenant's entity type" }),
    state: z.enum(JOB_STATES),
    accessType: z.enum(ACCESS_TYPES).optional(),
    startTime: time.optional(),
    endTime: time.optional(),
    exportTime: time.optional(),
    upstreamJobId: z.string().optional(),
    upstreamJobHistory: z.array(z.string()),
    nextCheckTime: time.optional(),
    notBeforeTime: time.optional(),
    files: z.array(exportFile),
    manifest: z.string().optional(),
    detail: z.string().optional(),
    endReason: z.enum(END_REASONS).optional(),
    createTime: time,
    updateTime: time,
    deliverTime: time.optional(),
  })
  .meta({ id: 'Export' });

export const exportList = z.object({ exports: z.array(exportResource) }).meta({ id: 'ExportList' });

export const bundleResource = z
  .object({
    name: z.string().meta({ description: 'bundles/{id}' }),
    subject: z.string().meta({ description: 'Whose data it is: consents/{id} or tenants/{id}; bundles/{id} (the bundle itself) when its exports belong to several grants' }),
    format: z.enum(BUNDLE_FORMATS),
    state: z.enum(BUNDLE_STATES),
    exports: z.array(z.string().meta({ description: 'exports/{id}' })),
    object: z.string().meta({ description: 'The bundle object in the archive bucket (there once DELIVERED)' }),
    bytes: z.number().int().optional(),
    crc32c: z.string().optional(),
    failedExports: z.array(z.string()).optional().meta({ description: 'Exports of the request that delivered nothing (listed in the manifest too)' }),
    detail: z.string().optional(),
    createTime: time,
    updateTime: time,
    deliverTime: time.optional(),
  })
  .meta({ id: 'Bundle' });

/** The answer to an export request: its exports, and the bundle when one was asked for. */
export const exportRequest = exportList.extend({ bundle: bundleResource.optional() }).meta({ id: 'ExportRequest' });
export const exportPage = exportList.extend({ nextPageToken: z.string().optional() }).meta({ id: 'ExportPage' });

export const resourceGroupCatalogue = z
  .object({
    resourceGroups: z.array(
      z
        .object({
          name: z.enum(RESOURCE_GROUPS),
          title: z.string(),
          scopes: z.array(z.string()),
          timeBased: z.boolean().meta({ description: 'Can be granted for 30 or 180 days (recurring exports)' }),
          timeFilter: z.boolean().meta({ description: 'Exports can be limited to a time window; scheduled exports are incremental' }),
        })
        .meta({ id: 'ResourceGroup' }),
    ),
  })
  .meta({ id: 'ResourceGroupCatalogue' });

export const health = z.object({ status: z.literal('ok') });
