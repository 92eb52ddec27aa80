import { AppError, invalidArgument, type FieldViolation } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import { put, type RecordStore } from '../ports/record-store.js';
import type { SourceName } from '../ports/export-source.js';
import { tenantName, tenantResource, type Tenant, type TenantSchedule } from './model.js';

/** What a schedule's checks and changes need (a subset of TenantDeps). */
interface ScheduleDeps {
  readonly clock: Clock;
  readonly tenants: RecordStore<Tenant>;
  /** The units (entity types) a tenant of a source exports: what a schedule may name. */
  readonly units: (source: SourceName) => readonly string[];
}

/**
 * The schedule of a tenant: one export of each of its entity types every `intervalHours`, the
 * first at `nextExportTime` (now when not given). Unlike a consent's (at least 24 hours, the
 * limit of the Data Portability API), a tenant's interval may be as short as one hour: Mews sets
 * no such limit, its exports are full snapshots the hotel may want several times a day, and the
 * exports tick runs every five minutes, so an hour is the shortest interval it keeps to closely.
 * While an export of an entity type still runs, the next slot adopts it instead of starting
 * another (one running export per tenant and entity type). Pausing keeps the next export time;
 * resuming makes it due again (at once if it passed meanwhile). A tenant that is not ACTIVE
 * (NEEDS_CREDENTIALS, DELETED) is never scheduled. No schedule: no automatic exports.
 */
export const TENANT_DEFAULT_INTERVAL_HOURS = 24;
export const TENANT_MIN_INTERVAL_HOURS = 1;
export const TENANT_MAX_INTERVAL_HOURS = 24 * 366;
/** How far ahead a first (or moved) next export time may lie. */
const MAX_LEAD_MS = 366 * 86_400_000;

/** The fields `PATCH /v1/tenants/{id}` changes, as its update mask names them. */
export const TENANT_UPDATE_FIELDS = ['displayName', 'schedule', 'schedule.entityTypes', 'schedule.intervalHours', 'schedule.paused', 'schedule.nextExportTime'] as const;
export type TenantUpdateField = (typeof TENANT_UPDATE_FIELDS)[number];

/** A schedule as a request gives it: only the entity types are required. */
export interface TenantScheduleInput {
  readonly entityTypes?: readonly string[] | undefined;
  readonly intervalHours?: number | undefined;
  readonly paused?: boolean | undefined;
  readonly nextExportTime?: Date | undefined;
}

export interface TenantPatch {
  readonly updateMask: readonly TenantUpdateField[];
  readonly displayName?: string | undefined;
  /** null (with `schedule` in the mask): remove the schedule. */
  readonly schedule?: TenantScheduleInput | null | undefined;
}

/** The tick's due time of a tenant: the next export time of an ACTIVE tenant's running schedule. */
export function dueAtOf(status: Tenant['status'], schedule: TenantSchedule | null | undefined): Date | null {
  return status === 'ACTIVE' && schedule && !schedule.paused ? schedule.nextExportTime : null;
}

/** A new schedule from a request, or INVALID_ARGUMENT naming each bad `schedule.*` field. */
export function newTenantSchedule(deps: Pick<ScheduleDeps, 'units' | 'clock'>, source: SourceName, input: TenantScheduleInput): TenantSchedule {
  const violations: FieldViolation[] = [];
  let entityTypes: string[] = [];
  if (input.entityTypes === undefined) violations.push({ field: 'schedule.entityTypes', description: 'is required: the entity types to export on the schedule' });
  else entityTypes = checkEntityTypes(deps, source, input.entityTypes, violations);
  const now = deps.clock.now();
  if (input.nextExportTime) checkNextExportTime(input.nextExportTime, now, violations);
  if (violations.length > 0) throw invalidArgument(violations);
  return {
    entityTypes,
    intervalHours: input.intervalHours ?? TENANT_DEFAULT_INTERVAL_HOURS,
    paused: input.paused ?? false,
    nextExportTime: input.nextExportTime ?? now,
    lastRequestTime: null,
  };
}

/**
 * `PATCH /v1/tenants/{id}`: changes the fields the update mask names. `schedule` replaces (or, as
 * null, removes) the whole schedule; `schedule.*` changes one field of an existing schedule. A
 * new interval or entity types apply from the next export on; `schedule.nextExportTime` moves the
 * next export. A DELETED tenant cannot be changed.
 */
