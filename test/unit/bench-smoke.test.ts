import { describe, expect, it } from 'vitest';
import { detectionBound } from '../../functions/core/exports/poll-policy.js';
import { DURATIONS, POLICIES, checkTimes, pollJson, pollLines, runPollBench } from '../bench/poll.js';

// Exercises the poll benchmark (a pure simulation) so `npm test` runs the bench code. It checks the
// output's shape and internal consistency only, never the targets: those are figures to read.
describe('poll benchmark (smoke)', () => {
  const result = runPollBench({ samples: 200, seed: 7 });

  it('reports every duration for every policy with finite, sane figures', () => {
    expect(Object.keys(result.table)).toEqual(DURATIONS.map((d) => d.label));
    for (const { label, seconds } of DURATIONS) {
      for (const policy of POLICIES) {
        const f = result.table[label]?.[policy];
        expect(f, `${label} ${policy}`).toBeDefined();
        expect(f!.calls).toBeGreaterThanOrEqual(1);
        expect(f!.worstDelaySeconds).toBeGreaterThanOrEqual(0);
        expect(Number.isFinite(f!.worstDelayOverBound)).toBe(true);
        // A delay over the bound of the shortest jittered duration is at least the reported ratio.
        expect(f!.worstDelayOverBound).toBeLessThanOrEqual(f!.worstDelaySeconds / detectionBound(seconds * 0.9) + 1e-9);
      }
    }
  });

  it('derives the summary from the table', () => {
    const sum = (p: (typeof POLICIES)[number]) => DURATIONS.reduce((n, d) => n + (result.table[d.label]?.[p].calls ?? 0), 0);
    expect(result.callsRatioVsFixed5m).toBeCloseTo(sum('ours') / sum('fixed5m'), 10);
    expect(result.worstDelayOverBound).toBe(Math.max(...DURATIONS.map((d) => result.table[d.label]?.ours.worstDelayOverBound ?? NaN)));
    // Fixed 5-minute polling makes ceil(D / 300) calls and is never more than 300 s late.
    for (const { label, seconds } of DURATIONS) {
      const fixed = result.table[label]!.fixed5m;
      expect(fixed.calls).toBeGreaterThanOrEqual(Math.ceil((seconds * 0.9) / 300));
      expect(fixed.calls).toBeLessThanOrEqual(Math.ceil((seconds * 1.1) / 300));
      expect(fixed.worstDelaySeconds).toBeLessThanOrEqual(300);
    }
  });

  it('is reproducible for a seed and prints JSON and lines of the same figures', () => {
    expect(runPollBench({ samples: 200, seed: 7 })).toEqual(result);
    const json = pollJson(result);
    expect(Object.keys(json).sort()).toEqual(['callsRatioVsFixed5m', 'table', 'worstDelayOverBound']);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    expect(pollLines(result).join('\n')).toContain(result.callsRatioVsFixed5m.toFixed(4));
  });

  it('builds ascending schedules that reach the horizon', () => {
    for (const policy of POLICIES) {
      const times = checkTimes(policy, 7200);
      expect(times.every((t, i) => i === 0 || t > (times[i - 1] ?? Infinity))).toBe(true);
      expect(times.at(-1)).toBeGreaterThanOrEqual(7200);
    }
    expect(checkTimes('ours', 60).slice(0, 3)).toEqual([10, 30, 60]);
    expect(checkTimes('googleSample', 10).slice(0, 3)).toEqual([3, 7.5, 14.25]);
  });
});
