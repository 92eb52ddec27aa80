import { z } from 'zod';

export type FaultAction =
  | { kind: 'status'; status: number }
  | { kind: 'reset' }
  | { kind: 'dropAfterBytes'; bytes: number }
  | { kind: 'delayMs'; ms: number }
  | { kind: 'bytesPerSecond'; rate: number }
  | { kind: 'exportStatus'; status: 'Failed' | 'Expired' };

/** The fault actions that change how a request is answered (all but `exportStatus`). */
export type RequestFaultAction = Exclude<FaultAction, { kind: 'exportStatus' }>;

export interface FaultRule {
  /** The regex source as given; matched against the request path (no query). */
  path: string;
  method?: string;
  action: string;
  retryAfterSeconds?: number;
  /** `exportStatus` rules only: the Mews entity type whose next exports they apply to (default: any). */
  entityType?: string;
  /** Matches left before the rule is removed. */
  times: number;
}

export interface AppliedFault {
  action: RequestFaultAction;
  text: string;
  retryAfterSeconds?: number;
}

const ACTION = /^(?:status:([45]\d\d)|reset|dropAfterBytes:(\d{1,12})|delayMs:(\d{1,6})|bytesPerSecond:(\d{1,10})|exportStatus:(Failed|Expired))$/;

export function parseAction(text: string): FaultAction | undefined {
  const m = ACTION.exec(text);
  if (!m) return undefined;
  if (m[1] !== undefined) return { kind: 'status', status: Number(m[1]) };
  if (m[2] !== undefined) return { kind: 'dropAfterBytes', bytes: Number(m[2]) };
  if (m[3] !== undefined) {
    const ms = Number(m[3]);
    return ms <= 120_000 ? { kind: 'delayMs', ms } : undefined;
  }
  if (m[4] !== undefined) {
    const rate = Number(m[4]);
    return rate >= 1 ? { kind: 'bytesPerSecond', rate } : undefined;
  }
  if (m[5] === 'Failed' || m[5] === 'Expired') return { kind: 'exportStatus', status: m[5] };
  return { kind: 'reset' };
}

function isRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

export const faultRulesSchema = z
  .object({
    rules: z
      .array(
        z
          .object({
            path: z.string().min(1).max(500).refine(isRegex, 'not a valid regular expression'),
            method: z
              .string()
              .regex(/^[A-Z]{1,10}$/)
              .optional(),
            action: z.string().refine((a) => parseAction(a) !== undefined, 'unknown action'),
            retryAfterSeconds: z.number().int().min(0).max(86400).optional(),
            entityType: z.string().min(1).max(100).optional(),
            times: z.number().int().min(1).max(1_000_000).optional(),
          })
          .strict()
          .refine((r) => r.entityType === undefined || parseAction(r.action)?.kind === 'exportStatus', {
            message: 'entityType applies to exportStatus actions only',
            path: ['entityType'],
          }),
      )
      .max(100),
  })
  .strict();

interface ActiveRule {
  rule: FaultRule;
  regex: RegExp;
  action: FaultAction;
}

/**
 * Injects faults into upstream calls. Rules are checked in the order they were added; the first
 * that matches the method and path applies and uses up one of its `times` (default 1).
 * `exportStatus` rules do not change the answer of a call: the Mews `exports/add` handler takes
 * them (`takeExportStatus`) to decide how the export it creates ends.
 */
export class FaultInjector {
  private rules: ActiveRule[] = [];

  add(rules: z.infer<typeof faultRulesSchema>['rules']): void {
    for (const r of rules) {
      const action = parseAction(r.action);
      if (!action) continue;
      const rule: FaultRule = { path: r.path, action: r.action, times: r.times ?? 1 };
      if (r.method !== undefined) rule.method = r.method;
      if (r.retryAfterSeconds !== undefined) rule.retryAfterSeconds = r.retryAfterSeconds;
      if (r.entityType !== undefined) rule.entityType = r.entityType;
      this.rules.push({ rule, regex: new RegExp(r.path), action });
    }
  }

  list(): FaultRule[] {
    return this.rules.map((r) => ({ ...r.rule }));
  }

  clear(): void {
    this.rules = [];
  }

  take(method: string, path: string): AppliedFault | undefined {
    const index = this.rules.findIndex((r) => r.action.kind !== 'exportStatus' && (r.rule.method === undefined || r.rule.method === method) && r.regex.test(path));
    const active = this.rules[index];
    if (!active || active.action.kind === 'exportStatus') return undefined;
    this.use(index);
    const applied: AppliedFault = { action: active.action, text: active.rule.action };
    if (active.rule.retryAfterSeconds !== undefined) applied.retryAfterSeconds = active.rule.retryAfterSeconds;
    return applied;
  }

  /** The status forced on a Mews export of `entityType` created by a call to `path`, if a rule says so. */
  takeExportStatus(path: string, entityType: string): { status: 'Failed' | 'Expired'; text: string } | undefined {
    const index = this.rules.findIndex((r) => r.action.kind === 'exportStatus' && (r.rule.entityType === undefined || r.rule.entityType === entityType) && r.regex.test(path));
    const active = this.rules[index];
    if (!active || active.action.kind !== 'exportStatus') return undefined;
    this.use(index);
    return { status: active.action.status, text: active.rule.action };
  }

  private use(index: number): void {
    const active = this.rules[index];
    if (!active) return;
    active.rule.times -= 1;
    if (active.rule.times <= 0) this.rules.splice(index, 1);
  }
}
