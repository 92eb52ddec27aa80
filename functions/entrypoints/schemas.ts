import type { Request } from '@google-cloud/functions-framework';
import { z } from 'zod';
import { invalidArgument } from '../core/errors.js';
import { parseWith, rfc3339Timestamp, text } from '../platform/validation.js';
import { MAX_INTERVAL_HOURS, MIN_INTERVAL_HOURS, SCHEDULE_FIELDS } from '../core/consent/schedule.js';
import { TICK_KINDS } from '../core/exports/schedule.js';

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
  .array(text('must be a string').max(128, 'is too long'), { error: 'must be a list of resource groups' })
  .min(1, 'must name at least one resource group')
  .max(100, 'must name at most 100 resource groups');

export const connectSessionBody = z
  .object({
    appUserId,
    resources: resourceList,
    returnUrl: text().max(2048, 'must be at most 2048 characters'),
    autoStart: z.boolean({ error: 'must be true or false' }).default(false),
    confirmation: z.enum(['CODE', 'NONE'], { error: 'must be CODE or NONE' }).default('CODE'),
  })
  .strict();

export const connectSessionId = z.string().regex(/^[0-9a-f]{64}$/, 'is not a connect session id');

export const confirmConnectSessionBody = z.object({ code: z.string({ error: 'is required' }).regex(/^[A-Za-z0-9_-]{43}$/, 'is not a completion code') }).strict();

export const revokeBody = z.object({ erase: z.boolean({ error: 'must be true or false' }).default(false) }).strict();

export const consentId = z.string().regex(/^[A-Za-z0-9]{1,64}$/, 'is not a consent id');

export const listConsentsQuery = z
  .object({
    appUserId,
    pageSize: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(100, 'must be at most 100').default(50),
    pageToken: text().max(2048, 'is too long').optional(),
  })
  .strict();

/** The JSON body of a request: an object, or `{}` when there is none. */
export function jsonBody<S extends z.ZodType>(req: Request, schema: S): z.output<S> {
  const body: unknown = req.body;
  const empty =
    body === undefined ||
    (Buffer.isBuffer(body) && body.length === 0) ||
    body === '' ||
    (typeof body === 'object' && body !== null && !Buffer.isBuffer(body) && Object.keys(body).length === 0 && !Array.isArray(body));
  if (empty) return parseWith(schema, {});
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Buffer.isBuffer(body)) {
    throw invalidArgument([{ field: '(body)', description: 'must be a JSON object sent as application/json' }]);
  }
  return parseWith(schema, body);
}

/** The query string as a flat object of single values. */
export function queryObject(req: Request): Record<string, unknown> {
  return { ...(req.query as Record<string, unknown>) };
}

export const createExportsBody = z
  .object({
    consent: z.string({ error: 'is required' }).regex(/^consents\/[A-Za-z0-9]{1,64}$/, 'must be a consent name: consents/{id}'),
    resources: resourceList.optional(),
    startTime: rfc3339Timestamp.optional(),
    endTime: rfc3339Timestamp.optional(),
    requestId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, - or _')
      .optional(),
  })
  .strict();

export const exportId = z.string({ error: 'is required' }).regex(/^[0-9a-f]{32}$/, 'is not an export id');

export const listExportsQuery = z
  .object({
    consent: z.string({ error: 'is required' }).regex(/^consents\/[A-Za-z0-9]{1,64}$/, 'must be a consent name: consents/{id}'),
    pageSize: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(100, 'must be at most 100').default(50),
    pageToken: text().max(2048, 'is too long').optional(),
  })
  .strict();

export const emptyBody = z.object({}).strict();

/** `PATCH /v1/consents/{id}`: the schedule fields the `updateMask` query parameter names. */
export const patchConsentBody = z
  .object({
    schedule: z
      .object({
        intervalHours: z
          .number({ error: 'must be a number' })
          .int('must be a whole number of hours')
          .min(MIN_INTERVAL_HOURS, `must be at least ${MIN_INTERVAL_HOURS} (one export per 24 hours)`)
          .max(MAX_INTERVAL_HOURS, `must be at most ${MAX_INTERVAL_HOURS}`)
          .optional(),
        paused: z.boolean({ error: 'must be true or false' }).optional(),
      })
      .strict(),
  })
  .strict();

export const patchConsentQuery = z
  .object({
    updateMask: z
      .string({ error: 'is required: a comma-separated list of fields, e.g. schedule.paused' })
      .transform((v) => [
        ...new Set(
          v
            .split(',')
            .map((f) => f.trim())
            .filter(Boolean),
        ),
      ])
      .pipe(z.array(z.enum(SCHEDULE_FIELDS, { error: `must list only ${SCHEDULE_FIELDS.join(', ')}` })).min(1, 'must name at least one field')),
  })
  .strict();

/** `POST /v1/tenants`: a tenant of a source authorised by API keys (Mews). The keys are secrets: never echoed. */
export const createTenantBody = z
  .object({
    source: z.enum(['mews'], { error: 'must be mews' }),
    displayName: text().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
    platformAddress: text().min(1, 'is required').max(2048, 'must be at most 2048 characters'),
    clientToken: z.string({ error: 'is required' }).regex(/^[\x21-\x7e]{1,1024}$/, 'must be 1-1024 printable ASCII characters'),
    accessToken: z.string({ error: 'is required' }).regex(/^[\x21-\x7e]{1,1024}$/, 'must be 1-1024 printable ASCII characters'),
  })
  .strict();

export const tenantId = z.string().regex(/^[0-9a-f]{32}$/, 'is not a tenant id');

export const listTenantsQuery = z
  .object({
    pageSize: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(100, 'must be at most 100').default(50),
    pageToken: text().max(2048, 'is too long').optional(),
  })
  .strict();

/** Pub/Sub messages of the workers: each names a record, never a secret. */
export const jobMessage = z.object({ job: exportId }).strict();
export const fileMessage = z
  .object({
    job: exportId,
    file: z.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be at least 0').max(10_000, 'is too large'),
  })
  .strict();

export const pageMessage = z
  .object({
    kind: z.enum(TICK_KINDS, { error: `must be one of ${TICK_KINDS.join(', ')}` }),
    before: rfc3339Timestamp,
    after: z.object({ at: rfc3339Timestamp, id: consentId }).strict().optional(),
    page: z.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be at least 0'),
  })
  .strict();
