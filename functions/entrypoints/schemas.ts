import type { Request } from '@google-cloud/functions-framework';
import { z } from 'zod';
import { invalidArgument } from '../core/errors.js';
import { expected, parseWith, rfc3339Timestamp, text } from '../platform/validation.js';
import { MAX_INTERVAL_HOURS, MIN_INTERVAL_HOURS, SCHEDULE_FIELDS } from '../core/consent/schedule.js';
import { PAGE_KINDS } from '../core/exports/schedule.js';
import { TENANT_DEFAULT_INTERVAL_HOURS, TENANT_MAX_INTERVAL_HOURS, TENANT_MIN_INTERVAL_HOURS, TENANT_UPDATE_FIELDS } from '../core/tenants/schedule.js';
import { BUNDLE_FORMATS } from '../core/ports/bundle-packer.js';
import { MAX_BUNDLE_EXPORTS } from '../core/bundles/compose.js';
import { EVENT_TYPES } from '../core/events.js';

/**
 * Request schemas of the api function, validated at the boundary. Every free-text string is
 * well-formed Unicode (`text`); every timestamp a strict RFC 3339 one (`rfc3339Timestamp`).
 */

/**
 * The application's id for its user: 1-128 characters of `A-Z a-z 0-9 . _ @ + -`, not starting
 * with a dot. It names a folder of the archive bucket, so this set always makes one valid object
 * name segment: never `.` or `..`, no `/`, no control characters, at most 128 bytes.
 */
const appUserId = text()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9._@+-]+$/, 'may only contain letters A-Z and a-z, digits and . _ @ + -')
  .regex(/^[^.]/, 'must not start with a dot');

const resourceList = z
  .array(text().max(128, 'is too long'), { error: expected('a list of resource group names') })
  .min(1, 'must name at least one resource group')
  .max(100, 'must name at most 100 resource groups');

export const connectSessionBody = z
  .object({
    appUserId,
    resources: resourceList,
    returnUrl: text().max(2048, 'must be at most 2048 characters'),
    autoStart: z.boolean({ error: expected('true or false') }).default(false),
    confirmation: z.enum(['CODE', 'NONE'], { error: expected('CODE or NONE') }).default('CODE'),
  })
  .strict()
  .meta({ examples: [{ appUserId: 'user-1', resources: ['myactivity.search'], returnUrl: 'https://app.example.com/connected' }] });

export const connectSessionId = z.string({ error: expected('a string') }).regex(/^[0-9a-f]{64}$/, 'is not a connect session id');

export const confirmConnectSessionBody = z
  .object({ code: z.string({ error: expected('a string') }).regex(/^[A-Za-z0-9_-]{43}$/, 'is not a completion code') })
  .strict()
  .meta({ examples: [{ code: 'q3Jx0cV8mM2nWf6tYbA1sD4gH7jK9lZ0pR5uE2iO3wQ' }] });

export const revokeBody = z
  .object({ erase: z.boolean({ error: expected('true or false') }).default(false) })
  .strict()
  .meta({ examples: [{ erase: true }] });

export const consentId = z.string({ error: expected('a string') }).regex(/^[A-Za-z0-9]{1,64}$/, 'is not a consent id');

/** The paging query parameters of every list route. */
const pageFields = {
  pageSize: z.coerce
    .number({ error: expected('a number') })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(50),
  pageToken: text().max(2048, 'is too long').optional(),
};

export const listConsentsQuery = z
  .object({
    // Optional: without it every consent is listed, page by page (the console's list).
    appUserId: appUserId.meta({ examples: ['user-1'] }).optional(),
    ...pageFields,
  })
  .strict();

/** What a request body must be; the one violation of a body that is something else. */
const JSON_BODY_REQUIRED = 'must be a JSON object sent with Content-Type: application/json';

/**
 * The JSON body of a request: an object, or `{}` when there is none. A body of another type (a
 * form, plain text, none named) is refused as a whole, with one violation naming `body`, before
 * any of its fields is looked at: the framework parses a form into fields, which would otherwise
 * come back as a list of violations of fields nobody sent.
 */
export function jsonBody<S extends z.ZodType>(req: Request, schema: S): z.output<S> {
  const sent = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (sent && !isJsonType(req.headers['content-type'])) throw invalidArgument([{ field: 'body', description: JSON_BODY_REQUIRED }]);
  const body: unknown = req.body;
  const empty =
    body === undefined ||
    (Buffer.isBuffer(body) && body.length === 0) ||
    body === '' ||
    (typeof body === 'object' && body !== null && !Buffer.isBuffer(body) && Object.keys(body).length === 0 && !Array.isArray(body));
  if (empty) return parseWith(schema, {});
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Buffer.isBuffer(body)) {
    throw invalidArgument([{ field: 'body', description: JSON_BODY_REQUIRED }]);
  }
  return parseWith(schema, body);
}