export async function updateTenant(deps: ScheduleDeps, id: string, patch: TenantPatch) {
  const mask = new Set(patch.updateMask);
  const violations: FieldViolation[] = [];
  const given: Record<TenantUpdateField, boolean> = {
    displayName: patch.displayName !== undefined,
    schedule: patch.schedule !== undefined,
    'schedule.entityTypes': patch.schedule?.entityTypes !== undefined,
    'schedule.intervalHours': patch.schedule?.intervalHours !== undefined,
    'schedule.paused': patch.schedule?.paused !== undefined,
    'schedule.nextExportTime': patch.schedule?.nextExportTime !== undefined,
  };
  for (const field of mask) if (!given[field]) violations.push({ field, description: 'is named in updateMask but not given' });
  if (mask.has('schedule') && [...mask].some((f) => f.startsWith('schedule.'))) {
    violations.push({ field: 'updateMask', description: 'names schedule and a field of it: name either the whole schedule or its fields' });
  }
  if (violations.length > 0) throw invalidArgument(violations);
  const current = await deps.tenants.get(id);
  if (!current) throw new AppError('NOT_FOUND', `${tenantName(id)} not found`);
  // Checked before the update (it reads the source's entity types): the mutation stays pure.
  const replaced = mask.has('schedule') && patch.schedule ? newTenantSchedule(deps, current.source, patch.schedule) : undefined;
  const changes = scheduleChanges(deps, current.source, patch);
  const now = deps.clock.now();
  const after = await deps.tenants.update(id, (t) => {
    if (!t) throw new AppError('NOT_FOUND', `${tenantName(id)} not found`);
    if (t.status === 'DELETED') throw new AppError('FAILED_PRECONDITION', `${tenantName(id)} is DELETED`, { reason: 'TENANT_DELETED' });
    let schedule = t.schedule ?? null;
    if (mask.has('schedule')) schedule = replaced ?? null;
    else if (changes) {
      if (!schedule) {
        throw new AppError('FAILED_PRECONDITION', `${tenantName(id)} has no schedule: set the whole schedule (updateMask=schedule) to create one`, {
          reason: 'NO_SCHEDULE',
          violations: [{ field: 'schedule', description: 'does not exist yet' }],
        });
      }
      schedule = { ...schedule, ...changes };
    }
    const displayName = mask.has('displayName') && patch.displayName !== undefined ? patch.displayName : t.displayName;
    const next: Tenant = { ...t, displayName, schedule, dueAt: dueAtOf(t.status, schedule), updatedAt: now };
    return put<Tenant, Tenant>(next, next);
  });
  return tenantResource(id, after);
}

/** The `schedule.*` fields the mask names, checked; undefined when it names none. */
function scheduleChanges(deps: Pick<ScheduleDeps, 'units' | 'clock'>, source: SourceName, patch: TenantPatch): Partial<TenantSchedule> | undefined {
  const mask = new Set(patch.updateMask);
  const s = patch.schedule ?? {};
  const violations: FieldViolation[] = [];
  let changes: Partial<TenantSchedule> | undefined;
  const change = (c: Partial<TenantSchedule>) => (changes = { ...changes, ...c });
  if (mask.has('schedule.entityTypes') && s.entityTypes) change({ entityTypes: checkEntityTypes(deps, source, s.entityTypes, violations) });
  if (mask.has('schedule.intervalHours') && s.intervalHours !== undefined) change({ intervalHours: s.intervalHours });
  if (mask.has('schedule.paused') && s.paused !== undefined) change({ paused: s.paused });
  if (mask.has('schedule.nextExportTime') && s.nextExportTime) {
    checkNextExportTime(s.nextExportTime, deps.clock.now(), violations);
    change({ nextExportTime: s.nextExportTime });
  }
  if (violations.length > 0) throw invalidArgument(violations);
  return changes;
}

/** The entity types, deduplicated, each one the tenant's source exports. */
function checkEntityTypes(deps: Pick<ScheduleDeps, 'units'>, source: SourceName, entityTypes: readonly string[], violations: FieldViolation[]): string[] {
  const known = new Set(deps.units(source));
  if (entityTypes.length === 0) violations.push({ field: 'schedule.entityTypes', description: 'must name at least one entity type' });
  entityTypes.forEach((t, i) => {
    if (!known.has(t)) violations.push({ field: `schedule.entityTypes[${i}]`, description: `${JSON.stringify(t)} is not an entity type this tenant's source exports` });
  });
  return [...new Set(entityTypes)];
}

function checkNextExportTime(at: Date, now: Date, violations: FieldViolation[]): void {
  if (at.getTime() > now.getTime() + MAX_LEAD_MS) violations.push({ field: 'schedule.nextExportTime', description: 'must be at most 366 days ahead' });
}

/** A DELETED tenant's schedule: kept for the record, stopped. */
export function stoppedSchedule(schedule: TenantSchedule | null | undefined): TenantSchedule | null {
  return schedule ? { ...schedule, nextExportTime: null } : null;
}
