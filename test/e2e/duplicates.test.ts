import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notYet, sleep, waitUntil } from '../fixtures/wait.js';
import { waitMessagesDone } from '../fixtures/worker-log.js';
import {
  callsTo,
  deliveryViolations,
  getConsent,
  jobIdOf,
  listExports,
  oneTimeConsent,
  prng,
  publish,
  requestExports,
  sweep,
  undeliverable,
  waitConsentSettled,
  waitTerminal,
  type ExportJson,
  type WorkerTopic,
} from './exports.js';
import { startE2EStack, type E2EStack } from './stack.js';

/**
 * Scenario 6 (reliability-security.md): every message type delivered 2–10× in random order →
 * one upstream initiate per (consent, group), one object per (job, file), one manifest per job,
 * the one-time grant reset once, and the same final state as a run without duplicates.
 *
 * The pipeline runs as it would; on top, the test publishes seeded copies of every message
 * (`export-requested {job}`, `job-poll {job}`, `archive-transfer {job, file}`) at random moments
 * — before, during and after the step they drive, so many arrive out of order —, runs extra
 * sweeps, and replays `POST /v1/exports` concurrently.
 */
const GROUPS = ['myactivity.search', 'chrome.history'];
const PARTS = 4;
const PART_BYTES = 1024 * 1024;
const SEED = 0x5eed06;

