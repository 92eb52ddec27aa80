// Cron arithmetic of the local Cloud Scheduler (croner): validation, the next run after a time,
// the latest run at or before a time (no back-filling), and the retry backoff of RetryConfig.
import { Cron } from 'croner';

export type ScheduleCheck = { ok: true } | { ok: false; field: 'schedule' | 'time_zone'; reason: string };

const UTC_NAMES = new Set(['utc', 'etc/utc', 'gmt', 'etc/gmt']);

/** Cloud Scheduler takes tz-database names and "utc" in any case; empty = UTC. */
export function normaliseTimeZone(timeZone: string): string {
  if (timeZone === '' || UTC_NAMES.has(timeZone.toLowerCase())) return 'Etc/UTC';
  return timeZone;
}

function validTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

function cron(schedule: string, timeZone: string, seconds: boolean): Cron {
  return new Cron(schedule, { paused: true, timezone: normaliseTimeZone(timeZone), mode: seconds ? '5-or-6-parts' : '5-part', legacyMode: true });
}

/**
 * Checks a unix-cron schedule (5 fields; 6 with a leading seconds field when `seconds` is on)
 * and a time zone; a schedule that never fires is refused too.
 */
export function checkSchedule(schedule: string, timeZone: string, seconds: boolean, now: number): ScheduleCheck {
  if (!validTimeZone(normaliseTimeZone(timeZone))) return { ok: false, field: 'time_zone', reason: `"${timeZone.slice(0, 100)}" is not a tz database time zone` };
  const fields = schedule.trim().split(/\s+/).length;
  if (schedule.trim() === '' || (fields !== 5 && !(seconds && fields === 6))) {
    const expected = seconds ? '5 fields (or 6 with a leading seconds field)' : '5 fields (minute hour day-of-month month day-of-week)';
    return { ok: false, field: 'schedule', reason: `a unix-cron schedule has ${expected}` };
  }
  try {
    const next = cron(schedule, timeZone, seconds).nextRun(new Date(now));
    if (!next) return { ok: false, field: 'schedule', reason: 'the schedule never fires' };
  } catch (err) {
    const reason = err instanceof Error && err.message.startsWith('CronPattern') ? err.message.replace(/^CronPattern:\s*/, '') : 'the schedule never fires';
    return { ok: false, field: 'schedule', reason };
  }
  return { ok: true };
}

/** First run strictly after `after` (ms); undefined if there is none. */
export function nextRunAfter(schedule: string, timeZone: string, after: number): number | undefined {
  try {
    return cron(schedule, timeZone, true).nextRun(new Date(after))?.getTime();
  } catch {
    return undefined;
  }
}

/** The latest run at or before `at` (ms), or undefined when the schedule had none before. */
export function latestRunAtOrBefore(schedule: string, timeZone: string, at: number): number | undefined {
  try {
    // previousRuns looks strictly before its reference (whole seconds), so look from the next second.
    const [latest] = cron(schedule, timeZone, true).previousRuns(1, new Date(Math.floor(at / 1000) * 1000 + 1000));
    return latest && latest.getTime() <= at ? latest.getTime() : undefined;
  } catch {
    return undefined;
  }
}

export interface Backoff {
  minBackoffMs: number;
  maxBackoffMs: number;
  maxDoublings: number;
}

/**
 * Wait before retry `n` (1 = the first retry), as RetryConfig documents: start at the minimum,
 * double `maxDoublings` times, then grow linearly by the last doubled step, capped at the maximum
 * (min 10 s, max 300 s, 3 doublings → 10, 20, 40, 80, 160, 240, 300, 300 … s).
 */
export function retryDelayMs(n: number, b: Backoff): number {
  const doublings = Math.min(n - 1, b.maxDoublings);
  const step = b.minBackoffMs * 2 ** b.maxDoublings;
  const delay = n - 1 <= b.maxDoublings ? b.minBackoffMs * 2 ** doublings : step + (n - 1 - b.maxDoublings) * step;
  return Math.min(delay, b.maxBackoffMs);
}

const DIVISORS_OF_60 = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];

/**
 * A cron that runs about every `ms` (the local stack's sweep interval): a 6-field seconds cron
 * (the local extension) below a minute, a minute cron up to an hour, hourly beyond. The step is
 * the largest divisor of 60 not above the interval (7 s → every 6 s), so runs stay evenly spaced.
 */
export function cronEvery(ms: number): string {
  const step = (n: number) => DIVISORS_OF_60.filter((d) => d <= n).pop() ?? 1;
  const seconds = Math.max(1, Math.round(ms / 1000));
  if (seconds < 60) return seconds === 1 ? '* * * * * *' : `*/${step(seconds)} * * * * *`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return minutes === 1 ? '* * * * *' : `*/${step(minutes)} * * * *`;
  return '0 * * * *';
}
