// Mews Connector API exports (`{base}/mews/api/connector/v1/exports/add|getAll`), the download of
// their JSON Lines files (`{base}/mews-exports/…?sv=…&se=…&sig=…`), and the Mews part of the
// control API (`/sandbox/v1/mews/…`: tenants, export views, forced ends, seeding).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { parseRange } from '../archives/routes.js';
import type { Clock } from '../lib/clock.js';
import { invalidArgument, MewsError, notFound, StorageXmlError } from '../lib/errors.js';
import { parseJsonBody, readJsonObject, sendJson } from '../lib/http.js';
import { pace } from '../lib/pace.js';
import type { RequestContext, SandboxModule } from '../lib/router.js';
import type { MewsExportRecord, MewsTenantRecord } from '../lib/state.js';
import type { StateStore } from '../lib/store.js';
import { fileBytes, MEWS_ENTITY_TYPES } from './content.js';
import type { MewsEntityType } from './content.js';
import type { MewsService } from './exports.js';
import { FileUrlSigner, MEWS_FILES_PREFIX, filePath } from './file-urls.js';

export interface MewsDeps {
  store: StateStore;
  clock: Clock;
  mews: MewsService;
  baseUrl(): string;
}

/** The platform address of the sandbox's Mews: `{base}/mews`. */
export const MEWS_PREFIX = '/mews';

const tokenString = z
  .string()
  .min(1)
  .max(300)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

const tenantSchema = z
  .object({
    clientToken: tokenString,
    accessToken: tokenString,
    enterpriseName: z.string().min(1).max(200).optional(),
    exportsEnabled: z.boolean().optional(),
  })
  .strict();

const seedSchema = z
  .object({
    enterpriseId: z.string().min(1).max(100),
    entityType: z.enum(MEWS_ENTITY_TYPES),
    count: z.number().int().min(1).max(10_000),
    status: z.enum(['Pending', 'Processing', 'Success', 'Failed', 'Expired']).optional(),
  })
  .strict();

