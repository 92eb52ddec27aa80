import { httpFunction, type Route } from '../platform/http.js';
import type { Runtime } from '../platform/runtime.js';

/** The application's REST API. Routes are added by the consent and export use cases. */
export function api(rt: Runtime) {
  const routes: Route[] = [
    { method: 'GET', path: /^\/healthz$/, handle: async () => ({ status: 200, body: { status: 'ok' } }) },
  ];
  return httpFunction('api', rt, routes);
}
