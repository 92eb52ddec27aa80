import { consentName, type Consent } from '../consent/model.js';
import { nextSlotAfter, scheduleSlot } from '../consent/schedule.js';
import { isAppError, isRetryable } from '../errors.js';
import { publishEvent } from '../events.js';
import { keep, put, type RecordStore } from '../ports/record-store.js';
import { supportsTimeFilter } from '../resource-groups.js';
import type { ExportDeps } from './deps.js';
import { endJob, jobsOfConsent } from './finish.js';
import { isTerminalJob, jobId } from './model.js';
import { requestExports } from './request.js';
import { scheduleTenantExports } from './tenant-schedule.js';

/**
 * The scheduler's ticks over consents, fanned out through Pub/Sub so no request runs long: a tick
 * publishes its first page; each page lists at most `tickBatch` due consents after a cursor,
 * publishes the next page (so pages overlap) and handles its own. A page that comes twice, or a
 * tick that runs twice (Cloud Scheduler is at least once), changes nothing the first did not:
 * every change is a compare-and-set on the consent as listed, and a slot's exports have
 * deterministic ids.
 *
 * - `exports`: ACTIVE consents whose schedule is due (`dueAt <= now`) get one export of each
 *   time-based group for the slot `schedule:{nextExportTime}`, incremental for the groups with
 *   time filters (from the group's last delivered `exportTime`); the slot then moves on one
 *   interval (missed slots are not back-filled).
 * - `tenant-exports` (run by the exports tick beside `exports`): ACTIVE tenants whose schedule is
 *   due get one export of each scheduled entity type for the slot, the same way.
 * - `expiry`: `consent.expiring` once, `expiringLead` before a time-based grant ends; at the end
 *   the consent becomes EXPIRED (token deleted, `consent.expired`), its exports that have not
 *   reached the transfer end ABORTED, and those transferring finish.
 */
export const TICK_KINDS = ['exports', 'expiry'] as const;
export type TickKind = (typeof TICK_KINDS)[number];
/**
 * The page chains a tick runs: the exports tick runs two side by side, one over consents
 * (`exports`) and one over tenants (`tenant-exports`, see tenant-schedule.ts).
 */
export const PAGE_KINDS = [...TICK_KINDS, 'tenant-exports'] as const;
export type PageKind = (typeof PAGE_KINDS)[number];

export interface TickPage {
  readonly kind: PageKind;
  /** The tick's time: what is due at or before it. */
  readonly before: Date;
  /** The last record (consent or tenant) of the previous page (due time and id); null on the first page. */
  readonly after: { readonly at: Date; readonly id: string } | null;
  readonly page: number;
}

/** Consents of one page handled at once. */
const TICK_CONCURRENCY = 32;

/** A chain of pages stops here, whatever happens (a bound on a runaway chain). */
export const MAX_TICK_PAGES = 100_000;

export interface PageReport {
  readonly kind: PageKind;
  readonly page: number;
  readonly listed: number;
  readonly changed: number;
  readonly failed: number;
  readonly more: boolean;
}

/** Starts a tick: its first page goes out (the exports tick's two: consents and tenants); the pages do the work. */
export async function startTick(deps: Pick<ExportDeps, 'clock' | 'queue'>, kind: TickKind): Promise<{ kind: TickKind; before: string }> {
  const before = deps.clock.now();
  await deps.queue.publish('schedule-page', pageMessage({ kind, before, after: null, page: 0 }));
  if (kind === 'exports') await deps.queue.publish('schedule-page', pageMessage({ kind: 'tenant-exports', before, after: null, page: 0 }));
  return { kind, before: before.toISOString() };
}

export function pageMessage(page: TickPage) {
  return {
    kind: page.kind,
    before: page.before.toISOString(),
    ...(page.after ? { after: { at: page.after.at.toISOString(), id: page.after.id } } : {}),
    page: page.page,
  };
}

/**
 * Handles one page. A consent whose handling fails permanently is counted and skipped; a
 * transient failure is rethrown after the page's other consents were handled, so the page comes
 * again (what it already did is a no-op then).
 */
export async function runTickPage(deps: ExportDeps, page: TickPage): Promise<PageReport> {
  if (page.kind === 'tenant-exports') return handlePage(deps, page, deps.tenants, 'dueAt', (id, value) => scheduleTenantExports(deps, id, value, page.before));
  if (page.kind === 'exports') return handlePage(deps, page, deps.consents, 'dueAt', (id, value) => scheduleExports(deps, id, value, page.before));
  return handlePage(deps, page, deps.consents, 'expiryCheckAt', (id, value) => checkExpiry(deps, id, value, page.before));
}

/** One page over the ACTIVE records of `store` due by `field`: the continuation first, then each record. */
async function handlePage<T>(deps: ExportDeps, page: TickPage, store: RecordStore<T>, field: string, handle: (id: string, value: T) => Promise<boolean>): Promise<PageReport> {
  const limit = deps.settings.tickBatch;
  const due = await store.listDue({ where: { status: 'ACTIVE' }, field, before: page.before, limit, ...(page.after ? { startAfter: page.after } : {}) });
  const last = due.at(-1);
  const more = due.length === limit && last !== undefined && page.page + 1 < MAX_TICK_PAGES;
  if (more) {
    const at = (last.value as Record<string, unknown>)[field];
    if (at instanceof Date) await deps.queue.publish('schedule-page', pageMessage({ kind: page.kind, before: page.before, after: { at, id: last.id }, page: page.page + 1 }));
  }
  let changed = 0;
  let failed = 0;
  let retry: unknown;
  // The page's records are handled TICK_CONCURRENCY at a time (each is a few round trips).
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < due.length; i = next++) {
      const { id, value } = due[i]!;
      try {
        if (await handle(id, value)) changed++;
      } catch (error) {
        failed++;
        if (isRetryable(error)) retry ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(TICK_CONCURRENCY, due.length) }, worker));
  if (retry) throw retry;
  return { kind: page.kind, page: page.page, listed: due.length, changed, failed, more };
}

