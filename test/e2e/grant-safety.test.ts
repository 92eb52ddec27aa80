import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notYet, waitUntil } from '../fixtures/wait.js';
import { callsTo, getConsent, jobIdOf, listExports, oneTimeConsent, requestExports, waitConsentSettled, type ExportJson } from './exports.js';
import { startE2EStack, type E2EStack } from './stack.js';

/**
 * Issue 13's data-loss paths on the local stack: a one-time grant is the user's only chance, so a
 * lost initiate answer, a bucket outage and concurrent requests must all end with the archive
 * delivered and the grant released exactly once, after the delivery.
 */
let stack: E2EStack;
beforeAll(async () => {
  stack = await startE2EStack(
    'grant-safety',
    // Upstream jobs complete at once: a redelivered initiate finds the group already used (429).
    { archiveBytes: 512 * 1024, jobDurationSeconds: 0 },
    { functionEnv: { LEASE_SECONDS: '12', TRANSFER_BUDGET_SECONDS: '8' }, sweepIntervalMs: 1_000 },
  );
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

async function addFaults(rules: { path: string; method?: string; action: string; times?: number }[]): Promise<void> {
  const res = await stack.sandbox('/sandbox/v1/faults', { body: { rules } });
  if (res.status !== 200) throw new Error(`faults: HTTP ${res.status} ${await res.text()}`);
}

async function clearFaults(): Promise<void> {
  await stack.sandbox('/sandbox/v1/faults', { method: 'DELETE' });
}

async function exportOf(name: string): Promise<ExportJson> {
  const res = await stack.api(`/v1/${name}`);
  if (res.status !== 200) throw new Error(`GET /v1/${name}: HTTP ${res.status}`);
  return (await res.json()) as ExportJson;
}

async function waitState(name: string, states: string[], timeoutMs: number): Promise<ExportJson> {
  return waitUntil(
    async () => {
      const job = await exportOf(name);
      return states.includes(job.state) ? job : notYet(`${job.state}${job.detail ? ` (${job.detail})` : ''}`);
    },
    { what: `${name} in ${states.join(' or ')}`, timeoutMs },
  );
}

const resets = async () => callsTo(await stack.calls(), 'POST', /^\/v1\/authorization:reset$/).filter((c) => c.status === 200).length;

describe('grant safety on the local stack', () => {
  it('a lost initiate answer on a one-time consent: the retry adopts the upstream job and the archive is delivered', async () => {
    const consent = await oneTimeConsent(stack, 'lost-answer', ['myactivity.search']);
    await stack.clearCalls();
    // The sandbox starts the job, then the connection drops before the answer is sent.
    await addFaults([{ path: 'portabilityArchive:initiate$', method: 'POST', action: 'dropAfterBytes:0', times: 1 }]);
    const [job] = await requestExports(stack, { consent });
    const done = await waitState(job!.name, ['DELIVERED', 'EXHAUSTED', 'FAILED'], 90_000);
    expect(done.state).toBe('DELIVERED');
    const initiates = callsTo(await stack.calls(), 'POST', /portabilityArchive:initiate$/);
    // The first call started the job (its answer was lost); the redelivery was refused 429 and adopted it.
    expect(initiates.map((c) => c.status)).toEqual([200, 429]);
    expect((await waitConsentSettled(stack, consent, 30_000)).state).toBe('CLOSED');
    expect(await resets()).toBe(1);
  });

  it('a transfer failed by a bucket outage keeps the consent open; :retry after the outage delivers it, then the grant is reset once', async () => {
    const consent = await oneTimeConsent(stack, 'bucket-outage', ['chrome.history']);
    await stack.clearCalls();
    await addFaults([{ path: '^/upload/storage/v1/b/', action: 'status:503', times: 1000 }]);
    const [job] = await requestExports(stack, { consent });
    const failed = await waitState(job!.name, ['FAILED', 'DELIVERED'], 150_000);
    expect(failed.state).toBe('FAILED');
    await clearFaults();
    expect((await getConsent(stack, consent)).state).toBe('ACTIVE');
    expect(await resets()).toBe(0);
    const initiatesBefore = callsTo(await stack.calls(), 'POST', /portabilityArchive:initiate$/).length;
    const retried = await stack.api(`/v1/${job!.name}:retry`, { body: {} });
    expect(retried.status).toBe(200);
    expect(((await retried.json()) as ExportJson).state).toBe('TRANSFERRING');
    expect((await waitState(job!.name, ['DELIVERED', 'FAILED'], 60_000)).state).toBe('DELIVERED');
    expect((await waitConsentSettled(stack, consent, 30_000)).state).toBe('CLOSED');
    // No second initiate: the archive came from the upstream job that already existed.
    expect(callsTo(await stack.calls(), 'POST', /portabilityArchive:initiate$/)).toHaveLength(initiatesBefore);
    expect(await resets()).toBe(1);
  }, 240_000);

  it('30 concurrent export requests with different request ids: one upstream job, nothing FAILED', async () => {
    const consent = await oneTimeConsent(stack, 'concurrent', ['youtube.subscriptions']);
    await stack.clearCalls();
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => requestExports(stack, { consent, requestId: `concurrent-${i}` })));
    expect(new Set(answers.map((a) => a[0]!.name)).size).toBe(1);
    const name = answers[0]![0]!.name;
    expect((await waitState(name, ['DELIVERED', 'FAILED', 'EXHAUSTED'], 90_000)).state).toBe('DELIVERED');
    const jobs = await listExports(stack, consent);
    expect(jobs.map((j) => [jobIdOf(j.name), j.state])).toEqual([[jobIdOf(name), 'DELIVERED']]);
    expect(callsTo(await stack.calls(), 'POST', /portabilityArchive:initiate$/)).toHaveLength(1);
  });
});
