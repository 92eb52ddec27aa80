import { defineConfig } from 'vitest/config';
import LongestFirstSequencer from './test/sequencer.js';

// Two projects: fast unit tests (no processes, no network) and integration tests that run
// against real local components (Firestore and Pub/Sub emulators, the Google sandbox, served
// functions). The integration project's global setup starts the emulators once per run and
// stops them by process group afterwards.
export default defineConfig({
  test: {
    // Long end-to-end files start first (a clean checkout has no cache of earlier durations).
    sequence: { sequencer: LongestFirstSequencer },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Two cores, yet most of an e2e file's time is waiting (lease expiries, clocks, upstream
          // jobs): with two files at once a clean-clone run used about one core on average and
          // took 19.5 min; with three, 60 % of both cores and 16.5 min. Four at once, with the
          // longest files started first (test/sequencer.ts).
          maxWorkers: 4,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
