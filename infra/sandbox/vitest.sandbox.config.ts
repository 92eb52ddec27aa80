import { defineConfig } from 'vitest/config';

// Runs only the sandbox's own tests (no emulator global setup):
//   npx vitest run --config infra/sandbox/vitest.sandbox.config.ts
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/sandbox/**/*.test.ts'], environment: 'node', sequence: { groupOrder: 0 } } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/sandbox/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
