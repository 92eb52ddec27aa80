import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AppError, invalidArgument } from '../core/errors.js';
import { toHttpError } from './errors.js';

/**
 * The seams this project needs in the Functions Framework's express app, which v5 does not offer.
 *
 * 1. Requests the framework refuses before a function runs, handed to the function instead. The
 *    framework's router decodes the path itself; a path that is not valid percent-encoding goes to
 *    express's default error handler, an HTML page, and the function never runs. Functions
 *    Framework v5 has no way for a function to see these errors
 *    (GoogleCloudPlatform/functions-framework-nodejs#686 is open) and no way to add middleware. So
 *    an error-handling middleware is appended to the app: for a client error it marks the request
 *    with what was refused and dispatches it to the framework's own catch-all route, that is, to
 *    the registered function, wrapped as usual; `httpFunction` reads the mark with
 *    `frameworkRefusal` and answers through its ordinary error path: authentication first, then a
 *    Google-style 400 (or the HTML page of a browser-facing function), logged once.
 *
 * 2. Bodies are read only when the matched route takes one, and only within its limits. The
 *    framework inflates (gzip, deflate, br) and parses every body, up to 1024 MB inflated, before
 *    any code of ours runs: a 1 MB gzip bomb holds gigabytes. So the framework's four body parsers
 *    (body-parser's json, text, urlencoded, raw) are taken out of the app's middleware stack and
 *    kept on the request; in their place a first middleware sets the security headers
 *    (`SECURITY_HEADERS`) on every answer, the framework's own included. `httpFunction` calls
 *    `readBody` after it has authenticated the caller and matched a route: a route that takes no
 *    body refuses any; otherwise the body must be identity-encoded (no Content-Encoding), sent with
 *    a Content-Length and not chunked, and no larger than the route's limit; only then do the
 *    framework's parsers run, as they would have, so `req.body` and `req.rawBody` are the same.
 *    Since only identity bodies are read and Node never delivers more than Content-Length bytes,
 *    the parsed size is bounded by the limit.
 *
 * 3. An event function's app (its route takes POST only) gets one middleware before its parsers,
 *    which refuses with a Google-style 400 what is not a push delivery at all (`guardEventApp`).
 *    The Pub/Sub workers are HTTP functions fed by push subscriptions (platform/events.ts): they
 *    apply the same checks (`pushRequestProblem`) before reading the body with `readBody`.
 *
 * The seams are installed once per server, before its first request (Node's documented
 * `http.server.request.start` diagnostics channel, published before the server's `request`
 * listener runs).
 *
 * What this relies on beyond public APIs (functions-framework 5.x `build/src/server.js`, express 5,
 * router 2): the framework's server has its express app as its request listener; the app's router
 * stack (`app.router.stack`) holds the function as a route registered with `app.all`, and the body
 * parsers as layers named after body-parser's middleware functions (`jsonParser`, `textParser`,
 * `urlencodedParser`, `rawParser`). test/unit/framework-errors.test.ts and
 * test/e2e/decompression-bomb.test.ts run the real framework server, so an upgrade that changes
 * any of this fails there; if the parsers are not found, bodies are parsed eagerly again and the
 * header checks of `readBody` still apply (the bomb test fails).
 */
export type FrameworkRefusal =
  /** The path is not valid percent-encoding; the function names the parameter it could not decode. */
  | { readonly kind: 'path' }
  /** The body could not be read; `error` names the field `body` and the reason. */
  | { readonly kind: 'body'; readonly error: AppError };

// Symbol.for, so that a second copy of this module (a test runner's) reads and writes the same marks.
const REFUSAL = Symbol.for('dataportability-pipeline.frameworkRefusal');
const INSTALLED = Symbol.for('dataportability-pipeline.frameworkRefusal.installed');
const PARSERS = Symbol.for('dataportability-pipeline.deferredBodyParsers');

/**
 * Headers on every answer of every HTTP function: nothing may be sniffed into another type, and a
 * page (the oauth function's error page) may load nothing, run nothing, be framed by nobody and
 * submit nowhere; inline styles only.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
};

/** The largest body a route that takes one accepts by default (inflated and raw are the same: identity only). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

let subscribed = false;

/** Installs the seams (see above) in this process's function servers (HTTP and event). Idempotent. */
export function forwardFrameworkRefusals(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe('http.server.request.start', (message) => {
    const server = (message as { server?: Server }).server;
    if (!server) return;
    try {
      for (const listener of server.listeners('request')) {
        if (isExpressApp(listener)) install(listener);
      }
    } catch {
      // An app shaped otherwise keeps the framework's own answers; letting this throw would make
      // it an uncaught exception, which ends the instance.
    }
  });
}

/** What the framework refused about this request, when it handed the request over. */
export function frameworkRefusal(req: object): FrameworkRefusal | undefined {
  return (req as { [REFUSAL]?: FrameworkRefusal })[REFUSAL];
}

