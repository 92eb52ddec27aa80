// The order test files start in. Vitest starts the longest files first when its cache of earlier
// runs knows their durations; a clean checkout (CI) has no cache, so it would start them in path
// order and the longest end-to-end file (transfer-kill, about 8 minutes) began last, making the
// run about 3 minutes longer than the sum of its work over three workers needs. Here the files
// measured longest in CI start first, in that order; every other file keeps Vitest's own order.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Integration files measured longest in a clean-clone CI run (December 2026), longest first. */
const LONGEST_FIRST = [
  'test/e2e/transfer-kill.test.ts',
  'test/e2e/bundle-kill.test.ts',
  'test/e2e/transfer-handover.test.ts',
  'test/e2e/grant-safety.test.ts',
  'test/e2e/upstream-faults.test.ts',
  'test/e2e/schedule.test.ts',
  'test/e2e/duplicates.test.ts',
  'test/integration/deploy-gcloud.test.ts',
];

const rank = (spec: TestSpecification): number => {
  const i = LONGEST_FIRST.findIndex((path) => spec.moduleId.endsWith(path));
  return i === -1 ? LONGEST_FIRST.length : i;
};

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    // Array.prototype.sort is stable: files of equal rank keep Vitest's order, and the projects'
    // own order (unit before integration) is kept by comparing the project first.
    const project = new Map<string, number>();
    sorted.forEach((spec, i) => project.has(spec.project.name) || project.set(spec.project.name, i));
    return [...sorted].sort((a, b) => (project.get(a.project.name) ?? 0) - (project.get(b.project.name) ?? 0) || rank(a) - rank(b));
  }
}