/**
 * Requests the due slot's exports of one consent and moves its schedule on; false when another
 * tick already did (or the consent is no longer due as listed).
 */
async function scheduleExports(deps: ExportDeps, id: string, listed: Consent, now: Date): Promise<boolean> {
  const slotAt = listed.dueAt;
  const schedule = listed.schedule;
  if (!slotAt || !schedule || schedule.paused) return false;
  // A grant past its end is the expiry tick's: no export is started with it.
  if (listed.expiresAt && listed.expiresAt.getTime() <= now.getTime()) return false;
  const resources = listed.groups.filter((g) => g.accessType === 'TIME_BASED').map((g) => g.resource);
  const startTimes: Record<string, Date> = {};
  for (const r of resources) {
    const last = schedule.lastExportTimes[r];
    if (last && supportsTimeFilter(r)) startTimes[r] = last;
  }
  if (resources.length > 0) {
    try {
      await requestExports(deps, { consentId: id, resources, startTimes, slot: scheduleSlot(slotAt) }, listed);
    } catch (error) {
      // A consent that left ACTIVE meanwhile stops here; one whose exports cannot be requested
      // (a permanent refusal) still moves on, so it does not come back every tick.
      if (!isAppError(error) || isRetryable(error)) throw error;
      if (error.code === 'FAILED_PRECONDITION' && error.reason?.startsWith('CONSENT_')) return false;
    }
  }
  const next = nextSlotAfter(slotAt, schedule.intervalHours, now);
  return deps.consents.update(
    id,
    (c) => {
      if (!c || c.status !== 'ACTIVE' || !c.schedule || c.dueAt?.getTime() !== slotAt.getTime()) return keep(false);
      return put<Consent, boolean>({ ...c, schedule: { ...c.schedule, nextExportTime: next }, dueAt: c.schedule.paused ? null : next, updatedAt: deps.clock.now() }, true);
    },
    { basis: listed },
  );
}

/**
 * The expiry of one time-based consent: warns once within the lead time, ends it at its end.
 * Each event goes out before the write that records it (a crash repeats it with the same id).
 */
async function checkExpiry(deps: ExportDeps, id: string, listed: Consent, now: Date): Promise<boolean> {
  const ends = listed.expiresAt;
  if (!ends) {
    return deps.consents.update(id, (c) => (c && c.expiryCheckAt ? put<Consent, boolean>({ ...c, expiryCheckAt: null }, true) : keep(false)), { basis: listed });
  }
  const lead = deps.settings.expiringLeadSeconds * 1000;
  if (ends.getTime() <= now.getTime()) return expire(deps, id, listed);
  if (!listed.expiringNotifiedAt && ends.getTime() - lead <= now.getTime()) {
    await publishEvent(deps, { type: 'consent.expiring', subject: consentName(id), appUserId: listed.appUserId, data: { expireTime: ends.toISOString() } });
    return deps.consents.update(
      id,
      (c) =>
        c && c.status === 'ACTIVE' && !c.expiringNotifiedAt ? put<Consent, boolean>({ ...c, expiringNotifiedAt: now, expiryCheckAt: ends, updatedAt: now }, true) : keep(false),
      { basis: listed },
    );
  }
  // Not yet within the lead time (or warned already): look again when the next step is due.
  const nextCheck = new Date(listed.expiringNotifiedAt ? ends.getTime() : Math.max(ends.getTime() - lead, now.getTime() + 1));
  return deps.consents.update(
    id,
    (c) => (c && c.status === 'ACTIVE' && c.expiryCheckAt?.getTime() !== nextCheck.getTime() ? put<Consent, boolean>({ ...c, expiryCheckAt: nextCheck }, true) : keep(false)),
    { basis: listed },
  );
}

const EXPIRED_DETAIL = 'the time-based grant ended';

async function expire(deps: ExportDeps, id: string, listed: Consent): Promise<boolean> {
  await publishEvent(deps, { type: 'consent.expired', subject: consentName(id), appUserId: listed.appUserId, data: { expireTime: listed.expiresAt?.toISOString() ?? null } });
  const now = deps.clock.now();
  const expired = await deps.consents.update(
    id,
    (c) => {
      if (!c || c.status !== 'ACTIVE') return keep<Consent, boolean>(false);
      const schedule = c.schedule ? { ...c.schedule, nextExportTime: null } : null;
      return put<Consent, boolean>({ ...c, status: 'EXPIRED', token: null, schedule, dueAt: null, expiryCheckAt: null, detail: EXPIRED_DETAIL, updatedAt: now }, true);
    },
    { basis: listed },
  );
  // Exports that never reached the transfer end here; transfers under way finish (their signed
  // URLs need no token).
  for (const job of await jobsOfConsent(deps, id)) {
    if (isTerminalJob(job.state) || job.state === 'TRANSFERRING') continue;
    await endJob(deps, jobId(job.consentId, job.resource, job.slot), { state: 'ABORTED', reason: 'CONSENT_ENDED', detail: EXPIRED_DETAIL }, (j) => j.state !== 'TRANSFERRING');
  }
  return expired;
}