/**
 * Reads and parses the body of a request whose route takes at most `maxBytes` (0: none), with the
 * framework's own parsers (deferred, see above); refuses, before reading a byte, a body the route
 * does not take, any Content-Encoding but identity, a chunked body and one over the limit. Throws
 * INVALID_ARGUMENT naming `body`.
 */
export async function readBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<void> {
  const refuse = (description: string) => invalidArgument([{ field: 'body', description }]);
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || Number(length) === 0)) return; // no body
  if (maxBytes <= 0) throw refuse('must be empty: this request takes no body');
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity') throw refuse('has an unsupported Content-Encoding (send it uncompressed)');
  if (chunked || length === undefined || !/^\d+$/.test(length)) throw refuse('must be sent with a Content-Length header, not chunked');
  if (Number(length) > maxBytes) throw refuse(`exceeds the size limit of ${maxBytes} bytes`);
  const parsers = (req as { [PARSERS]?: readonly Middleware[] })[PARSERS];
  for (const parse of parsers ?? []) {
    await new Promise<void>((resolve, reject) => {
      parse(req, res, (err) => (err === undefined || err === null ? resolve() : reject(toBodyError(err))));
    });
  }
}

function toBodyError(err: unknown): unknown {
  const refusal = refusalOf(err);
  return refusal?.kind === 'body' ? refusal.error : err;
}

