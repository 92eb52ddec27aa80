import { z } from 'zod';
import { invalidArgument, type FieldViolation } from '../core/errors.js';

/**
 * Validates untrusted input with a schema; failures become INVALID_ARGUMENT naming each field, once:
 * a field that breaks several rules (an empty appUserId is too short and has no allowed character)
 * gets the first rule's violation only, and each unknown field its own.
 */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, root = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const byField = new Map<string, FieldViolation>();
  for (const issue of result.error.issues) {
    for (const violation of toViolations(issue, root)) if (!byField.has(violation.field)) byField.set(violation.field, violation);
  }
  throw invalidArgument([...byField.values()]);
}

function toViolations(issue: z.core.$ZodIssue, root: string): FieldViolation[] {
  let field = root;
  for (const key of issue.path) {
    field += typeof key === 'number' ? `[${key}]` : field ? `.${String(key)}` : String(key);
  }
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ field: field ? `${field}.${k}` : k, description: 'is not a known field' }));
  }
  return [{ field: field || '(body)', description: issue.message }];
}

/**
 * The message of a value of the wrong type: "is required" when it is missing, otherwise "must be
 * <what>" (`"appUserId": 5` must be a string; it is there). Use as a schema's `error`.
 */
export function expected(what: string) {
  return (issue: { readonly input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${what}`);
}

/** A lone UTF-16 surrogate: not a character, so no UTF-8 string (and no Firestore string) can hold it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when a string is well-formed Unicode (no lone surrogates), as Firestore, URLs and UTF-8 need. */
export function isWellFormed(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/** The string with each lone surrogate replaced by U+FFFD (for values kept as received, never for validation). */
export function toWellFormed(value: string): string {
  return value.replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD');
}

/** A string that is well-formed Unicode; add length and pattern rules to it. */
export function text() {
  return z.string({ error: expected('a string') }).refine(isWellFormed, 'must be valid Unicode (it holds a lone surrogate)');
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|([+-])(\d{2}):(\d{2}))$/;

/** The instants Firestore can store: 0001-01-01T00:00:00Z up to, not including, 10000-01-01T00:00:00Z. */
const EARLIEST = new Date('0001-01-01T00:00:00Z').getTime();
const AFTER_LATEST = new Date('+010000-01-01T00:00:00Z').getTime();

/**
 * Why a timestamp is not a strict RFC 3339 date-time (upper-case `T` and `Z`, or a numeric offset;
 * up to nine fractional digits, kept to the millisecond), or undefined when it is one. Nothing is
 * shifted: 2026-02-30, 24:00:00, a leap second 60 or an offset +24:00 are errors, and the instant
 * must lie within Firestore's range (years 0001 to 9999, in UTC).
 */
export function rfc3339Problem(value: string): string | undefined {
  const m = RFC3339.exec(value);
  if (!m) return 'must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z';
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (month < 1 || month > 12 || day < 1 || day > (daysInMonth[month - 1] ?? 0)) return 'is not a calendar date';
  if (hour > 23 || minute > 59 || second > 59) return 'is not a time of day (00:00:00 to 23:59:59)';
  if (m[9] !== undefined && (Number(m[10]) > 23 || Number(m[11]) > 59)) return 'has an offset that is not a valid time zone offset';
  const instant = Date.parse(value);
  if (Number.isNaN(instant) || instant < EARLIEST || instant >= AFTER_LATEST) return 'must lie between years 0001 and 9999 (UTC)';
  return undefined;
}

/** A strict RFC 3339 timestamp (see `rfc3339Problem`), as a Date. */
export const rfc3339Timestamp = z
  .string({ error: expected('an RFC 3339 timestamp string') })
  .superRefine((value, ctx) => {
    const problem = rfc3339Problem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform((value) => new Date(value));
