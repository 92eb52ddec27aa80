import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callsTo, deliveryViolations, oneTimeConsent, requestExports, undeliverable, waitTerminal } from './exports.js';
import { startE2EStack, type E2EStack } from './stack.js';

/**
 * Long transfers (reliability-security.md, "Event-driven reliability" and "Large transfers"):
 * an invocation copies for at most TRANSFER_BUDGET_SECONDS, checkpoints and hands over to a new
 * one, however many it takes. A healthy copy that simply needs many invocations (a big archive, a
 * slow bucket) must be delivered, never failed as if it had crashed that many times.
 *
 * Slow Cloud Storage here: every upload request is held 1.5 s by the sandbox, so with a 5 s budget
 * one invocation moves about 4–5 chunks of 256 KiB and a 12 MiB archive needs 10 or more invocations.
 */
const ARCHIVE_BYTES = 12 * 1024 * 1024;

let stack: E2EStack;
beforeAll(async () => {
  stack = await startE2EStack(
    'transfer-handover',
    { archiveBytes: ARCHIVE_BYTES },
    { functionEnv: { TRANSFER_CHUNK_BYTES: '262144', LEASE_SECONDS: '10', TRANSFER_BUDGET_SECONDS: '5' }, sweepIntervalMs: 1_000 },
  );
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

describe('long transfers hand over between invocations', () => {
  it('a slow but healthy copy that needs many invocations is delivered, not FAILED', async () => {
    const consent = await oneTimeConsent(stack, 'handover-user', ['chrome.history']);
    const res = await stack.sandbox('/sandbox/v1/faults', { body: { rules: [{ path: '^/upload/storage/v1/', method: 'PUT', action: 'delayMs:1500', times: 10_000 }] } });
    expect(res.status).toBe(200);
    await requestExports(stack, { consent });
    const jobs = await waitTerminal(stack, consent, 1, 170_000);
    const calls = await stack.calls();
    const uploads = callsTo(calls, 'PUT', /^\/upload\/storage\/v1\//).length;
    console.info(`handover: ${uploads} upload requests, job ${jobs[0]?.state} ${jobs[0]?.detail ?? ''}`);
    expect(jobs.map((j) => [j.state, j.detail ?? ''])).toEqual([['DELIVERED', '']]);
    expect(await deliveryViolations(stack, consent, jobs)).toEqual([]);
    // It did take many invocations (each starts with a fresh signed URL from the job state).
    expect(callsTo(calls, 'GET', /^\/v1\/archiveJobs\/[^/]+\/portabilityArchiveState$/).length).toBeGreaterThanOrEqual(9);
    expect((await undeliverable(stack)).filter((d) => d.kind === 'REJECTED')).toEqual([]);
  }, 200_000);
});