export function mewsModule(deps: MewsDeps): SandboxModule {
  const { store, clock, mews } = deps;
  const signer = new FileUrlSigner(store.state.urlSecret);
  const platformAddress = (): string => deps.baseUrl() + MEWS_PREFIX;

  function fileSpec(exp: MewsExportRecord, index: number, size: number) {
    return { exportId: exp.id, enterpriseId: exp.enterpriseId, entityType: exp.entityType as MewsEntityType, createdAt: exp.createdAt, index, size };
  }

  /** The Export object of the Connector API; a Success export gets freshly signed file URLs. */
  function exportView(exp: MewsExportRecord, withScope: boolean): Record<string, unknown> {
    const status = mews.status(exp);
    const ttl = store.state.config.mewsFileUrlTtlSeconds;
    const files =
      status === 'Success' ? mews.fileSizes(exp).map((size, i) => ({ Url: signer.sign(deps.baseUrl(), filePath(exp.id, i), clock.now(), ttl), SizeInBytes: size })) : [];
    return {
      Id: exp.id,
      Status: status,
      EntityType: exp.entityType,
      ...(withScope ? { Scope: { EnterpriseIds: [exp.enterpriseId], ChainIds: null } } : {}),
      Files: files,
      ExpiresUtc: new Date(exp.expiresAt).toISOString(),
    };
  }

  async function body(ctx: RequestContext): Promise<{ tenant: MewsTenantRecord; fields: Record<string, unknown> }> {
    const fields = await readJsonObject(ctx.req);
    const tenant = mews.authenticate(fields);
    return { tenant, fields };
  }

  async function add(ctx: RequestContext): Promise<void> {
    const { tenant, fields } = await body(ctx);
    const entityType = typeof fields.EntityType === 'string' ? fields.EntityType.slice(0, 100) : undefined;
    ctx.note({ mews: { enterpriseId: tenant.enterpriseId, ...(entityType !== undefined ? { entityType } : {}) } });
    const { exp, fault } = mews.add(tenant, fields.EntityType, ctx.path);
    if (fault) ctx.note({ fault });
    sendJson(ctx.res, 200, { Export: exportView(exp, false) });
  }

  async function getAll(ctx: RequestContext): Promise<void> {
    const { tenant, fields } = await body(ctx);
    const ids = Array.isArray(fields.ExportIds) ? fields.ExportIds.filter((i): i is string => typeof i === 'string').map((i) => i.slice(0, 100)) : undefined;
    ctx.note({ mews: { enterpriseId: tenant.enterpriseId, ...(ids ? { exportIds: ids } : {}) } });
    const found = mews.getAll(tenant, fields.ExportIds);
    sendJson(ctx.res, 200, { Exports: found.map((e) => exportView(e, true)) });
  }

  async function download(ctx: RequestContext): Promise<void> {
    signer.verify(ctx.path, ctx.query, clock.now());
    const [exportId = '', number = ''] = ctx.params;
    const exp = mews.find(exportId);
    const index = Number(number) - 1;
    const size = exp && mews.status(exp) === 'Success' ? mews.fileSizes(exp)[index] : undefined;
    if (!exp || size === undefined) throw new StorageXmlError(404, 'BlobNotFound', 'The specified blob does not exist.');
    ctx.note({ mews: { enterpriseId: exp.enterpriseId, exportId: exp.id } });
    const range = parseRange(ctx.req.headers.range, size);
    if (range === 'unsatisfiable') {
      throw new StorageXmlError(416, 'InvalidRange', 'The range specified is invalid for the current size of the resource.', '', { 'Content-Range': `bytes */${size}` });
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const etag = createHash('sha256').update(`${exp.id}|${index}|${size}|${exp.createdAt}`).digest('hex').slice(0, 15).toUpperCase();
    ctx.res.writeHead(range ? 206 : 200, {
      'Content-Type': 'application/jsonl',
      'Content-Length': String(end - start + 1),
      'Accept-Ranges': 'bytes',
      ETag: `"0x8D${etag}"`,
      'Last-Modified': new Date(exp.completeAt).toUTCString(),
      'x-ms-blob-type': 'BlockBlob',
      'x-ms-version': '2023-11-03',
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (ctx.method === 'HEAD') {
      ctx.res.end();
      return;
    }
    const source = Readable.from(fileBytes(fileSpec(exp, index, size), start, end));
    try {
      await (ctx.bytesPerSecond ? pipeline(source, pace(ctx.bytesPerSecond), ctx.res) : pipeline(source, ctx.res));
    } catch {
      // the client went away (or a fault cut the connection): nothing left to answer
      ctx.res.destroy();
    }
  }

  function exportControlView(exp: MewsExportRecord): Record<string, unknown> {
    return {
      id: exp.id,
      enterpriseId: exp.enterpriseId,
      entityType: exp.entityType,
      status: mews.status(exp),
      createdUtc: new Date(exp.createdAt).toISOString(),
      processingUtc: new Date(exp.processingAt).toISOString(),
      completeUtc: new Date(exp.completeAt).toISOString(),
      expiresUtc: new Date(exp.expiresAt).toISOString(),
      outcome: exp.outcome,
      fileSizes: mews.fileSizes(exp),
    };
  }

  function tenantView(t: MewsTenantRecord): Record<string, unknown> {
    return { enterpriseId: t.enterpriseId, enterpriseName: t.enterpriseName, platformAddress: platformAddress(), exportsEnabled: t.exportsEnabled };
  }

  const api = (action: string) => new RegExp(`^\\/mews\\/api\\/connector\\/v1\\/exports\\/${action}$`);
  const control = (s: string) => new RegExp(`^\\/sandbox\\/v1\\/mews\\/${s}$`);
  const ANY = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

  return {
    name: 'mews',
    routes: [
      { methods: ['POST'], path: api('add'), style: 'mews', handle: add },
      { methods: ['POST'], path: api('getAll'), style: 'mews', handle: getAll },
      {
        methods: ANY,
        path: /^\/mews(?:\/.*)?$/,
        style: 'mews',
        handle: (ctx) => {
          ctx.req.resume();
          throw new MewsError(404, `Operation ${ctx.method} ${ctx.path.slice(0, 200)} not found.`);
        },
      },
      { methods: ['GET'], path: new RegExp(`^${MEWS_FILES_PREFIX}\\/([0-9a-f-]{36})-(\\d{1,4})\\.jsonl$`), style: 'xml', handle: download },
      {
        methods: ['POST'],
        path: control('tenants'),
        style: 'google',
        handle: async (ctx) => sendJson(ctx.res, 200, tenantView(mews.registerTenant(await parseJsonBody(ctx.req, tenantSchema)))),
      },
      { methods: ['GET'], path: control('tenants'), style: 'google', handle: (ctx) => sendJson(ctx.res, 200, { tenants: mews.tenants().map(tenantView) }) },
      {
        methods: ['DELETE'],
        path: control('tenants\\/([^/]+)'),
        style: 'google',
        handle: (ctx) => {
          if (!mews.removeTenant(ctx.params[0] ?? '')) throw notFound('Enterprise not found.');
          sendJson(ctx.res, 200, {});
        },
      },
      {
        methods: ['GET'],
        path: control('exports'),
        style: 'google',
        handle: (ctx) => {
          const enterprise = ctx.query.get('enterpriseId');
          const all = Object.values(store.state.mewsExports).filter((e) => enterprise === null || e.enterpriseId === enterprise);
          sendJson(ctx.res, 200, { exports: all.map(exportControlView) });
        },
      },
      {
        methods: ['GET'],
        path: control('exports\\/([^/:]+)'),
        style: 'google',
        handle: (ctx) => {
          const exp = mews.find(ctx.params[0] ?? '');
          if (!exp) throw notFound('Export not found.');
          sendJson(ctx.res, 200, exportControlView(exp));
        },
      },
      {
        methods: ['POST'],
        path: control('exports\\/([^/:]+):(complete|fail|expire)'),
        style: 'google',
        handle: async (ctx) => {
          await readJsonObject(ctx.req);
          const target = ctx.params[1] === 'complete' ? 'Success' : ctx.params[1] === 'fail' ? 'Failed' : 'Expired';
          try {
            sendJson(ctx.res, 200, exportControlView(mews.force(ctx.params[0] ?? '', target)));
          } catch (err) {
            if (err instanceof MewsError) throw err.httpStatus === 404 ? notFound(err.message) : invalidArgument(err.message);
            throw err;
          }
        },
      },
      {
        methods: ['POST'],
        path: control('exports:seed'),
        style: 'google',
        handle: async (ctx) => {
          const { enterpriseId, entityType, count, status } = await parseJsonBody(ctx.req, seedSchema);
          try {
            const created = mews.seed(enterpriseId, entityType, count, status ?? 'Success');
            sendJson(ctx.res, 200, { exportIds: created.map((e) => e.id) });
          } catch (err) {
            if (err instanceof MewsError) throw notFound(err.message);
            throw err;
          }
        },
      },
    ],
  };
}