type Next = (err?: unknown) => void;
type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** The parts of an express 5 app and router (the framework's) this module uses. */
interface ExpressApp {
  (req: IncomingMessage, res: ServerResponse): void;
  use(handler: Middleware | ((err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void)): unknown;
  readonly router: { readonly stack: Layer[] };
  [INSTALLED]?: boolean;
}

interface Layer {
  readonly name?: string;
  readonly handle: unknown;
  readonly route?: FunctionRoute;
}

interface FunctionRoute {
  readonly methods: Readonly<Record<string, boolean>>;
  dispatch(req: IncomingMessage, res: ServerResponse, done: Next): void;
}

function isExpressApp(listener: unknown): listener is ExpressApp {
  return typeof listener === 'function' && 'use' in listener && 'handle' in listener && 'router' in listener;
}

function install(app: ExpressApp): void {
  if (app[INSTALLED] !== undefined) return;
  // An HTTP function is registered with app.all (every method); an event function with app.post.
  const route = [...app.router.stack].reverse().find((layer) => layer.route && takesEveryMethod(layer.route))?.route;
  app[INSTALLED] = true;
  if (!route) {
    if (app.router.stack.some((layer) => layer.route?.methods['post'] === true)) guardEventApp(app);
    return;
  }
  deferBodyParsers(app);
  app.use((err, req, res, next) => {
    const refusal = res.headersSent ? undefined : refusalOf(err);
    if (!refusal) return next(err);
    (req as { [REFUSAL]?: FrameworkRefusal })[REFUSAL] = refusal;
    route.dispatch(req, res, next);
  });
}

/** body-parser's middleware functions, as the framework adds them (json twice, text, urlencoded, raw). */
const BODY_PARSERS = new Set(['jsonParser', 'textParser', 'urlencodedParser', 'rawParser']);

/**
 * Takes the body parsers out of the app's stack; in place of the first, a middleware that sets the
 * security headers and keeps the parsers on the request for `readBody`.
 */
function deferBodyParsers(app: ExpressApp): void {
  const stack = app.router.stack;
  const first = stack.findIndex((layer) => BODY_PARSERS.has(layer.name ?? ''));
  const parsers: Middleware[] = [];
  for (let i = stack.length - 1; i >= 0; i--) {
    const layer = stack[i];
    if (layer && BODY_PARSERS.has(layer.name ?? '') && typeof layer.handle === 'function') {
      parsers.unshift(layer.handle as Middleware);
      stack.splice(i, 1);
    }
  }
  const guardMiddleware: Middleware = function deferredBodyParsers(req, res, next) {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    (req as { [PARSERS]?: readonly Middleware[] })[PARSERS] = parsers;
    next();
  };
  app.use(guardMiddleware);
  const guard = stack.pop();
  if (guard) stack.splice(first < 0 ? Math.min(1, stack.length) : first, 0, guard);
}

/**
 * An event function's app: what is not a push delivery at all is refused with a Google-style 400
 * before the framework's parsers and CloudEvent conversion run (a GET, or a POST without a JSON
 * body, made them answer 500): the method must be POST, the body JSON (`application/json` or
 * `application/cloudevents+json`), present, and identity-encoded (a compressed body is never
 * inflated), and no larger than `MAX_EVENT_BODY_BYTES` when its length is given. What passes is
 * the framework's as before; a JSON body that does not parse is still its 400.
 */
function guardEventApp(app: ExpressApp): void {
  const stack = app.router.stack;
  const first = stack.findIndex((layer) => BODY_PARSERS.has(layer.name ?? ''));
  const guard: Middleware = function eventRequestGuard(req, res, next) {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const problem = pushRequestProblem(req);
    if (!problem) return next();
    const { status, body, headers } = toHttpAnswer(problem);
    res.statusCode = status;
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(JSON.stringify(body));
  };
  app.use(guard);
  const layer = stack.pop();
  if (layer) stack.splice(first < 0 ? Math.min(1, stack.length) : first, 0, layer);
}

/**
 * A method the path does not take: HTTP 405 with the `Allow` header listing the ones it does (the
 * body keeps the Google shape, `INVALID_ARGUMENT` with ErrorInfo reason `METHOD_NOT_ALLOWED` and
 * the allowed methods in its metadata).
 */
export function methodNotAllowed(method: string, where: string, allow: readonly string[]): AppError {
  const list = allow.join(', ');
  return new AppError('INVALID_ARGUMENT', `method ${method} is not allowed ${where}; use ${list}`, { reason: 'METHOD_NOT_ALLOWED', metadata: { allow: list } });
}

/** `toHttpError`, with a refused method as 405 and its `Allow` header (see `methodNotAllowed`). */
export function toHttpAnswer(error: unknown): ReturnType<typeof toHttpError> & { headers: Record<string, string> } {
  const mapped = toHttpError(error);
  if (!(error instanceof AppError) || error.reason !== 'METHOD_NOT_ALLOWED' || !error.metadata['allow']) return { ...mapped, headers: {} };
  return { status: 405, body: { error: { ...mapped.body.error, code: 405 } }, headers: { Allow: error.metadata['allow'] } };
}

/** Pub/Sub's largest message (10 MB) in base64, with room for its envelope. */
export const MAX_EVENT_BODY_BYTES = 16 * 1024 * 1024;

/**
 * What makes a request not a push delivery at all (see `guardEventApp`); the Pub/Sub workers
 * (platform/events.ts, HTTP functions) refuse the same with the same 400.
 */
export function pushRequestProblem(req: IncomingMessage): AppError | undefined {
  const refuse = (description: string) => invalidArgument([{ field: 'body', description }]);
  if (req.method !== 'POST') {
    return methodNotAllowed(req.method ?? '', 'here (events are delivered with POST)', ['POST']);
  }
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (length === undefined || Number(length) === 0)) return refuse('is required: a Pub/Sub push or CloudEvent JSON body');
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json' && type !== 'application/cloudevents+json') return refuse('must be JSON (application/json)');
  if ((req.headers['content-encoding'] ?? 'identity').trim().toLowerCase() !== 'identity') return refuse('has an unsupported Content-Encoding (send it uncompressed)');
  if (length !== undefined && Number(length) > MAX_EVENT_BODY_BYTES) return refuse(`exceeds the size limit of ${MAX_EVENT_BODY_BYTES} bytes`);
  return undefined;
}

/** express 5 records app.all as every method on the route. */
function takesEveryMethod(route: FunctionRoute): boolean {
  return ['get', 'post', 'put', 'patch', 'delete'].every((m) => route.methods[m] === true);
}

/** The client errors of body-parser (`type`) and of the router's path decoding (URIError). */
interface HttpErrorLike {
  readonly status?: unknown;
  readonly type?: unknown;
  readonly body?: unknown;
  readonly limit?: unknown;
}

function refusalOf(err: unknown): FrameworkRefusal | undefined {
  if (!(err instanceof Error)) return undefined;
  const { status, type, body, limit } = err as HttpErrorLike;
  if (typeof status !== 'number' || status < 400 || status > 499) return undefined;
  if (err instanceof URIError) return { kind: 'path' };
  const refused = (description: string): FrameworkRefusal => ({ kind: 'body', error: invalidArgument([{ field: 'body', description }]) });
  switch (type) {
    case 'request.aborted':
      return undefined; // the client has gone: there is nobody to answer
    case 'entity.parse.failed':
      return refused(bareJsonValue(body) ? 'must be a JSON object, not a bare JSON value' : 'is not valid JSON');
    case 'entity.too.large':
      return refused(typeof limit === 'number' ? `exceeds the size limit of ${limit} bytes` : 'exceeds the size limit');
    case 'charset.unsupported':
      return refused('has an unsupported charset (send UTF-8)');
    case 'encoding.unsupported':
      return refused('has an unsupported Content-Encoding');
    case 'parameters.too.many':
      return refused('has too many form parameters');
    case 'querystring.parse.rangeError':
      return refused('nests form parameters too deeply');
    case 'request.size.invalid':
      return refused('does not match its Content-Length');
    default:
      return refused('could not be read');
  }
}

/** Valid JSON that the framework's strict parser refuses because it is not an object or array. */
function bareJsonValue(body: unknown): boolean {
  if (typeof body !== 'string' || /^[\t\n\r ]*[[{]/.test(body)) return false;
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}
