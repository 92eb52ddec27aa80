import type { z } from 'zod';
import { invalidArgument, type FieldViolation } from '../core/errors.js';

/** Validates untrusted input with a schema; failures become INVALID_ARGUMENT naming each field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, root = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw invalidArgument(result.error.issues.map((issue) => toViolation(issue, root)));
}

function toViolation(issue: z.core.$ZodIssue, root: string): FieldViolation {
  let field = root;
  for (const key of issue.path) {
    field += typeof key === 'number' ? `[${key}]` : field ? `.${String(key)}` : String(key);
  }
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (field ? `${field}.${k}` : k));
    return { field: keys.join(', '), description: 'is not a known field' };
  }
  return { field: field || '(body)', description: issue.message };
}
