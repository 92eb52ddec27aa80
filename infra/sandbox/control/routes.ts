// Control and inspection API for tests (`/sandbox/v1/*`): never faulted, never in the call log.
import { z } from 'zod';
import type { CallLog } from '../lib/call-log.js';
import type { Clock } from '../lib/clock.js';
import { rfc3339 } from '../lib/clock.js';
import { MAX_PARTS, configPatchSchema, mergeConfig } from '../lib/config.js';
import { invalidArgument } from '../lib/errors.js';
import { faultRulesSchema } from '../lib/faults.js';
import type { FaultInjector } from '../lib/faults.js';
import { parseJsonBody, readJsonObject, sendJson } from '../lib/http.js';
import type { SandboxModule } from '../lib/router.js';
import type { Job } from '../lib/state.js';
import type { StateStore } from '../lib/store.js';
import type { OAuthService } from '../oauth/grants.js';
import type { OidcIssuer } from '../oidc/issuer.js';
import type { JobService } from '../portability/jobs.js';

export interface ControlDeps {
  store: StateStore;
  clock: Clock;
  faults: FaultInjector;
  calls: CallLog;
  oauth: OAuthService;
  jobs: JobService;
  issuer: OidcIssuer;
  baseUrl(): string;
}

const clientSchema = z
  .object({
    clientId: z
      .string()
      .regex(/^[A-Za-z0-9._@-]{1,300}$/, 'letters, digits and . _ @ - only')
      .refine((id) => id !== '__proto__', 'reserved'),
    clientSecret: z.string().min(1).max(300),
    redirectUris: z
      .array(
        z
          .string()
          .max(2000)
          .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), 'must be an absolute http(s) URL'),
      )
      .min(1)
      .max(50),
    publishingStatus: z.enum(['TESTING', 'IN_PRODUCTION']).optional(),
  })
  .strict();

const advanceSchema = z
  .object({
    seconds: z
      .number()
      .finite()
      .min(0)
      .max(20 * 365 * 86400),
  })
  .strict();
const idTokenSchema = z
  .object({
    audience: z.string().min(1).max(2000),
    email: z.string().regex(/^[^\s@]{1,200}@[^\s@]{1,200}$/),
    /** For negative tests: another issue time (Unix seconds), lifetime, or email_verified: false. */
    issuedAtSeconds: z.number().int().min(0).max(4_102_444_800).optional(),
    lifetimeSeconds: z.number().int().min(1).max(86400).optional(),
    emailVerified: z.boolean().optional(),
  })
  .strict();

function jobView(job: Job): Record<string, unknown> {
  return {
    archiveJobId: job.id,
    state: job.state,
    resources: job.resources,
    accessType: job.accessType,
    createdAt: rfc3339(job.createdAt),
    completeAt: rfc3339(job.completeAt),
    exportTime: rfc3339(job.exportTime),
    ...(job.startTime !== undefined ? { startTime: rfc3339(job.startTime) } : {}),
    retryCount: job.retryCount,
    ...(job.retriedBy !== undefined ? { retriedBy: job.retriedBy } : {}),
    archiveAccessEnded: job.archiveAccessEnded === true,
  };
}

export function controlModule(deps: ControlDeps): SandboxModule {
  const { store, clock, faults, calls, oauth, jobs } = deps;
  const p = (s: string) => new RegExp(`^\\/sandbox\\/v1\\/${s}$`);

  return {
    name: 'control',
    routes: [
      {
        methods: ['POST'],
        path: p('clients'),
        style: 'google',
        handle: async (ctx) => {
          const client = await parseJsonBody(ctx.req, clientSchema);
          oauth.registerClient(client);
          sendJson(ctx.res, 200, {
            clientId: client.clientId,
            redirectUris: client.redirectUris,
            publishingStatus: client.publishingStatus ?? 'IN_PRODUCTION',
          });
        },
      },
      { methods: ['GET'], path: p('config'), style: 'google', handle: (ctx) => sendJson(ctx.res, 200, store.state.config) },
      {
        methods: ['PUT', 'PATCH'],
        path: p('config'),
        style: 'google',
        handle: async (ctx) => {
          const patch = await parseJsonBody(ctx.req, configPatchSchema);
          const merged = mergeConfig(store.state.config, patch);
          if (!merged) throw invalidArgument(`Invalid config: an archive would have more than ${MAX_PARTS} parts or a Mews export more than ${MAX_PARTS} files.`);
          store.state.config = merged;
          store.changed();
          sendJson(ctx.res, 200, store.state.config);
        },
      },
      {
        methods: ['GET'],
        path: p('jobs'),
        style: 'google',
        handle: (ctx) => sendJson(ctx.res, 200, { jobs: Object.values(store.state.jobs).map((j) => jobView(jobs.settle(j))) }),
      },
      {
        methods: ['GET'],
        path: p('jobs\\/([^/:]+)'),
        style: 'google',
        handle: (ctx) => {
          const job = jobs.find(ctx.params[0] ?? '');
          if (!job) return sendJson(ctx.res, 404, { error: { code: 404, message: 'Job not found.', status: 'NOT_FOUND' } });
          sendJson(ctx.res, 200, jobView(job));
        },
      },
      {
        methods: ['POST'],
        path: p('jobs\\/([^/:]+):(complete|fail)'),
        style: 'google',
        handle: async (ctx) => {
          await readJsonObject(ctx.req);
          const job = jobs.finish(ctx.params[0] ?? '', ctx.params[1] === 'complete' ? 'COMPLETE' : 'FAILED');
          sendJson(ctx.res, 200, jobView(job));
        },
      },
      {
        methods: ['GET'],
        path: p('clock'),
        style: 'google',
        handle: (ctx) => sendJson(ctx.res, 200, { now: rfc3339(clock.now()), offsetSeconds: clock.offset / 1000 }),
      },
      {
        methods: ['POST'],
        path: p('clock:advance'),
        style: 'google',
        handle: async (ctx) => {
          const { seconds } = await parseJsonBody(ctx.req, advanceSchema);
          clock.advance(seconds);
          store.state.clockOffsetMs = clock.offset;
          store.changed();
          sendJson(ctx.res, 200, { now: rfc3339(clock.now()), offsetSeconds: clock.offset / 1000 });
        },
      },
      {
        methods: ['POST'],
        path: p('faults'),
        style: 'google',
        handle: async (ctx) => {
          const { rules } = await parseJsonBody(ctx.req, faultRulesSchema);
          faults.add(rules);
          sendJson(ctx.res, 200, { rules: faults.list() });
        },
      },
      { methods: ['GET'], path: p('faults'), style: 'google', handle: (ctx) => sendJson(ctx.res, 200, { rules: faults.list() }) },
      {
        methods: ['DELETE'],
        path: p('faults'),
        style: 'google',
        handle: (ctx) => {
          faults.clear();
          sendJson(ctx.res, 200, {});
        },
      },
      { methods: ['GET'], path: p('calls'), style: 'google', handle: (ctx) => sendJson(ctx.res, 200, { calls: calls.list() }) },
      {
        methods: ['DELETE'],
        path: p('calls'),
        style: 'google',
        handle: (ctx) => {
          calls.clear();
          sendJson(ctx.res, 200, {});
        },
      },
      {
        methods: ['POST'],
        path: p('idTokens'),
        style: 'google',
        handle: async (ctx) => {
          const { audience, email, ...options } = await parseJsonBody(ctx.req, idTokenSchema);
          sendJson(ctx.res, 200, { idToken: deps.issuer.mint(deps.baseUrl(), audience, email, options) });
        },
      },
    ],
  };
}
