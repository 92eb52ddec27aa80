import type { Request, Response } from '@google-cloud/functions-framework';
import { AppError } from '../core/errors.js';
import type { Caller } from '../core/ports/caller-verifier.js';
import { DEFAULT_MAX_BODY_BYTES, frameworkRefusal, methodNotAllowed, readBody, SECURITY_HEADERS, toHttpAnswer, type FrameworkRefusal } from './framework-errors.js';
import { forInvocation, traceIdFrom, type Logger } from './logger.js';
import type { Runtime } from './runtime.js';

/** What a route answers; the edge writes it. */
export interface HttpResult {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** An HTML page instead of a JSON body. */
  readonly html?: string;
}

export interface HttpContext {
  readonly logger: Logger;
  readonly params: Readonly<Record<string, string>>;
  /** The authenticated caller, for functions that authenticate. */
  readonly caller: Caller | undefined;
}

export interface HttpFunctionOptions {
  /** Verifies the caller before any route runs (no side effect happens for a refused caller). */
  readonly authenticate?: (req: Request) => Promise<Caller>;
  /** Paths answered without authentication (health checks). */
  readonly publicPaths?: readonly string[];
  /** Errors as a small HTML page (for people's browsers) instead of JSON. */
  readonly htmlErrors?: boolean;
  /** Headers on every answer (besides `SECURITY_HEADERS` and `Cache-Control: no-store`, always sent). */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The path as logged: a function whose paths carry secrets (the oauth function's connect
   * tokens) redacts them here; the path also disappears from logged error messages.
   */
  readonly logPath?: (path: string) => string;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Route {
  readonly method: HttpMethod;
  /** Anchored pattern on the path; named groups become `params` (already percent-decoded). */
  readonly path: RegExp;
  readonly handle: (req: Request, ctx: HttpContext) => Promise<HttpResult>;
  /**
   * Whether `HEAD` runs this `GET` route too. Off by default: a HEAD (a link previewer's) must
   * never have a GET's side effects, so only routes without any opt in.
   */
  readonly head?: boolean;
  /**
   * The largest body this route reads, in bytes; 0 refuses any body. Default: 1 MiB for POST,
   * PUT and PATCH, 0 for the others. Only identity-encoded bodies with a Content-Length are read.
   */
  readonly maxBodyBytes?: number;
}

/**
 * An HTTP function: routes by method and path, binds a per-request logger to the trace, maps any
 * error to a Google-style body in one place, and logs errors once, here. A request the Functions
 * Framework could not parse (see framework-errors.ts) is refused here too, after authentication.
 */
export function httpFunction(name: string, rt: Runtime, routes: readonly Route[], options: HttpFunctionOptions = {}) {
  return async (req: Request, res: Response): Promise<void> => {
    const logger = forInvocation(rt.logger, rt.config.projectId, { function: name, traceId: traceIdFrom(req.headers) });
    const path = req.path;
    const logged = options.logPath ?? ((p: string) => p);
    let result: HttpResult;
    try {
      const caller = options.authenticate && !options.publicPaths?.includes(path) ? await options.authenticate(req) : undefined;
      const refusal = frameworkRefusal(req);
      if (refusal) throw refusalError(refusal, routes, path);
      result = await dispatch(routes, req, res, path, logger, caller);
    } catch (error) {
      const mapped = toHttpAnswer(error);
      const fields = { status: mapped.status, errorCode: mapped.body.error.status, method: req.method, path: logged(path) };
      if (mapped.status >= 500) logger.error({ ...fields, err: error }, 'request failed');
      else logger.info({ ...fields, detail: mapped.body.error.message.replaceAll(path, logged(path)) }, 'request refused');
      result = options.htmlErrors
        ? { status: mapped.status, headers: mapped.headers, html: errorPage(mapped.status, mapped.body.error.message) }
        : { status: mapped.status, headers: mapped.headers, body: mapped.body };
    }
    res.status(result.status);
    for (const [k, v] of Object.entries({ ...options.headers, ...result.headers, ...SECURITY_HEADERS, 'Cache-Control': 'no-store' })) res.set(k, v);
    if (result.html !== undefined) res.type('html').send(result.html);
    else if (result.body === undefined) res.end();
    else res.json(result.body);
  };
}

function errorPage(status: number, message: string): string {
  const text = message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error ${status}</title></head>` +
    `<body><h1>Something went wrong</h1><p>${text}</p><p>Return to the application and start again.</p></body></html>`
  );
}

/** Cookies of a request, by name (first occurrence wins). */
export function cookiesOf(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!(name in out)) out[name] = part.slice(eq + 1).trim();
  }
  return out;
}

/** A single-valued query parameter; repeated or non-string values are refused, naming the parameter. */
export function queryParam(req: Request, name: string): string | undefined {
  const value = (req.query as Record<string, unknown>)[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw new AppError('INVALID_ARGUMENT', `query parameter ${name} must be given once`, {
      violations: [{ field: name, description: 'must be given once, as a plain value' }],
    });
  }
  return value;
}

async function dispatch(routes: readonly Route[], req: Request, res: Response, path: string, logger: Logger, caller: Caller | undefined): Promise<HttpResult> {
  const allow = new Set<string>();
  for (const route of routes) {
    const match = route.path.exec(path);
    if (!match) continue;
    allow.add(route.method);
    if (route.method === 'GET' && route.head === true) allow.add('HEAD');
    if (route.method !== req.method && !(route.method === 'GET' && req.method === 'HEAD' && route.head === true)) continue;
    const params = decodeParams(match);
    await readBody(req, res, route.maxBodyBytes ?? (['POST', 'PUT', 'PATCH'].includes(route.method) ? DEFAULT_MAX_BODY_BYTES : 0));
    return route.handle(req, { logger, params, caller });
  }
  if (allow.size > 0) throw methodNotAllowed(req.method, `on ${path}`, [...allow]);
  throw new AppError('NOT_FOUND', `no route for ${req.method} ${path}`);
}

/** A route's named groups, percent-decoded; one that does not decode is refused, naming it. */
function decodeParams(match: RegExpExecArray): Record<string, string> {
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
  return params;
}

/** The framework's refusal as our error; for a path, the route parameter that does not decode is named. */
function refusalError(refusal: FrameworkRefusal, routes: readonly Route[], path: string): AppError {
  if (refusal.kind === 'body') return refusal.error;
  for (const route of routes) {
    const match = route.path.exec(path);
    if (match) decodeParams(match); // throws, naming the parameter that does not decode
  }
  return new AppError('INVALID_ARGUMENT', 'the request path is not valid percent-encoding', {
    violations: [{ field: 'path', description: 'is not valid percent-encoding' }],
  });
}
