import { z } from 'zod';
import { ERROR_CODES } from '../core/errors.js';
import { templateParams, type Operation } from './operations.js';

/**
 * The OpenAPI 3.1 document of an API declared as operations (operations.ts), generated from the
 * same zod schemas that validate its requests and type its answers (`z.toJSONSchema`; requests on
 * their input side, answers on their output side). Nothing in it is written by hand but the
 * titles, so it cannot drift from what the routes do; test/unit/openapi.test.ts drives the served
 * function with requests derived from it and checks every answer against it.
 */

/** The Google-style error body every error answer has (platform/errors.ts `GoogleErrorBody`). */
export const errorBody = z
  .object({
    error: z.object({
      code: z.number().int().meta({ description: 'The HTTP status' }),
      status: z.enum(ERROR_CODES),
      message: z.string(),
      details: z.array(
        z.union([
          z.object({
            '@type': z.literal('type.googleapis.com/google.rpc.BadRequest'),
            fieldViolations: z.array(z.object({ field: z.string(), description: z.string() })),
          }),
          z.object({
            '@type': z.literal('type.googleapis.com/google.rpc.ErrorInfo'),
            reason: z.string(),
            domain: z.string(),
            metadata: z.record(z.string(), z.string()),
          }),
        ]),
      ),
    }),
  })
  .meta({ id: 'Error' });

/** What every operation of an authenticated API can answer besides its own errors. */
const COMMON_ERRORS: Readonly<Record<number, string>> = {
  400: 'A parameter or the body is invalid (each field named in BadRequest.fieldViolations), or the request is refused in its state (FAILED_PRECONDITION)',
  401: 'No valid Google ID token (ErrorInfo.reason says why: ID_TOKEN_EXPIRED, ID_TOKEN_WRONG_AUDIENCE, …)',
  403: 'The caller is not on the allow-list (CALLER_NOT_ALLOWED)',
  405: 'The path does not take this method (see the Allow header)',
  500: 'Internal error (nothing of it is disclosed)',
  503: 'A dependency is unavailable: retry with backoff',
};

export interface DocumentInfo {
  readonly title: string;
  readonly version: string;
  readonly description: string;
  /** Paths answered without authentication (documented with `security: []`). */
  readonly publicPaths?: readonly string[];
}

type JsonSchema = Record<string, unknown>;

/** The document; components.schemas holds every schema that has a `.meta({ id })`. */
export function openApiDocument(info: DocumentInfo, operations: readonly Operation[]) {
  const components: Record<string, JsonSchema> = {};
  const schemaOf = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    const json = z.toJSONSchema(schema, {
      io,
      target: 'draft-2020-12',
      unrepresentable: 'any',
      reused: 'inline',
    }) as JsonSchema;
    delete json['$schema'];
    return hoist(json, components, io);
  };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const parameters = [...pathParameters(op, schemaOf), ...queryParameters(op, schemaOf)];
    const responses: Record<string, unknown> = {
      [String(op.status ?? 200)]: { description: 'Success', content: { 'application/json': { schema: schemaOf(op.response, 'output') } } },
    };
    const isPublic = info.publicPaths?.includes(op.path) ?? false;
    const errors: Record<number, string> = { ...COMMON_ERRORS, ...op.errors };
    if (isPublic) for (const status of [401, 403]) delete errors[status];
    for (const [status, description] of Object.entries(errors).sort()) {
      responses[status] = {
        description,
        ...(status === '405' ? { headers: { Allow: { description: 'The methods this path takes', schema: { type: 'string' } } } } : {}),
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    (paths[op.path] ??= {})[op.method.toLowerCase()] = {
      operationId: op.operationId,
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(op.body ? { requestBody: requestBody(op.body, schemaOf) } : {}),
      responses,
      ...(isPublic ? { security: [] } : {}),
    };
  }
  schemaOf(errorBody, 'output'); // registers components.schemas.Error (it has an id)
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: { title: info.title, version: info.version, description: info.description },
    security: [{ googleIdToken: [] }],
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        googleIdToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: "A Google ID token whose audience is the function's and whose verified email is allowed",
        },
      },
    },
  };
}

/** z.toJSONSchema's `$defs` and `.meta({ id })` schemas moved to components.schemas, their `$ref`s rewritten. */
function hoist(json: JsonSchema, components: Record<string, JsonSchema>, io: 'input' | 'output'): JsonSchema {
  const defs = (json['$defs'] ?? {}) as Record<string, JsonSchema>;
  delete json['$defs'];
  const name = (id: string) => (io === 'input' ? `${id}Input` : id);
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value === null || typeof value !== 'object') return value;
    const out: JsonSchema = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/') ? `#/components/schemas/${name(v.slice('#/$defs/'.length))}` : rewrite(v);
    }
    return out;
  };
  for (const [id, def] of Object.entries(defs)) components[name(id)] = rewrite(def) as JsonSchema;
  const id = json['id'];
  const body = rewrite(json) as JsonSchema;
  if (typeof id === 'string') {
    delete body['id'];
    components[name(id)] = body;
    return { $ref: `#/components/schemas/${name(id)}` };
  }
  return body;
}

type SchemaOf = (schema: z.ZodType, io: 'input' | 'output') => JsonSchema;

function objectProperties(schema: z.ZodType | undefined, schemaOf: SchemaOf): [string, JsonSchema, boolean][] {
  if (!schema) return [];
  const json = schemaOf(schema, 'input');
  const props = (json['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json['required'] ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => [name, s, required.has(name)]);
}

/** A body is required when its schema requires a field (an absent body is read as `{}`). */
function requestBody(schema: z.ZodType, schemaOf: SchemaOf) {
  const json = withExamples(schemaOf(schema, 'input'), schema);
  const required = Array.isArray(json['required']) && json['required'].length > 0;
  return { required, content: { 'application/json': { schema: json } } };
}

function pathParameters(op: Operation, schemaOf: SchemaOf) {
  const props = new Map(objectProperties(op.params, schemaOf).map(([n, s]) => [n, s]));
  return templateParams(op.path).map((name) => ({ name, in: 'path', required: true, schema: props.get(name) ?? { type: 'string' } }));
}

function queryParameters(op: Operation, schemaOf: SchemaOf) {
  const shape = op.query instanceof z.ZodObject ? (op.query.shape as Record<string, z.ZodType>) : {};
  return objectProperties(op.query, schemaOf).map(([name, schema, required]) => ({
    name,
    in: 'query',
    required,
    ...(typeof schema['description'] === 'string' ? { description: schema['description'] } : {}),
    schema: shape[name] ? withExamples(schema, shape[name]) : schema,
  }));
}

/**
 * The schema's `.meta({ examples })`, which z.toJSONSchema leaves out on the input side of a
 * schema that transforms (its examples are of the input, as a client sends them).
 */
function withExamples(json: JsonSchema, schema: z.ZodType): JsonSchema {
  const examples = schema.meta()?.examples;
  return json['examples'] === undefined && examples !== undefined ? { ...json, examples } : json;
}
