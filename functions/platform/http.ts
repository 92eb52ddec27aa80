import type { Request, Response } from '@google-cloud/functions-framework';
import { AppError } from '../core/errors.js';
import { toHttpError } from './errors.js';
import { forInvocation, traceIdFrom, type Logger } from './logger.js';
import type { Runtime } from './runtime.js';

/** What a route answers; the edge writes it. */
export interface HttpResult {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface HttpContext {
  readonly logger: Logger;
  readonly params: Readonly<Record<string, string>>;
}

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Anchored pattern on the path; named groups become `params` (already percent-decoded). */
  readonly path: RegExp;
  readonly handle: (req: Request, ctx: HttpContext) => Promise<HttpResult>;
}

/**
 * An HTTP function: routes by method and path, binds a per-request logger to the trace, maps any
 * error to a Google-style body in one place, and logs errors once, here.
 */
export function httpFunction(name: string, rt: Runtime, routes: readonly Route[]) {
  return async (req: Request, res: Response): Promise<void> => {
    const logger = forInvocation(rt.logger, rt.config.projectId, { function: name, traceId: traceIdFrom(req.headers) });
    const path = req.path;
    let result: HttpResult;
    try {
      result = await dispatch(routes, req, path, logger);
    } catch (error) {
      const mapped = toHttpError(error);
      const fields = { status: mapped.status, errorCode: mapped.body.error.status, method: req.method, path };
      if (mapped.status >= 500) logger.error({ ...fields, err: error }, 'request failed');
      else logger.info({ ...fields, detail: mapped.body.error.message }, 'request refused');
      result = { status: mapped.status, body: mapped.body };
    }
    res.status(result.status);
    res.set('Cache-Control', 'no-store');
    for (const [k, v] of Object.entries(result.headers ?? {})) res.set(k, v);
    if (result.body === undefined) res.end();
    else res.json(result.body);
  };
}

async function dispatch(routes: readonly Route[], req: Request, path: string, logger: Logger): Promise<HttpResult> {
  let pathMatched = false;
  for (const route of routes) {
    const match = route.path.exec(path);
    if (!match) continue;
    pathMatched = true;
    if (route.method !== req.method && !(route.method === 'GET' && req.method === 'HEAD')) continue;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(match.groups ?? {})) {
      try {
        params[k] = decodeURIComponent(v);
      } catch {
        throw new AppError('INVALID_ARGUMENT', `path segment ${k} is not valid percent-encoding`, {
          violations: [{ field: k, description: 'is not valid percent-encoding' }],
        });
      }
    }
    return route.handle(req, { logger, params });
  }
  if (pathMatched) throw new AppError('INVALID_ARGUMENT', `method ${req.method} is not allowed on ${path}`, { reason: 'METHOD_NOT_ALLOWED' });
  throw new AppError('NOT_FOUND', `no route for ${req.method} ${path}`);
}
