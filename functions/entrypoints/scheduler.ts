import { sweep } from '../core/exports/sweep.js';
import { httpFunction, type Route } from '../platform/http.js';
import type { Runtime } from '../platform/runtime.js';

/** Called by Cloud Scheduler with an OIDC token: the ticks that run the durable timers. */
export function scheduler(rt: Runtime) {
  const routes: Route[] = [
    { method: 'GET', path: /^\/healthz$/, head: true, handle: async () => ({ status: 200, body: { status: 'ok' } }) },
    {
      method: 'POST',
      path: /^\/ticks\/poll-sweep$/,
      handle: async (_req, ctx) => {
        const report = await sweep(rt.exportDeps());
        ctx.logger.info({ ...report }, 'poll sweep');
        return { status: 200, body: report };
      },
    },
  ];
  return httpFunction('scheduler', rt, routes, { authenticate: (req) => rt.schedulerCallers().verify(req.headers.authorization), publicPaths: ['/healthz'] });
}