let stack: E2EStack;
beforeAll(async () => {
  stack = await startE2EStack(
    'duplicates',
    { archiveBytes: PARTS * PART_BYTES, archivePartBytes: PART_BYTES },
    { functionEnv: { TRANSFER_CHECKPOINT_BYTES: String(1024 * 1024) }, sweepIntervalMs: 1_000 },
  );
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

/** What must be equal with and without duplicates. */
function finalState(jobs: readonly ExportJson[], consentState: string) {
  return {
    consentState,
    jobs: jobs
      .map((j) => ({
        resource: j.resource,
        state: j.state,
        files: j.files.length,
        bytes: j.files.map((f) => f.bytes).join(','),
        upstreamJobs: j.upstreamJobHistory.length + (j.upstreamJobId ? 1 : 0),
      }))
      .sort((a, b) => a.resource.localeCompare(b.resource)),
  };
}

interface RunReport {
  initiates: number;
  successfulResets: number;
  state: ReturnType<typeof finalState>;
  violations: string[];
}

async function settle(consent: string): Promise<RunReport> {
  const jobs = await waitTerminal(stack, consent, GROUPS.length, 150_000);
  const closed = await waitConsentSettled(stack, consent, 30_000).catch(async () => getConsent(stack, consent));
  const calls = await stack.calls();
  return {
    initiates: callsTo(calls, 'POST', /^\/v1\/portabilityArchive:initiate$/).length,
    successfulResets: callsTo(calls, 'POST', /^\/v1\/authorization:reset$/).filter((c) => c.status === 200).length,
    state: finalState(jobs, closed.state),
    violations: await deliveryViolations(stack, consent, jobs),
  };
}

describe('scenario 6: duplicate delivery of every message type', () => {
  let control: RunReport;

  it('control run without duplicates: every job delivered, the grant reset once', async () => {
    await stack.clearCalls();
    const consent = await oneTimeConsent(stack, 'dup-control', GROUPS);
    await requestExports(stack, { consent });
    control = await settle(consent);
    expect(control.violations).toEqual([]);
    expect(control.initiates).toBe(GROUPS.length);
    expect(control.successfulResets).toBe(1);
    expect(control.state).toEqual({
      consentState: 'CLOSED',
      jobs: GROUPS.map((resource) => ({ resource, state: 'DELIVERED', files: PARTS, bytes: Array(PARTS).fill(String(PART_BYTES)).join(','), upstreamJobs: 1 })).sort((a, b) =>
        a.resource.localeCompare(b.resource),
      ),
    });
  }, 180_000);

  it('with every message delivered 2–10× in random order: same final state, nothing done twice', async () => {
    const random = prng(SEED);
    await stack.clearCalls();
    const consent = await oneTimeConsent(stack, 'dup-run', GROUPS);

    // The request itself, replayed concurrently: the same jobs every time.
    const answers = await Promise.all(Array.from({ length: 4 }, () => requestExports(stack, { consent })));
    const names = [...new Set(answers.flatMap((a) => a.map((e) => e.name)))];
    expect(names).toHaveLength(GROUPS.length);
    const jobs = names.map(jobIdOf);

    const started = Date.now();
    const pending: Promise<void>[] = [];
    const failures: string[] = [];
    const sent: Record<WorkerTopic | 'sweep', number> = { 'export-requested': 0, 'job-poll': 0, 'archive-transfer': 0, sweep: 0 };
    const copies: string[] = [];
    const at = (delayMs: number, kind: WorkerTopic | 'sweep', action: () => Promise<unknown>) => {
      pending.push(
        sleep(delayMs)
          .then(action)
          .then(
            (messageId) => {
              sent[kind]++;
              if (kind !== 'sweep') copies.push(String(messageId));
            },
            (error: unknown) => void failures.push(`${kind}: ${String(error)}`),
          ),
      );
    };

    // Each message is delivered k ∈ [2, 10] times: the pipeline's own copy (plus the replayed
    // requests' copies for export-requested) and k-1 of ours, spread from before the step they
    // drive to well after it (stale). Transfer copies for every file index exist before the job
    // knows its files (out of order), more follow once it does.
    for (const job of jobs) {
      for (let i = random.int(1, 5); i > 0; i--) at(random.int(0, 20_000), 'export-requested', () => publish(stack, 'export-requested', { job }));
      for (let i = random.int(1, 9); i > 0; i--)
        at(random.pick([random.int(0, 8_000), random.int(8_000, 16_000), random.int(16_000, 24_000)]), 'job-poll', () => publish(stack, 'job-poll', { job }));
      for (let file = 0; file < PARTS; file++) {
        for (let i = random.int(1, 4); i > 0; i--) at(random.int(0, 12_000), 'archive-transfer', () => publish(stack, 'archive-transfer', { job, file }));
      }
    }
    for (let i = random.int(4, 8); i > 0; i--) at(random.int(0, 24_000), 'sweep', () => sweep(stack));

    // Once a job has its files, 1–5 more copies per (job, file) while bytes move and after.
    const seen = new Set<string>();
    await waitUntil(
      async () => {
        for (const e of await listExports(stack, consent)) {
          if (seen.has(e.name) || e.files.length === 0) continue;
          seen.add(e.name);
          for (const f of e.files.keys()) {
            for (let i = random.int(1, 5); i > 0; i--) at(random.int(0, 4_000), 'archive-transfer', () => publish(stack, 'archive-transfer', { job: jobIdOf(e.name), file: f }));
          }
        }
        return seen.size === jobs.length ? true : notYet(`${seen.size} of ${jobs.length} jobs with files`);
      },
      { what: 'every job past IN_PROGRESS', timeoutMs: 120_000, intervalMs: 150 },
    );

    await Promise.all(pending);
    expect(failures).toEqual([]);
    const report = await settle(consent);
    // A late duplicate must not change anything either: look again once the workers have handled
    // every copy (each logged its result), late ones included.
    const outcomes = await waitMessagesDone(stack.info.logDir, copies, { timeoutMs: 60_000 });
    const again = await settle(consent);

    const results: Record<string, number> = {};
    for (const o of [...outcomes.values()].flat()) results[o] = (results[o] ?? 0) + 1;
    console.info(`scenario 6: ${JSON.stringify(sent)} extra copies in ${Date.now() - started} ms; worker results ${JSON.stringify(results)}`);
    expect(sent['export-requested']).toBeGreaterThanOrEqual(jobs.length);
    expect(sent['archive-transfer']).toBeGreaterThanOrEqual(jobs.length * PARTS * 2);
    expect(report.violations).toEqual([]);
    expect(report.initiates).toBe(GROUPS.length);
    expect(report.successfulResets).toBe(1);
    expect(report.state).toEqual(control.state);
    expect(again).toEqual(report);
    // Duplicates are acked quietly: none is rejected or dead-lettered.
    expect(await undeliverable(stack)).toEqual([]);
  }, 180_000);

  it('jobs of a one-time consent that finish together close it once (CLOSED, one successful reset)', async () => {
    // Small single-part archives: the jobs are checked by the same sweep and delivered within
    // milliseconds of each other, so several closers race (as duplicates of the last step would).
    const config = await stack.sandbox('/sandbox/v1/config', { method: 'PUT', body: { archiveBytes: 64 * 1024, archivePartBytes: 2 ** 31 } });
    expect(config.status).toBe(200);
    const groups = ['myactivity.search', 'chrome.history', 'youtube.subscriptions', 'chrome.bookmarks'];
    await stack.clearCalls();
    const consent = await oneTimeConsent(stack, 'dup-closers', groups);
    await Promise.all(Array.from({ length: 3 }, () => requestExports(stack, { consent })));
    const jobs = await waitTerminal(stack, consent, groups.length, 150_000);
    expect(jobs.map((j) => j.state)).toEqual(groups.map(() => 'DELIVERED'));
    expect(await deliveryViolations(stack, consent, jobs)).toEqual([]);
    const settled = await waitConsentSettled(stack, consent, 30_000);
    const calls = await stack.calls();
    expect({ consent: settled.state, successfulResets: callsTo(calls, 'POST', /^\/v1\/authorization:reset$/).filter((c) => c.status === 200).length }).toEqual({
      consent: 'CLOSED',
      successfulResets: 1,
    });
    expect(callsTo(calls, 'POST', /^\/v1\/portabilityArchive:initiate$/)).toHaveLength(groups.length);
  }, 180_000);
});
