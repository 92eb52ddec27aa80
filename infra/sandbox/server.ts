// The sandbox: a local simulator of Google OAuth 2.0, the Data Portability API, signed archive
// URLs and an OIDC issuer. Route modules are mounted here; shared services (clock, fault
// injector, call log, persistence) are passed into them.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArchiveCache } from './archives/cache.js';
import { ArchiveService, archiveModule } from './archives/routes.js';
import { UrlSigner } from './archives/signing.js';
import { controlModule } from './control/routes.js';
import { CallLog } from './lib/call-log.js';
import type { CallRecord } from './lib/call-log.js';
import { Clock, rfc3339 } from './lib/clock.js';
import { configPatchSchema, mergeConfig } from './lib/config.js';
import type { SandboxConfig } from './lib/config.js';
import { FaultInjector } from './lib/faults.js';
import { RequestError } from './lib/errors.js';
import { dropAfter, faultResponse } from './lib/fault-effects.js';
import { renderError } from './lib/http.js';
import type { ErrorStyle } from './lib/http.js';
import { matchRoute } from './lib/router.js';
import type { RequestContext, Route, SandboxModule } from './lib/router.js';
import { freshState } from './lib/state.js';
import { StateStore } from './lib/store.js';
import { OAuthService } from './oauth/grants.js';
import { oauthModule } from './oauth/routes.js';
import { OidcIssuer } from './oidc/issuer.js';
import { oidcModule } from './oidc/routes.js';
import { MewsService } from './mews/exports.js';
import { mewsModule } from './mews/routes.js';
import { JobService } from './portability/jobs.js';
import { portabilityModule } from './portability/routes.js';
import { schedulerModule } from './scheduler/routes.js';
import { storageModule } from './storage/routes.js';

export type { SandboxConfig } from './lib/config.js';

export interface SandboxOptions {
  /** 0 or absent = a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Folder for state.json; state is in memory only without it. */
  dataDir?: string;
  /** Folder of generated archives; default `<dataDir>/archive-cache` or a folder under the OS temp dir. */
  cacheDir?: string;
  /** Config applied at start (over the saved or default config). */
  config?: Partial<SandboxConfig>;
}

export interface RunningSandbox {
  baseUrl: string;
  close(): Promise<void>;
}

/** Services every route module may use; later modules (Cloud Storage, Scheduler) get the same. */
export interface SandboxServices {
  clock: Clock;
  store: StateStore;
  faults: FaultInjector;
  calls: CallLog;
  baseUrl(): string;
  /** Mints a Google-style ID token from the sandbox issuer (for OIDC-authenticated pushes). */
  mintIdToken(audience: string, email: string): string;
}

const CONTROL_PREFIX = '/sandbox/v1/';

export async function startSandbox(options: SandboxOptions = {}): Promise<RunningSandbox> {
  const store = StateStore.open(options.dataDir, freshState);
  if (options.config) {
    const patch = configPatchSchema.safeParse(options.config);
    if (!patch.success) throw new Error(`sandbox: invalid config: ${patch.error.issues[0]?.message ?? ''}`);
    const merged = mergeConfig(store.state.config, patch.data);
    if (!merged) throw new Error('sandbox: invalid config: an archive would have more than 1000 parts or a Mews export more than 1000 files');
    store.state.config = merged;
    store.changed();
  }
  const clock = new Clock(store.state.clockOffsetMs);
  const faults = new FaultInjector();
  const calls = new CallLog();
  let baseUrl = '';
  const issuer = new OidcIssuer(store);
  const services: SandboxServices = {
    clock,
    store,
    faults,
    calls,
    baseUrl: () => baseUrl,
    mintIdToken: (audience, email) => issuer.mint(baseUrl, audience, email),
  };

  const cacheDir = options.cacheDir ?? (options.dataDir ? join(options.dataDir, 'archive-cache') : join(tmpdir(), 'dataportability-sandbox-cache'));
  const oauth = new OAuthService(store, clock);
  const jobs = new JobService(store, clock);
  const signer = new UrlSigner(store.state.urlSecret);
  const archives = new ArchiveService(store, clock, signer, new ArchiveCache(cacheDir), services.baseUrl);

  const modules: SandboxModule[] = [
    controlModule({ ...services, oauth, jobs, issuer }),
    oauthModule({ store, clock, oauth, verifyIdToken: (t) => issuer.verify(t, baseUrl) }),
    portabilityModule({ oauth, jobs, archiveUrls: (job) => archives.urls(job) }),
    archiveModule({ store, clock, signer, archives }),
    oidcModule({ issuer, baseUrl: services.baseUrl }),
    storageModule({ clock, baseUrl: services.baseUrl, dataDir: options.dataDir, cacheDir }),
    schedulerModule(services),
    mewsModule({ ...services, mews: new MewsService(store, clock, faults) }),
  ];
  const routes: Route[] = modules.flatMap((m) => m.routes);

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const method = req.method ?? 'GET';
    const q = rawUrl.indexOf('?');
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
    const match = path.startsWith('/') ? matchRoute(routes, method, path) : ({ kind: 'bad-path' } as const);
    const style: ErrorStyle = match.kind === 'ok' || match.kind === 'method' ? match.route.style : 'google';

    if (style === 'mews') res.setHeader('Request-Id', randomUUID());
    const ctx: RequestContext = { req, res, method, path, query, params: [], note: () => undefined };
    if (!path.startsWith(CONTROL_PREFIX)) {
      const arrived = rfc3339(clock.now());
      const fault = faults.take(method, path);
      const record: Omit<CallRecord, 'status'> = { method, path: path.slice(0, 2000), time: arrived, ...(fault ? { fault: fault.text } : {}) };
      ctx.note = (fields) => Object.assign(record, fields);
      res.once('close', () => calls.record({ ...record, status: res.headersSent ? res.statusCode : 0 }));
      if (fault) {
        switch (fault.action.kind) {
          case 'reset':
            req.socket.destroy();
            return;
          case 'status':
            req.resume();
            faultResponse(res, style, fault, fault.action.status);
            return;
          case 'delayMs':
            await sleep(fault.action.ms);
            break;
          case 'dropAfterBytes':
            dropAfter(res, fault.action.bytes);
            break;
          case 'bytesPerSecond':
            ctx.bytesPerSecond = fault.action.rate;
            break;
        }
      }
    }

    try {
      if (match.kind === 'bad-path') throw new RequestError(400, 'Malformed request path.');
      if (match.kind === 'none') throw new RequestError(404, `The requested URL ${path.slice(0, 200)} was not found on this server.`);
      if (match.kind === 'method') {
        res.setHeader('Allow', match.allow.join(', '));
        throw new RequestError(405, `Method ${method} not allowed on ${path.slice(0, 200)}.`);
      }
      ctx.params = match.params;
      await match.route.handle(ctx);
    } catch (err) {
      req.resume();
      renderError(res, style, err);
    }
  }

  const server = createServer({ maxHeaderSize: 64 * 1024, requestTimeout: 0 }, (req, res) => {
    dispatch(req, res).catch((err: unknown) => renderError(res, 'google', err));
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  baseUrl = `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${address.port}`;

  return {
    baseUrl,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => {
          store.flush();
          Promise.all(modules.map((m) => m.close?.())).then(
            () => (err ? reject(err) : resolve()),
            (closeError: unknown) => reject(err ?? closeError),
          );
        });
        server.closeAllConnections();
      }),
  };
}
