import { startTick, TICK_KINDS, type TickKind } from '../core/exports/schedule.js';
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
    {
      // The exports tick and the expiry tick: each publishes its first page and answers at once.
      method: 'POST',
      path: new RegExp(`^/ticks/(?<kind>${TICK_KINDS.join('|')})$`),
      handle: async (req, ctx) => {
        const started = await startTick(rt.exportDeps(), ctx.params['kind'] as TickKind);
        ctx.logger.info({ ...started, scheduleTime: req.headers['x-cloudscheduler-scheduletime'] }, 'tick started');
        return { status: 200, body: started };
      },
    },
  ];
  return httpFunction('scheduler', rt, routes, { authenticate: (req) => rt.schedulerCallers().verify(req.headers.authorization), publicPaths: ['/healthz'] });
}