/** `application/json` (any parameters, any case) or a `+json` type such as `application/merge-patch+json`. */
function isJsonType(header: string | undefined): boolean {
  const type = (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

const consentRef = z.string({ error: expected('a string') }).regex(/^consents\/[A-Za-z0-9]{1,64}$/, 'must be a consent name: consents/{id}');
const tenantRef = z.string({ error: expected('a string') }).regex(/^tenants\/[0-9a-f]{32}$/, 'must be a tenant name: tenants/{id}');

/** Checked by the core against the list of the tenant's source (Mews: OrderItem, Payment, Reservation…). */
const entityTypeList = z
  .array(text().max(64, 'is too long'), { error: expected('a list of entity type names') })
  .min(1, 'must name at least one entity type')
  .max(100, 'must name at most 100 entity types');

/** Exactly one of `consent` / `tenant`, as a violation naming the field that is wrong. */
function oneGrant(v: { consent?: string | undefined; tenant?: string | undefined }, ctx: z.RefinementCtx): void {
  if (v.consent === undefined && v.tenant === undefined) ctx.addIssue({ code: 'custom', path: ['consent'], message: 'is required: name a consent or a tenant' });
  if (v.consent !== undefined && v.tenant !== undefined) ctx.addIssue({ code: 'custom', path: ['tenant'], message: 'must not be given with consent: name a consent or a tenant' });
}

/**
 * `POST /v1/exports`: a user's export (`consent`, with `resources`, `startTime`, `endTime`) or a
 * tenant's (`tenant`, with `entityTypes`): exactly one of the two, and only the fields of that kind.
 */
export const createExportsBody = z
  .object({
    consent: consentRef.optional(),
    tenant: tenantRef.optional(),
    resources: resourceList.optional(),
    startTime: rfc3339Timestamp.optional(),
    endTime: rfc3339Timestamp.optional(),
    entityTypes: entityTypeList.optional(),
    requestId: z
      .string({ error: expected('a string') })
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, - or _')
      .optional(),
    bundle: z.enum(BUNDLE_FORMATS, { error: `must be one of ${BUNDLE_FORMATS.map((f) => JSON.stringify(f)).join(', ')}` }).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    oneGrant(v, ctx);
    if (v.tenant !== undefined) {
      if (v.entityTypes === undefined) ctx.addIssue({ code: 'custom', path: ['entityTypes'], message: 'is required with tenant' });
      for (const field of ['resources', 'startTime', 'endTime'] as const) {
        if (v[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: "applies to a consent's export, not a tenant's (use entityTypes)" });
      }
    } else if (v.entityTypes !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['entityTypes'], message: "applies to a tenant's export, not a consent's (use resources)" });
    }
  })
  .meta({
    examples: [
      { consent: 'consents/c1', resources: ['myactivity.search'], bundle: 'zip' },
      { tenant: 'tenants/0123456789abcdef0123456789abcdef', entityTypes: ['Reservation', 'Customer'], requestId: 'nightly-2026-12-03' },
    ],
  });

export const exportId = z.string({ error: expected('a string') }).regex(/^[0-9a-f]{32}$/, 'is not an export id');

const exportRef = z.string({ error: expected('a string') }).regex(/^exports\/[0-9a-f]{32}$/, 'must be an export name: exports/{id}');

/** `POST /v1/bundles`: exports already requested, of any consents and tenants, packed into one object. Repeats and unknown exports are refused by the core. */
export const createBundleBody = z
  .object({
    exports: z
      .array(exportRef, { error: expected('a list of export names') })
      .min(1, 'must name at least one export')
      .max(MAX_BUNDLE_EXPORTS, `must name at most ${MAX_BUNDLE_EXPORTS} exports`),
    format: z.enum(BUNDLE_FORMATS, { error: `is required: one of ${BUNDLE_FORMATS.map((f) => JSON.stringify(f)).join(', ')}` }),
  })
  .strict()
  .meta({ examples: [{ exports: ['exports/0123456789abcdef0123456789abcdef', 'exports/fedcba9876543210fedcba9876543210'], format: 'tar.gz' }] });

/** `GET /v1/exports`: the exports of one consent or of one tenant. */
export const listExportsQuery = z
  .object({
    consent: consentRef.meta({ examples: ['consents/c1'] }).optional(),
    tenant: tenantRef.optional().meta({ description: 'tenants/{id}: list the exports of a tenant instead of a consent' }),
    ...pageFields,
  })
  .strict()
  .superRefine(oneGrant);

export const emptyBody = z
  .object({})
  .strict()
  .meta({ examples: [{}] });

