import { AppError, invalidArgument, type FieldViolation } from '../errors.js';
import { put } from '../ports/record-store.js';
import type { ConsentDeps } from './deps.js';
import { consentName, type Consent, type ConsentSchedule } from './model.js';

/**
 * The schedule of a time-based consent: one export of its time-based groups every
 * `intervalHours` (24 by default, never less: the API allows one export per 24 hours), the first
 * due as soon as the consent is ACTIVE. Pausing keeps the next export time; resuming makes it due
 * again (at once if it passed meanwhile). NEEDS_RECONSENT, REVOKED and EXPIRED stop it (the
 * tick only looks at ACTIVE consents).
 */
export const DEFAULT_INTERVAL_HOURS = 24;
export const MIN_INTERVAL_HOURS = 24;
export const MAX_INTERVAL_HOURS = 24 * 180;

/** A consent as it becomes ACTIVE: a time-based one gets its schedule and expiry timer. */
export function withSchedule(consent: Consent, now: Date): Consent {
  const timeBased = consent.groups.some((g) => g.accessType === 'TIME_BASED');
  if (!timeBased) return consent;
  const schedule: ConsentSchedule = consent.schedule ?? { intervalHours: DEFAULT_INTERVAL_HOURS, paused: false, nextExportTime: now, lastExportTimes: {} };
  return {
    ...consent,
    schedule,
    dueAt: schedule.paused ? null : schedule.nextExportTime,
    // The expiry tick works out when to warn and when to end the grant.
    expiryCheckAt: consent.expiresAt ? now : null,
  };
}

/** The API representation of a schedule. */
export function scheduleResource(schedule: ConsentSchedule) {
  return {
    intervalHours: schedule.intervalHours,
    paused: schedule.paused,
    ...(schedule.nextExportTime ? { nextExportTime: schedule.nextExportTime.toISOString() } : {}),
    lastExportTimes: Object.fromEntries(Object.entries(schedule.lastExportTimes).map(([group, at]) => [group, at.toISOString()])),
  };
}

export const SCHEDULE_FIELDS = ['schedule.intervalHours', 'schedule.paused'] as const;
export type ScheduleField = (typeof SCHEDULE_FIELDS)[number];

export interface SchedulePatch {
  readonly updateMask: readonly ScheduleField[];
  readonly intervalHours?: number;
  readonly paused?: boolean;
}

/**
 * `PATCH /v1/consents/{id}`: changes the fields the update mask names. Only a time-based consent
 * has a schedule; a stopped schedule (the consent is no longer ACTIVE) cannot be changed. A new
 * interval applies from the next export on; resuming makes the next export due at once when its
 * time passed while paused.
 */
export async function updateSchedule(deps: Pick<ConsentDeps, 'consents' | 'clock'>, id: string, patch: SchedulePatch): Promise<Consent> {
  const violations: FieldViolation[] = [];
  for (const field of patch.updateMask) {
    if (field === 'schedule.intervalHours' && patch.intervalHours === undefined)
      violations.push({ field: 'schedule.intervalHours', description: 'is named in updateMask but not given' });
    if (field === 'schedule.paused' && patch.paused === undefined) violations.push({ field: 'schedule.paused', description: 'is named in updateMask but not given' });
  }
  if (violations.length > 0) throw invalidArgument(violations);
  const now = deps.clock.now();
  return deps.consents.update(id, (c) => {
    if (!c) throw new AppError('NOT_FOUND', `${consentName(id)} not found`);
    if (!c.schedule) {
      throw new AppError('FAILED_PRECONDITION', `${consentName(id)} has no schedule: only time-based grants export on a schedule`, {
        reason: 'NO_SCHEDULE',
        violations: [{ field: 'schedule', description: 'exists only on time-based consents' }],
      });
    }
    if (c.status !== 'ACTIVE') throw new AppError('FAILED_PRECONDITION', `${consentName(id)} is ${c.status}; its schedule has stopped`, { reason: `CONSENT_${c.status}` });
    const mask = new Set(patch.updateMask);
    const intervalHours = mask.has('schedule.intervalHours') ? (patch.intervalHours ?? c.schedule.intervalHours) : c.schedule.intervalHours;
    const paused = mask.has('schedule.paused') ? (patch.paused ?? c.schedule.paused) : c.schedule.paused;
    const nextExportTime = c.schedule.nextExportTime;
    const schedule: ConsentSchedule = { ...c.schedule, intervalHours, paused };
    const next: Consent = { ...c, schedule, dueAt: paused || !nextExportTime ? null : nextExportTime, updatedAt: now };
    return put<Consent, Consent>(next, next);
  });
}

/** The next export time after slot `at`: one interval on, past `now` (slots that already passed are not back-filled). */
export function nextSlotAfter(at: Date, intervalHours: number, now: Date): Date {
  const step = intervalHours * 3_600_000;
  let next = at.getTime() + step;
  if (next <= now.getTime()) next += (Math.floor((now.getTime() - next) / step) + 1) * step;
  return new Date(next);
}

/** The slot of a scheduled export (a consent's or a tenant's): its due time, so every tick that sees it due requests the same jobs. */
export const scheduleSlot = (at: Date) => `schedule:${at.toISOString()}`;
