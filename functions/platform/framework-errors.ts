import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { invalidArgument, type AppError } from '../core/errors.js';

/**
 * Requests the Functions Framework refuses before a function runs, handed to the function instead.
 *
 * The framework (express and body-parser underneath) parses the body and decodes the path itself;
 * a body it cannot read (invalid JSON, a bare JSON value under its strict parser, an unsupported
 * charset or Content-Encoding, too many form parameters, more than its 1024 MB limit) or a path
 * that is not valid percent-encoding goes to express's default error handler, an HTML page, and
 * the function never runs. Functions Framework v5 has no way for a function to see these errors
 * (GoogleCloudPlatform/functions-framework-nodejs#686 is open) and no way to add middleware.
 *
 * So, once per server, before its first request (Node's documented `http.server.request.start`
 * diagnostics channel), this appends one error-handling middleware to the framework's express
 * app. For a client error it marks the request with what was refused and dispatches it to the
 * framework's own catch-all route, that is, to the registered function, wrapped as usual; the
 * function (`httpFunction`) reads the mark with `frameworkRefusal` and answers through its
 * ordinary error path: authentication first, then a Google-style 400 (or the HTML page of a
 * browser-facing function), logged once. Nothing else changes: only an HTTP function's app (its
 * route takes every method) is touched, an event function's app is left as it is, and any other
 * error (5xx, an aborted request) still goes to the framework.
 *
 * What this relies on beyond public APIs: the framework's server has its express app as its
 * request listener, and the app's router stack holds the function as a route (`app.all`).
 * test/unit/framework-errors.test.ts runs the real framework server, so an upgrade that changes
 * either fails there.
 */
export type FrameworkRefusal =
  /** The path is not valid percent-encoding; the function names the parameter it could not decode. */
  | { readonly kind: 'path' }
  /** The body could not be read; `error` names the field `body` and the reason. */
  | { readonly kind: 'body'; readonly error: AppError };

// Symbol.for, so that a second copy of this module (a test runner's) reads and writes the same marks.
const REFUSAL = Symbol.for('dataportability-pipeline.frameworkRefusal');
const INSTALLED = Symbol.for('dataportability-pipeline.frameworkRefusal.installed');

let subscribed = false;

/** Routes the framework's refusals of this process's HTTP servers to their functions. Idempotent. */
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

type Next = (err?: unknown) => void;

/** The parts of an express 5 app and router (the framework's) this module uses. */
interface ExpressApp {
  (req: IncomingMessage, res: ServerResponse): void;
  use(handler: (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void): unknown;
  readonly router: { readonly stack: readonly { readonly route?: FunctionRoute }[] };
  [INSTALLED]?: boolean;
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
  app[INSTALLED] = route !== undefined;
  if (!route) return;
  app.use((err, req, res, next) => {
    const refusal = res.headersSent ? undefined : refusalOf(err);
    if (!refusal) return next(err);
    (req as { [REFUSAL]?: FrameworkRefusal })[REFUSAL] = refusal;
    route.dispatch(req, res, next);
  });
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