/** `PATCH /v1/consents/{id}`: the schedule fields the `updateMask` query parameter names. */
export const patchConsentBody = z
  .object({
    schedule: z
      .object({
        intervalHours: z
          .number({ error: expected('a number') })
          .int('must be a whole number of hours')
          .min(MIN_INTERVAL_HOURS, `must be at least ${MIN_INTERVAL_HOURS} (one export per 24 hours)`)
          .max(MAX_INTERVAL_HOURS, `must be at most ${MAX_INTERVAL_HOURS}`)
          .optional(),
        paused: z.boolean({ error: expected('true or false') }).optional(),
      })
      .strict(),
  })
  .strict()
  .meta({ examples: [{ schedule: { paused: true } }] });

/**
 * A PATCH's `updateMask`: comma-separated field paths, each known; one violation naming the query
 * parameter (not an index into it) that lists every unknown path.
 */
function updateMask<F extends string>(fields: readonly F[]) {
  return z
    .string({ error: 'is required: a comma-separated list of fields, e.g. schedule.paused' })
    .transform((v) => [
      ...new Set(
        v
          .split(',')
          .map((f) => f.trim())
          .filter(Boolean),
      ),
    ])
    .superRefine((paths, ctx) => {
      const unknown = paths.filter((p) => !(fields as readonly string[]).includes(p));
      if (paths.length === 0) ctx.addIssue({ code: 'custom', message: 'must name at least one field' });
      else if (unknown.length > 0) ctx.addIssue({ code: 'custom', message: `names unknown field(s) ${unknown.join(', ')}: must list only ${fields.join(', ')}` });
    })
    .transform((paths) => paths as F[])
    .meta({ description: `Comma-separated: ${fields.join(', ')}`, examples: ['schedule.paused'] });
}

export const patchConsentQuery = z.object({ updateMask: updateMask(SCHEDULE_FIELDS) }).strict();

/** A tenant's schedule as a request gives it (the entity types are checked by the core against its source's). */
const tenantScheduleFields = {
  entityTypes: entityTypeList,
  intervalHours: z
    .number({ error: expected('a number') })
    .int('must be a whole number of hours')
    .min(TENANT_MIN_INTERVAL_HOURS, `must be at least ${TENANT_MIN_INTERVAL_HOURS}`)
    .max(TENANT_MAX_INTERVAL_HOURS, `must be at most ${TENANT_MAX_INTERVAL_HOURS}`),
  paused: z.boolean({ error: expected('true or false') }),
  nextExportTime: rfc3339Timestamp,
};
const tenantSchedule = z
  .object({
    ...tenantScheduleFields,
    intervalHours: tenantScheduleFields.intervalHours.optional(),
    paused: tenantScheduleFields.paused.optional(),
    nextExportTime: tenantScheduleFields.nextExportTime.optional(),
  })
  .strict()
  .meta({ description: `Scheduled exports: each entity type every intervalHours (default ${TENANT_DEFAULT_INTERVAL_HOURS}), the first at nextExportTime (default now)` });

/** `PATCH /v1/tenants/{id}`: the fields the `updateMask` query parameter names (`schedule: null` with mask `schedule` removes it). */
export const patchTenantBody = z
  .object({
    displayName: text().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional(),
    schedule: z
      .object({
        entityTypes: tenantScheduleFields.entityTypes.optional(),
        intervalHours: tenantScheduleFields.intervalHours.optional(),
        paused: tenantScheduleFields.paused.optional(),
        nextExportTime: tenantScheduleFields.nextExportTime.optional(),
      })
      .strict()
      .nullable()
      .optional(),
  })
  .strict()
  .meta({ examples: [{ schedule: { paused: true } }] });

export const patchTenantQuery = z.object({ updateMask: updateMask(TENANT_UPDATE_FIELDS) }).strict();

/** `POST /v1/tenants`: a tenant of a source authorised by API keys (Mews). The keys are secrets: never echoed. */
export const createTenantBody = z
  .object({
    source: z.enum(['mews'], { error: 'must be mews' }),
    displayName: text().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
    platformAddress: text().min(1, 'is required').max(2048, 'must be at most 2048 characters'),
    clientToken: z.string({ error: expected('a string') }).regex(/^[\x21-\x7e]{1,1024}$/, 'must be 1-1024 printable ASCII characters'),
    accessToken: z.string({ error: expected('a string') }).regex(/^[\x21-\x7e]{1,1024}$/, 'must be 1-1024 printable ASCII characters'),
    schedule: tenantSchedule.optional(),
  })
  .strict()
  .meta({
    examples: [
      {
        source: 'mews',
        displayName: 'Hotel Example',
        platformAddress: 'https://api.mews-demo.com',
        clientToken: 'client-token',
        accessToken: 'access-token',
        schedule: { entityTypes: ['Reservation', 'Customer'], intervalHours: 24 },
      },
    ],
  });

