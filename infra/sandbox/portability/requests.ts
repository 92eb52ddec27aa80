// Request bodies of the Data Portability API as proto3 JSON: lowerCamel or snake_case field
// names, unknown fields refused, `null` meaning "absent", empty bodies accepted.
import { isResourceGroup } from '../../../functions/core/resource-groups.js';
import { parseRfc3339 } from '../lib/clock.js';
import { badRequest, invalidArgument } from '../lib/errors.js';

export interface InitiateRequest {
  resources: string[];
  startTime?: number;
  endTime?: number;
}

function unknownField(name: string): Error {
  const message = `Invalid JSON payload received. Unknown name "${name}": Cannot find field.`;
  return invalidArgument(message, [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ description: message }] }]);
}

/** Maps each body key to its canonical (lowerCamel) name; refuses unknown and duplicated fields. */
function canonical(body: Record<string, unknown>, fields: Readonly<Record<string, string>>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [key, value] of Object.entries(body)) {
    const name = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (name === undefined) throw unknownField(key);
    if (out.has(name)) throw invalidArgument(`Invalid JSON payload received. Duplicate field "${name}".`);
    if (value !== null) out.set(name, value);
  }
  return out;
}

function timestamp(value: unknown, field: string): number {
  const ms = typeof value === 'string' ? parseRfc3339(value) : undefined;
  if (ms === undefined) {
    throw invalidArgument(`Invalid value at '${field}' (type.googleapis.com/google.protobuf.Timestamp), Field '${field}', Invalid time format: ${JSON.stringify(value)}`, [
      badRequest(field, `Invalid value at '${field}': expected an RFC 3339 timestamp`),
    ]);
  }
  return ms;
}

const INITIATE_FIELDS = {
  resources: 'resources',
  startTime: 'startTime',
  start_time: 'startTime',
  endTime: 'endTime',
  end_time: 'endTime',
} as const;

export function parseInitiate(body: Record<string, unknown>): InitiateRequest {
  const fields = canonical(body, INITIATE_FIELDS);
  const raw = fields.get('resources') ?? [];
  if (!Array.isArray(raw) || !raw.every((r): r is string => typeof r === 'string')) {
    throw invalidArgument(`Invalid value at 'resources' (type.googleapis.com/google.protobuf.ListValue), expected a list of strings`, [
      badRequest('resources', 'expected a list of strings'),
    ]);
  }
  const resources = [...new Set(raw)];
  if (resources.length === 0) throw invalidArgument('Resources must not be empty.', [badRequest('resources', 'must not be empty')]);
  const unknown = resources.filter((r) => !isResourceGroup(r));
  if (unknown.length > 0) {
    throw invalidArgument(`Invalid resource(s): ${unknown.join(', ').slice(0, 500)}`, [badRequest('resources', 'unknown resource group')]);
  }
  const request: InitiateRequest = { resources };
  if (fields.has('startTime')) request.startTime = timestamp(fields.get('startTime'), 'start_time');
  if (fields.has('endTime')) request.endTime = timestamp(fields.get('endTime'), 'end_time');
  if (request.startTime !== undefined && request.endTime !== undefined && request.startTime >= request.endTime) {
    throw invalidArgument('start_time must be before end_time.', [badRequest('start_time', 'must be before end_time')]);
  }
  return request;
}

/** Bodies of the methods whose request message is empty: nothing but `{}` (or no body). */
export function parseEmpty(body: Record<string, unknown>): void {
  canonical(body, {});
}

const JOB_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Validates a job id taken from the path (`archiveJobs/{id}`). */
export function parseJobId(id: string): string {
  if (!JOB_ID.test(id)) throw invalidArgument(`Invalid archive job name: archiveJobs/${id.slice(0, 200)}`);
  return id;
}
