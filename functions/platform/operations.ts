import type { Request } from '@google-cloud/functions-framework';
import { z } from 'zod';
import type { Caller } from '../core/ports/caller-verifier.js';
import type { HttpMethod, Route } from './http.js';
import type { Logger } from './logger.js';
import { parseWith } from './validation.js';

/**
 * One operation of a REST API, declared as data: its method and path template, the schemas of its
 * path parameters, query and body (the same zod schemas validate requests), the schema of its
 * answer, the errors it documents, and a handler typed by all of them. From a list of these come
 * both the routes (`operationRoute`) and the OpenAPI document (`openApiDocument` in openapi.ts), so
 * the document cannot describe a route other than the one that runs.
 *
 * To add a route to the api function: declare it with `operation({...})` in the list of
 * `apiOperations` (functions/entrypoints/api.ts), request schemas in schemas.ts, the answer's in
 * resources.ts. It is then routed, validated, documented in /v1/openapi.json and covered by the
 * conformance test (test/unit/openapi.test.ts) without anything else to change. A raw `Route` added
 * to the function instead is served but undocumented: don't.
 */
export interface Operation<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  readonly method: HttpMethod;
  /** OpenAPI path template; `{name}` is a path parameter (one segment, no `:`), e.g. `/v1/exports/{id}:cancel`. */
  readonly path: string;
  /** Unique, lowerCamel: the method name a generated client gets. */
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  /** A `z.object` of the path template's parameters (strings). */
  readonly params?: P;
  /** A `z.object` of the query parameters (single string values, coerced by the schema). */
  readonly query?: Q;
  /** The JSON body, a `z.object`. Absent: the route takes no body (any body is refused). */
  readonly body?: B;
  /** The answer of a success (status 200 unless `status` says otherwise). */
  readonly response: R;
  readonly status?: number;
  /**
   * Error statuses this operation answers besides the ones every operation can (400 bad request,
   * 401, 403, 405, 500, 503), each with its meaning: e.g. `{ 404: 'no such export' }`.
   */
  readonly errors?: Readonly<Record<number, string>>;
  /** Whether `HEAD` runs this `GET` too (only for operations without side effects). */
  readonly head?: boolean;
  readonly handle: (input: OperationInput<P, Q, B>) => Promise<z.input<R>>;
}

export interface OperationInput<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  readonly params: z.output<P>;
  readonly query: z.output<Q>;
  readonly body: z.output<B>;
  readonly caller: Caller | undefined;
  readonly logger: Logger;
}

/** Declares an operation (the identity, for type inference of its handler). */
export function operation<P extends z.ZodType = z.ZodObject, Q extends z.ZodType = z.ZodObject, B extends z.ZodType = z.ZodObject, R extends z.ZodType = z.ZodType>(
  op: Operation<P, Q, B, R>,
): Operation {
  return op as unknown as Operation;
}

const PARAM = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;

/** The names of a path template's parameters, in order. */
export function templateParams(path: string): string[] {
  return [...path.matchAll(PARAM)].map((m) => m[1] ?? '');
}

/** The anchored pattern of a path template: each `{name}` one segment without `/` or `:`. */
function templatePattern(path: string): RegExp {
  let source = '';
  let last = 0;
  for (const m of path.matchAll(PARAM)) {
    source += escape(path.slice(last, m.index)) + `(?<${m[1] ?? ''}>[^/:]+)`;
    last = m.index + m[0].length;
  }
  return new RegExp(`^${source}${escape(path.slice(last))}$`);
}

const escape = (literal: string) => literal.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The query string as a flat object (repeated parameters stay arrays, and fail their schema). */
function queryOf(req: Request): Record<string, unknown> {
  return { ...(req.query as Record<string, unknown>) };
}

/**
 * The route of an operation: path parameters, query and body validated with the declared schemas
 * (a failure is a 400 naming each field), then the handler; its answer is sent as JSON.
 */
export function operationRoute(op: Operation, readJson: (req: Request, schema: z.ZodType) => unknown): Route {
  return {
    method: op.method,
    path: templatePattern(op.path),
    ...(op.head ? { head: true } : {}),
    ...(op.body ? {} : { maxBodyBytes: 0 }),
    handle: async (req, ctx) => {
      const params = op.params ? parseWith(op.params, ctx.params) : {};
      const query = op.query ? parseWith(op.query, queryOf(req)) : {};
      const body = op.body ? readJson(req, op.body) : undefined;
      const answer = await op.handle({ params, query, body, caller: ctx.caller, logger: ctx.logger });
      return { status: op.status ?? 200, body: answer };
    },
  };
}

/** Refuses a declaration whose path parameters and `params` schema disagree (at start-up, not per request). */
export function checkOperations(ops: readonly Operation[]): void {
  const ids = new Set<string>();
  for (const op of ops) {
    if (ids.has(op.operationId)) throw new Error(`operationId ${op.operationId} is declared twice`);
    ids.add(op.operationId);
    const declared = op.params instanceof z.ZodObject ? Object.keys(op.params.shape).sort() : [];
    const inPath = templateParams(op.path).sort();
    if (declared.join() !== inPath.join()) throw new Error(`${op.operationId}: params ${declared.join()} do not match the path ${op.path}`);
    if (op.body && !['POST', 'PUT', 'PATCH'].includes(op.method)) throw new Error(`${op.operationId}: ${op.method} takes no body`);
  }
}