export const tenantId = z.string({ error: expected('a string') }).regex(/^[0-9a-f]{32}$/, 'is not a tenant id');
export const tenantPath = z.object({ id: tenantId }).strict();

export const listTenantsQuery = z
  .object({
    ...pageFields,
  })
  .strict();

/** Pub/Sub messages of the workers: each names a record, never a secret. */
export const jobMessage = z.object({ job: exportId }).strict();
/** A check of one job, or of a batch of jobs of one grant (the sweep's grouped checks). */
export const pollMessage = z
  .object({ job: exportId.optional(), jobs: z.array(exportId).min(1, 'must name at least one job').max(1000, 'must name at most 1000 jobs').optional() })
  .strict()
  .transform((m, ctx): { job: string } | { jobs: string[] } => {
    if (m.job !== undefined && m.jobs === undefined) return { job: m.job };
    if (m.jobs !== undefined && m.job === undefined) return { jobs: m.jobs };
    ctx.addIssue({ code: 'custom', path: ['job'], message: 'exactly one of job and jobs is required' });
    return z.NEVER;
  });
export const fileMessage = z
  .object({
    job: exportId,
    file: z
      .number({ error: expected('a number') })
      .int('must be a whole number')
      .min(0, 'must be at least 0')
      .max(10_000, 'is too large'),
  })
  .strict();

export const bundleId = z.string({ error: 'is required' }).regex(/^[0-9a-f]{32}$/, 'is not a bundle id');
export const bundleMessage = z.object({ bundle: bundleId }).strict();

export const pageMessage = z
  .object({
    kind: z.enum(PAGE_KINDS, { error: expected(`one of ${PAGE_KINDS.join(', ')}`) }),
    before: rfc3339Timestamp,
    after: z.object({ at: rfc3339Timestamp, id: consentId }).strict().optional(),
    page: z
      .number({ error: expected('a number') })
      .int('must be a whole number')
      .min(0, 'must be at least 0'),
  })
  .strict();

/** Path parameters of the api's routes (operations.ts): each `{id}` of a path template. */
export const sessionPath = z.object({ id: connectSessionId }).strict();
export const consentPath = z.object({ id: consentId }).strict();
export const exportPath = z.object({ id: exportId }).strict();
export const bundlePath = z.object({ id: bundleId }).strict();
export const webhookPath = z.object({ id: z.string({ error: 'is required' }).regex(/^[0-9a-f]{32}$/, 'is not a webhook id') }).strict();

/**
 * `POST /v1/webhooks`: an http(s) URL without credentials or fragment (the deployment's policy,
 * https and public addresses in production, is checked by the core), and optionally the event types
 * to receive (all of them when left out).
 */
export const createWebhookBody = z
  .object({
    url: text()
      .max(2048, 'must be at most 2048 characters')
      .superRefine((v, ctx) => {
        const url = URL.canParse(v) ? new URL(v) : undefined;
        const problem = !url
          ? 'must be an absolute URL'
          : !/^https?:$/.test(url.protocol)
            ? 'must be an https URL'
            : url.username || url.password
              ? 'must not carry credentials'
              : url.hash
                ? 'must not have a fragment'
                : undefined;
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    eventTypes: z
      .array(z.enum(EVENT_TYPES, { error: `must be one of ${EVENT_TYPES.join(', ')}` }), { error: 'must be a list of event types' })
      .min(1, 'must name at least one event type (leave it out to receive every event)')
      .max(EVENT_TYPES.length, `must name at most ${EVENT_TYPES.length} event types`)
      .optional(),
  })
  .strict()
  .meta({ examples: [{ url: 'https://hooks.example.com/dataportability', eventTypes: ['export.delivered'] }] });

export const webhookId = z.string({ error: 'is required' }).regex(/^[0-9a-f]{32}$/, 'is not a webhook id');

export const listWebhooksQuery = z
  .object({
    ...pageFields,
  })
  .strict();

/** An application event as the webhook fan-out reads it from `export-events` (other fields pass through). */
export const webhookEventMessage = z.looseObject({
  id: z.string({ error: 'is required' }).min(1, 'must not be empty').max(1024, 'is too long'),
  type: z.string({ error: 'is required' }).min(1, 'must not be empty').max(128, 'is too long'),
});

export const webhookDeliveryMessage = z
  .object({
    webhook: webhookId,
    event: webhookEventMessage,
    enqueuedAt: rfc3339Timestamp.transform((d) => d.toISOString()),
  })
  .strict();

/** `GET /v1/exports/{id}:download?file=…`: a delivered file's name, or `manifest.json`. */
export const downloadQuery = z
  .object({
    file: text().min(1, 'must not be empty').max(512, 'is too long'),
  })
  .strict();
