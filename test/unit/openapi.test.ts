import _Ajv2020 from 'ajv/dist/2020.js';
import _addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExportsBody } from '../../functions/entrypoints/schemas.js';
import { apiOperations } from '../../functions/entrypoints/api.js';
import { operation, type Operation } from '../../functions/platform/operations.js';
import type { Runtime } from '../../functions/platform/runtime.js';
import { GOOD_TOKEN, startApiOnFakes } from '../fixtures/api-server.js';

/**
 * Issue 14: /v1/openapi.json against what the server does. Every operation of the document is
 * driven on the served api function (the real Functions Framework server, ports on fakes) with a
 * valid request built from the document (its parameters, its body examples; ids and the
 * completion code from the run), and with invalid ones derived from its schemas (each required
 * field missing, an unknown field, a wrong type, a bad path parameter, no token, each method the
 * path does not take); every answer must have a documented status and validate against the
 * documented schema. Then the same check runs against servers with one route broken on purpose,
 * and must find each break.
 */

// CommonJS modules: their `default` export is the class and the function.
const Ajv2020 = _Ajv2020.default;
const addFormats = _addFormats.default;

type Json = Record<string, unknown>;
interface Parameter {
  readonly name: string;
  readonly in: 'path' | 'query';
  readonly required: boolean;
  readonly schema: Json;
}
interface OperationDoc {
  readonly operationId: string;
  readonly parameters?: Parameter[];
  readonly requestBody?: { required: boolean; content: { 'application/json': { schema: Json } } };
  readonly responses: Record<string, { headers?: Json; content?: { 'application/json': { schema: Json } } }>;
  readonly security?: unknown[];
}
interface Document {
  readonly openapi: string;
  readonly paths: Record<string, Record<string, OperationDoc>>;
  readonly components: { schemas: Record<string, Json> };
}
interface Answer {
  readonly status: number;
  readonly allow: string | null;
  readonly contentType: string | null;
  readonly body: unknown;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** Values of the run the document's examples cannot know: the ids of what the run created, the code. */
interface RunValues {
  consent?: string;
  session?: string;
  code?: string;
  export?: string;
  bundle?: string;
  tenant?: string;
  webhook?: string;
}

/**
 * The conformance check: drives `base` with requests derived from `doc`; answers every way the
 * server and the document disagree (empty: they agree).
 */
async function conformanceProblems(
  base: string,
  doc: Document,
  approve: (connectUrl: string, resources: ['myactivity.search']) => Promise<Record<string, string>>,
): Promise<{ problems: string[]; checked: number }> {
  const problems: string[] = [];
  let checked = 0;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const validators = new Map<string, ReturnType<typeof ajv.compile>>();
  const validate = (schema: Json, value: unknown, label: string) => {
    const key = JSON.stringify(schema);
    let check = validators.get(key);
    if (!check) {
      check = ajv.compile({ ...schema, components: doc.components });
      validators.set(key, check);
    }
    if (!check(value)) problems.push(`${label}: answer does not match the document: ${ajv.errorsText(check.errors)} in ${JSON.stringify(value).slice(0, 300)}`);
  };

  const send = async (method: string, path: string, init: { query?: Record<string, string>; body?: unknown; auth?: boolean } = {}): Promise<Answer> => {
    const url = new URL(base + path);
    for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = {};
    if (init.auth !== false) headers['Authorization'] = `Bearer ${GOOD_TOKEN}`;
    if (init.body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(url, { method, headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // kept as text: not JSON, reported below
    }
    return { status: res.status, allow: res.headers.get('allow'), contentType: res.headers.get('content-type'), body };
  };

  /** The answer against the operation's documented responses; true when it is the documented success. */
  const check = (op: OperationDoc, label: string, a: Answer, expect?: { status?: number; field?: string }): boolean => {
    checked++;
    const documented = op.responses[String(a.status)];
    if (!documented) {
      problems.push(`${label}: status ${a.status} is not documented (${JSON.stringify(a.body).slice(0, 200)})`);
      return false;
    }
    if (expect?.status !== undefined && a.status !== expect.status) {
      problems.push(`${label}: answered ${a.status}, the document says ${expect.status} (${JSON.stringify(a.body).slice(0, 200)})`);
    }
    const schema = documented.content?.['application/json'].schema;
    if (schema) {
      if (!a.contentType?.startsWith('application/json')) problems.push(`${label}: answered ${a.contentType ?? 'no content type'}, not JSON`);
      validate(schema, a.body, `${label} ${a.status}`);
    }
    if (documented.headers?.['Allow'] && !a.allow) problems.push(`${label}: ${a.status} without its documented Allow header`);
    if (expect?.field) {
      const fields = ((a.body as { error?: { details?: { fieldViolations?: { field: string }[] }[] } })?.error?.details ?? [])
        .flatMap((d) => d.fieldViolations ?? [])
        .map((v) => v.field);
      if (!fields.includes(expect.field)) problems.push(`${label}: the 400 does not name ${expect.field} (named: ${fields.join(', ') || 'nothing'})`);
    }
    return a.status >= 200 && a.status < 300;
  };

  const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));
  const byId = new Map(operations.map((o) => [o.op.operationId, o]));
  const run: RunValues = { consent: 'c1' };
  /** A path with its parameters filled from the run (by the resource the path names). */
  const fill = (path: string) =>
    path.replace(/\{(\w+)\}/g, () =>
      path.startsWith('/v1/connectSessions/')
        ? (run.session ?? 'f'.repeat(64))
        : path.startsWith('/v1/exports/')
          ? (run.export ?? '0'.repeat(32))
          : path.startsWith('/v1/bundles/')
            ? (run.bundle ?? '0'.repeat(32))
            : path.startsWith('/v1/webhooks/')
              ? (run.webhook ?? '0'.repeat(32))
              : path.startsWith('/v1/tenants/')
                ? (run.tenant ?? '0'.repeat(32))
                : (run.consent ?? 'c1'),
    );
  const firstExample = (schema: Json | undefined): unknown => (Array.isArray(schema?.['examples']) ? (schema['examples'] as unknown[])[0] : undefined);
  const queryOf = (op: OperationDoc) => {
    const query: Record<string, string> = {};
    for (const p of op.parameters ?? []) {
      if (p.in !== 'query') continue;
      const value = p.name === 'consent' ? `consents/${run.consent}` : firstExample(p.schema);
      if (value !== undefined) query[p.name] = String(value);
      else if (p.required) problems.push(`${op.operationId}: required query parameter ${p.name} has no example to build a request from`);
    }
    return query;
  };
  const bodyOf = (op: OperationDoc): Json | undefined => {
    if (!op.requestBody) return undefined;
    const example = firstExample(op.requestBody.content['application/json'].schema) as Json | undefined;
    if (example === undefined) {
      problems.push(`${op.operationId}: request body has no example to build a request from`);
      return {};
    }
    return {
      ...example,
      ...('consent' in example ? { consent: `consents/${run.consent}` } : {}),
      ...('exports' in example && run.export ? { exports: [`exports/${run.export}`] } : {}),
      ...('code' in example && run.code ? { code: run.code } : {}),
    };
  };

  // 1. Each documented operation, with a valid request, in an order that creates what the next use.
  const order = [
    'health',
    'getOpenApiDocument',
    'listResourceGroups',
    'createConnectSession',
    'confirmConnectSession',
    'listConsents',
    'getConsent',
    'updateConsent',
    'createExports',
    'listExports',
    'getExport',
    'getBundle',
    'createBundle',
    'cancelExport',
    'retryExport',
    'createWebhook',
    'listWebhooks',
    'getWebhook',
    'rotateWebhookSecret',
    'revokeConsent',
    'deleteWebhook',
    'createTenant',
    'listTenants',
    'getTenant',
    'updateTenant',
    'deleteTenant',
  ];
  for (const o of operations) if (!order.includes(o.op.operationId)) problems.push(`${o.op.operationId} (${o.method} ${o.path}) is not exercised: add it to this test's order`);
  for (const id of order) {
    const o = byId.get(id);
    if (!o) {
      problems.push(`${id} is not in the document`);
      continue;
    }
    const a = await send(o.method, fill(o.path), { query: queryOf(o.op), body: bodyOf(o.op), auth: o.op.security?.length !== 0 });
    if (!check(o.op, `${id} (valid request)`, a, { status: 200 })) continue;
    const answer = a.body as Json;
    if (id === 'createConnectSession') {
      const query = await approve(String(answer['connectUrl']), ['myactivity.search']);
      run.session = String(answer['name']).split('/')[1];
      run.code = query['code'];
      run.consent = query['consent']?.split('/')[1];
    }
    if (id === 'createTenant') run.tenant = String(answer['name']).split('/')[1];
    if (id === 'createWebhook') run.webhook = String(answer['name']).split('/')[1];
    if (id === 'createExports') {
      run.export = String((answer['exports'] as Json[])[0]?.['name']).split('/')[1];
      run.bundle = String((answer['bundle'] as Json | undefined)?.['name']).split('/')[1];
    }
  }

  // 2. Invalid requests derived from the document, for each operation.
  for (const { path, method, op } of operations) {
    const label = `${op.operationId}`;
    const valid = { query: queryOf(op), body: bodyOf(op) };
    if (op.security?.length !== 0) check(op, `${label} without a token`, await send(method, fill(path), { ...valid, auth: false }), { status: 401 });
    for (const p of op.parameters ?? []) {
      if (p.in === 'path') {
        const bad = path.replace(`{${p.name}}`, '%21bad');
        check(op, `${label} with path parameter ${p.name} invalid`, await send(method, fill(bad), valid), { status: 400, field: p.name });
      } else if (p.required) {
        const { [p.name]: _, ...rest } = valid.query;
        check(op, `${label} without query parameter ${p.name}`, await send(method, fill(path), { ...valid, query: rest }), { status: 400, field: p.name });
      } else if (typeof p.schema['pattern'] === 'string') {
        // An optional parameter with a documented form: a value of another form is refused, naming it.
        check(op, `${label} with query parameter ${p.name} invalid`, await send(method, fill(path), { ...valid, query: { ...valid.query, [p.name]: '!bad' } }), {
          status: 400,
          field: p.name,
        });
      }
    }
    const schema = op.requestBody?.content['application/json'].schema;
    const resolved = schema && typeof schema['$ref'] === 'string' ? doc.components.schemas[String(schema['$ref']).split('/').pop()!] : schema;
    if (resolved && valid.body) {
      if (resolved['additionalProperties'] === false) {
        check(op, `${label} with an unknown body field`, await send(method, fill(path), { ...valid, body: { ...valid.body, unknownField: 1 } }), {
          status: 400,
          field: 'unknownField',
        });
      }
      for (const field of (resolved['required'] ?? []) as string[]) {
        const { [field]: _, ...rest } = valid.body;
        check(op, `${label} without body field ${field}`, await send(method, fill(path), { ...valid, body: rest }), { status: 400, field });
      }
      const props = (resolved['properties'] ?? {}) as Record<string, Json>;
      for (const [field, prop] of Object.entries(props)) {
        const wrong = prop['type'] === 'string' || prop['type'] === 'array' ? 42 : 'not-a-number-or-flag';
        check(op, `${label} with body field ${field} of a wrong type`, await send(method, fill(path), { ...valid, body: { ...valid.body, [field]: wrong } }), {
          status: 400,
          field,
        });
      }
    } else if (!op.requestBody && method !== 'GET' && method !== 'DELETE') {
      problems.push(`${label}: ${method} documented without a request body`);
    }
    if (!op.requestBody && method === 'GET') {
      // A body where the document takes none is refused, naming it (Node sends a GET body only with a length).
      const res = await fetch(base + fill(path), {
        method,
        headers: { Authorization: `Bearer ${GOOD_TOKEN}`, 'Content-Type': 'application/json', 'Content-Length': '2' },
        body: '{}',
      }).catch(() => undefined);
      if (res)
        check(
          op,
          `${label} with a body`,
          { status: res.status, allow: null, contentType: res.headers.get('content-type'), body: (await res.json()) as unknown },
          { status: 400, field: 'body' },
        );
    }
  }

  // 3. Each documented path takes exactly its documented methods: any other is a 405 naming them.
  for (const [path, methods] of Object.entries(doc.paths)) {
    const documented = Object.keys(methods).map((m) => m.toUpperCase());
    const op = Object.values(methods)[0]!;
    for (const method of METHODS.filter((m) => !documented.includes(m))) {
      const a = await send(method, fill(path), { auth: op.security?.length !== 0 });
      check(op, `${method} ${path} (not documented)`, a, { status: 405 });
      const allowed = (a.allow ?? '').split(/,\s*/).filter((m) => m && m !== 'HEAD');
      if (a.status === 405 && allowed.sort().join() !== [...documented].sort().join())
        problems.push(`${method} ${path}: Allow ${a.allow} but the document has ${documented.join(', ')}`);
    }
  }
  return { problems, checked };
}

let server: Awaited<ReturnType<typeof startApiOnFakes>>;
let doc: Document;
beforeAll(async () => {
  server = await startApiOnFakes();
  const res = await fetch(`${server.base}/v1/openapi.json`, { headers: { Authorization: `Bearer ${GOOD_TOKEN}` } });
  expect(res.status).toBe(200);
  doc = (await res.json()) as Document;
});
afterAll(() => server.close());

/** The api's own operations with one changed by `breakIt`. */
function broken(operationId: string, breakIt: (op: Operation) => Operation | undefined) {
  return (rt: Runtime) => apiOperations(rt).flatMap((op) => (op.operationId === operationId ? (breakIt(op) ?? []) : [op]));
}

describe('OpenAPI 3.1 document of /v1 (GET /v1/openapi.json)', () => {
  it('is an OpenAPI 3.1 document of every operation, for authenticated callers only', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const ids = Object.values(doc.paths).flatMap((m) => Object.values(m).map((o) => o.operationId));
    expect(ids.sort()).toEqual([...apiOperations(server.rt).map((o) => o.operationId), 'getOpenApiDocument'].sort());
    expect(doc.paths['/v1/exports/{id}:cancel']?.['post']?.parameters?.[0]).toMatchObject({
      name: 'id',
      in: 'path',
      required: true,
      schema: { type: 'string', pattern: '^[0-9a-f]{32}$' },
    });
    expect((await fetch(`${server.base}/v1/openapi.json`)).status).toBe(401);
  });

  it('matches what the server does: every route, parameter, body, answer and error shape', async () => {
    const { problems, checked } = await conformanceProblems(server.base, doc, server.approve);
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(100);
  }, 60_000);

  it('the check fails when a route and the document disagree (each route broken on purpose)', async () => {
    const breaks: [string, (rt: Runtime) => Operation[], RegExp][] = [
      // An answer with a state the document does not list.
      [
        'an answer shape',
        broken('getConsent', (op) => ({ ...op, handle: async (input) => ({ ...((await op.handle(input)) as object), state: 'SUSPENDED' }) })),
        /getConsent \(valid request\) 200: answer does not match/,
      ],
      // A body schema looser than the documented one: an unknown field is accepted.
      [
        'a body',
        broken('createExports', (op) => operation({ ...op, body: createExportsBody.loose() })),
        // (the consent is revoked by then: the request reaches the use case, which refuses it for that instead)
        /createExports with an unknown body field: (answered 200, the document says 400|the 400 does not name unknownField)/,
      ],
      // A route that is gone.
      ['a route', broken('retryExport', () => undefined), /retryExport \(valid request\): answered 404, the document says 200/],
      // A parameter the route no longer reads.
      [
        'a parameter',
        broken('listExports', (op) => ({ ...op, query: undefined, handle: async () => ({ exports: [] }) })),
        /listExports with query parameter consent invalid: answered 200, the document says 400/,
      ],
    ];
    for (const [what, operations, expected] of breaks) {
      const brokenServer = await startApiOnFakes(operations);
      try {
        const { problems } = await conformanceProblems(brokenServer.base, doc, brokenServer.approve);
        expect(problems.join('\n'), what).toMatch(expected);
      } finally {
        await brokenServer.close();
      }
    }
  }, 120_000);
});
