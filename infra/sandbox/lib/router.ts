import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallNote } from './call-log.js';
import type { ErrorStyle } from './http.js';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Raw path (percent-encoded, no query). */
  path: string;
  query: URLSearchParams;
  /** The route regex's capture groups, percent-decoded. */
  params: string[];
  /** Adds details to this call's call-log record (no effect on control routes, which are not logged). */
  note(fields: CallNote): void;
  /** Set by a `bytesPerSecond:N` fault: routes that stream a body pace it to this rate. */
  bytesPerSecond?: number;
}

export interface Route {
  /** Methods served; a route serving GET also answers HEAD. */
  methods: readonly string[];
  /** Anchored regex over the raw path. */
  path: RegExp;
  /** Shape of this route's errors. */
  style: ErrorStyle;
  handle(ctx: RequestContext): Promise<void> | void;
}

/** A group of routes mounted by server.ts (OAuth, Data Portability, archives, OIDC, control, …). */
export interface SandboxModule {
  name: string;
  routes: Route[];
  /** Releases what the module holds beyond its routes (threads), when the server closes. */
  close?(): Promise<void>;
}

export type RouteMatch = { kind: 'ok'; route: Route; params: string[] } | { kind: 'method'; route: Route; allow: string[] } | { kind: 'none' } | { kind: 'bad-path' };

export function matchRoute(routes: readonly Route[], method: string, path: string): RouteMatch {
  let wrongMethod: Route | undefined;
  const allow = new Set<string>();
  for (const route of routes) {
    const m = route.path.exec(path);
    if (!m) continue;
    const methods = route.methods.includes('GET') ? [...route.methods, 'HEAD'] : route.methods;
    if (!methods.includes(method)) {
      wrongMethod ??= route;
      methods.forEach((x) => allow.add(x));
      continue;
    }
    const params: string[] = [];
    for (const raw of m.slice(1)) {
      try {
        params.push(decodeURIComponent(raw ?? ''));
      } catch {
        return { kind: 'bad-path' };
      }
    }
    return { kind: 'ok', route, params };
  }
  return wrongMethod ? { kind: 'method', route: wrongMethod, allow: [...allow] } : { kind: 'none' };
}
