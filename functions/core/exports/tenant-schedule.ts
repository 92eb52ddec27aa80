import { isAppError, isRetryable } from '../errors.js';
import { nextSlotAfter, scheduleSlot } from '../consent/schedule.js';
import { keep, put } from '../ports/record-store.js';
import type { Tenant } from '../tenants/model.js';
import type { ExportDeps } from './deps.js';
import { requestTenantExports } from './request.js';

/**
 * Requests the due slot's exports of one tenant (one job per scheduled entity type, slot
 * `schedule:{nextExportTime}`, so every tick that sees the slot due finds the same jobs) and moves
 * the schedule on one interval, as for consents: when the exports are requested, not when they
 * are delivered, and missed slots are not back-filled. False when another tick already did, or
 * the tenant is no longer due as listed. A tenant that left ACTIVE meanwhile (NEEDS_CREDENTIALS,
 * DELETED) stops here; one whose exports cannot be requested for good (an entity type its source
 * no longer exports) still moves on, so it does not come back every tick.
 */
export async function scheduleTenantExports(deps: ExportDeps, id: string, listed: Tenant, now: Date): Promise<boolean> {
  const slotAt = listed.dueAt;
  const schedule = listed.schedule;
  if (listed.status !== 'ACTIVE' || !slotAt || !schedule || schedule.paused) return false;
  try {
    await requestTenantExports(deps, { tenantId: id, entityTypes: schedule.entityTypes, slot: scheduleSlot(slotAt) }, listed);
  } catch (error) {
    if (!isAppError(error) || isRetryable(error)) throw error;
    if (error.code === 'FAILED_PRECONDITION' && error.reason?.startsWith('TENANT_')) return false;
  }
  const next = nextSlotAfter(slotAt, schedule.intervalHours, now);
  return deps.tenants.update(
    id,
    (t) => {
      if (!t || t.status !== 'ACTIVE' || !t.schedule || t.dueAt?.getTime() !== slotAt.getTime()) return keep(false);
      return put<Tenant, boolean>(
        { ...t, schedule: { ...t.schedule, nextExportTime: next, lastRequestTime: slotAt }, dueAt: t.schedule.paused ? null : next, updatedAt: deps.clock.now() },
        true,
      );
    },
    { basis: listed },
  );
}
