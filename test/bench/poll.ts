// Poll benchmark: a pure simulation of the pipeline's poll policy (functions/core/exports/
// poll-policy.ts) against fixed 5-minute polling and Google's sample backoff, over jittered job
// durations. No processes, no clock: seeded, so two runs print the same figures.
import { detectionBound, nextCheckAge } from '../../functions/core/exports/poll-policy.js';
import { prng as seededPrng } from '../fixtures/prng.js';

export const POLICIES = ['ours', 'fixed5m', 'googleSample'] as const;
export type PolicyName = (typeof POLICIES)[number];

/** Nominal job durations (seconds), each jittered ±10 % per sample. */
export const DURATIONS = [
  { label: '2m', seconds: 2 * 60 },
  { label: '20m', seconds: 20 * 60 },
  { label: '2h', seconds: 2 * 3600 },
  { label: '12h', seconds: 12 * 3600 },
  { label: '48h', seconds: 48 * 3600 },
] as const;

export const POLL_TARGETS = { callsRatioVsFixed5m: 0.45, worstDelayOverBound: 1 } as const;

export interface PolicyFigures {
  /** Mean upstream calls: checks up to and including the first one at or after completion. */
  readonly calls: number;
  /** Worst (first check ≥ D) − D over the samples, seconds. */
  readonly worstDelaySeconds: number;
  /** Worst delay ÷ the detection bound of the sample's own duration. */
  readonly worstDelayOverBound: number;
}

export interface PollResult {
  readonly callsRatioVsFixed5m: number;
  readonly worstDelayOverBound: number;
  readonly table: Readonly<Record<string, Readonly<Record<PolicyName, PolicyFigures>>>>;
  readonly samplesPerDuration: number;
  readonly seed: number;
}

/** Check ages (seconds after the job started), ascending, until at least `horizon`. */
export function checkTimes(policy: PolicyName, horizon: number): number[] {
  const out: number[] = [];
  const limit = 1_000_000; // bounded loop: no policy needs this many checks for 53 h
  if (policy === 'ours') {
    let t = 0;
    while (out.length < limit) {
      const next = nextCheckAge(t);
      if (!(next > t)) throw new Error(`nextCheckAge(${t}) = ${next} does not move forward`);
      t = next;
      out.push(t);
      if (t >= horizon) break;
    }
  } else if (policy === 'fixed5m') {
    for (let t = 300; out.length < limit; t += 300) {
      out.push(t);
      if (t >= horizon) break;
    }
  } else {
    // Google's sample: first check after 3 s, then the wait grows ×1.5, capped at 1 h.
    let t = 0;
    let wait = 3;
    while (out.length < limit) {
      t += wait;
      out.push(t);
      if (t >= horizon) break;
      wait = Math.min(wait * 1.5, 3600);
    }
  }
  return out;
}

/** Index of the first element ≥ value (the array is ascending and ends ≥ value). */
function firstAtOrAfter(times: readonly number[], value: number): number {
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) >= value) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** A seeded PRNG, uniform in [0, 1) (the tests' mulberry32). */
export function prng(seed: number): () => number {
  return seededPrng(seed).next;
}

export function runPollBench(options: { samples?: number; seed?: number } = {}): PollResult {
  const samples = options.samples ?? 2000;
  const seed = options.seed ?? 20261123;
  const random = prng(seed);
  const horizon = Math.max(...DURATIONS.map((d) => d.seconds)) * 1.1 + 1;
  const schedules = Object.fromEntries(POLICIES.map((p) => [p, checkTimes(p, horizon)])) as Record<PolicyName, number[]>;
  const table: Record<string, Record<PolicyName, PolicyFigures>> = {};
  const totalCalls: Record<PolicyName, number> = { ours: 0, fixed5m: 0, googleSample: 0 };
  let oursWorstOverBound = 0;
  for (const { label, seconds } of DURATIONS) {
    // The same jittered durations for every policy.
    const durations = Array.from({ length: samples }, () => seconds * (0.9 + 0.2 * random()));
    const row = {} as Record<PolicyName, PolicyFigures>;
    for (const policy of POLICIES) {
      const times = schedules[policy];
      let calls = 0;
      let worstDelay = 0;
      let worstOverBound = 0;
      for (const d of durations) {
        const i = firstAtOrAfter(times, d);
        const delay = (times[i] as number) - d;
        calls += i + 1;
        worstDelay = Math.max(worstDelay, delay);
        worstOverBound = Math.max(worstOverBound, delay / detectionBound(d));
      }
      row[policy] = { calls: calls / samples, worstDelaySeconds: worstDelay, worstDelayOverBound: worstOverBound };
      totalCalls[policy] += calls / samples;
    }
    oursWorstOverBound = Math.max(oursWorstOverBound, row.ours.worstDelayOverBound);
    table[label] = row;
  }
  return { callsRatioVsFixed5m: totalCalls.ours / totalCalls.fixed5m, worstDelayOverBound: oursWorstOverBound, table, samplesPerDuration: samples, seed };
}

const round = (n: number, digits: number) => Number(n.toFixed(digits));

/** The JSON figures, rounded for reading (ratios to 4 digits, seconds to 0.1 s). */
export function pollJson(result: PollResult) {
  const table = Object.fromEntries(
    Object.entries(result.table).map(([label, row]) => [
      label,
      Object.fromEntries(
        POLICIES.map((p) => [
          p,
          { calls: round(row[p].calls, 2), worstDelaySeconds: round(row[p].worstDelaySeconds, 1), worstDelayOverBound: round(row[p].worstDelayOverBound, 4) },
        ]),
      ),
    ]),
  );
  return { callsRatioVsFixed5m: round(result.callsRatioVsFixed5m, 4), worstDelayOverBound: round(result.worstDelayOverBound, 4), table };
}

export function pollLines(result: PollResult): string[] {
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const lines = [
    `poll: ${result.samplesPerDuration} samples per duration (±10 % uniform jitter, seed ${result.seed})`,
    '  duration  policy         mean calls  worst delay (s)  worst delay / bound',
  ];
  for (const [label, row] of Object.entries(result.table)) {
    for (const p of POLICIES) {
      const f = row[p];
      lines.push(
        `  ${label.padEnd(8)}  ${p.padEnd(13)}  ${f.calls.toFixed(2).padStart(10)}  ${f.worstDelaySeconds.toFixed(1).padStart(15)}  ${f.worstDelayOverBound.toFixed(4).padStart(19)}`,
      );
    }
  }
  const ratioOk = result.callsRatioVsFixed5m <= POLL_TARGETS.callsRatioVsFixed5m;
  const boundOk = result.worstDelayOverBound <= POLL_TARGETS.worstDelayOverBound;
  lines.push(`  calls ours / fixed 5 min (sum of means): ${result.callsRatioVsFixed5m.toFixed(4)}  target ≤ ${POLL_TARGETS.callsRatioVsFixed5m}  ${verdict(ratioOk)}`);
  lines.push(`  worst delay / bound (ours, every sample): ${result.worstDelayOverBound.toFixed(4)}  target ≤ ${POLL_TARGETS.worstDelayOverBound}  ${verdict(boundOk)}`);
  return lines;
}
