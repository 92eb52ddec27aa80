/**
 * When to check an upstream job again. The detection delay of a job that finishes at time D
 * (seconds after it started) is the gap between the last check before D and the first check
 * after it; we keep every gap within the bound a user would accept for a job of that length,
 * min(max(60 s, 10 % of its age), 20 min), so short jobs are seen quickly and long ones cost few
 * calls:
 *
 * - a few early checks (10 s, 30 s, 60 s) for jobs that finish at once;
 * - then a gap of min(max(60 s, 10 % of the job's age), 20 min).
 *
 * Pure and deterministic; the benchmark (`npm run bench`) simulates it against fixed 5-minute
 * polling and Google's sample backoff.
 */
export const EARLY_CHECKS_SECONDS = [10, 30, 60] as const;
export const MIN_GAP_SECONDS = 60;
export const MAX_GAP_SECONDS = 20 * 60;
export const GAP_SHARE_OF_AGE = 0.1;

/** Seconds after the job started at which to check next, given the age (seconds) of the last check. */
export function nextCheckAge(lastCheckAge: number): number {
  for (const early of EARLY_CHECKS_SECONDS) if (lastCheckAge < early) return early;
  return lastCheckAge + gapAt(lastCheckAge);
}

export function gapAt(age: number): number {
  return Math.min(Math.max(MIN_GAP_SECONDS, Math.floor(GAP_SHARE_OF_AGE * age)), MAX_GAP_SECONDS);
}

/** The detection bound the policy is held to for a job of `duration` seconds. */
export function detectionBound(duration: number): number {
  return Math.min(Math.max(60, 0.1 * duration), 1200);
}

/** The next check time for a job that started at `startedAt`, checked last at `now`. */
export function nextCheckAt(startedAt: Date, now: Date): Date {
  const age = Math.max(0, (now.getTime() - startedAt.getTime()) / 1000);
  return new Date(startedAt.getTime() + nextCheckAge(age) * 1000);
}
