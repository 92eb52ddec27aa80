import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notYet, waitUntil } from '../fixtures/wait.js';
import { archiveGets, bucketObjects, callsTo, deliveryViolations, jobDoc, jobIdOf, listExports, oneTimeConsent, requestExports, undeliverable, waitTerminal } from './exports.js';
import { startE2EStack, type E2EStack } from './stack.js';

/**
 * Long and interrupted transfers (reliability-security.md, "Event-driven reliability" and "Large transfers"):
 * an invocation copies for at most TRANSFER_BUDGET_SECONDS, checkpoints and hands over to a new
 * one, however many it takes. A healthy copy that simply needs many invocations (a big archive, a
 * slow bucket) must be delivered, never failed as if it had crashed that many times.
 *
 * Slow Cloud Storage here: every upload request is held 1.5 s by the sandbox, so with a 5 s budget
 * and chunked uploads (TRANSFER_CHUNK_BYTES 256 KiB, one request per chunk) one invocation moves
 * about 4–5 chunks and a 12 MiB archive needs 10 or more invocations.
 */
const ARCHIVE_BYTES = 12 * 1024 * 1024;

let stack: E2EStack;
beforeAll(async () => {
  stack = await startE2EStack(
    'transfer-handover',
    { archiveBytes: ARCHIVE_BYTES },
    { functionEnv: { TRANSFER_CHUNK_BYTES: '262144', TRANSFER_CHECKPOINT_BYTES: String(1024 * 1024), LEASE_SECONDS: '10', TRANSFER_BUDGET_SECONDS: '5' }, sweepIntervalMs: 1_000 },
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
    // It did take many invocations: each opens the archive again, from where the last one stopped
    // (a ranged request), with the signed URL the poll kept while it works.
    const ranged = archiveGets(calls).filter((c) => c.status === 206);
    console.info(`handover: ${ranged.length} ranged archive requests`);
    expect(ranged.length).toBeGreaterThanOrEqual(8);
    expect((await undeliverable(stack)).filter((d) => d.kind === 'REJECTED')).toEqual([]);
  }, 200_000);

  it('a copy that crashed after its last file, its message lost: the sweep still finishes the job (manifest, DELIVERED)', async () => {
    // "A lost message delays, never strands, a job": crash after the last file went into the
    // bucket, while the manifest is being written (before the file counts as DONE and the job as
    // DELIVERED, which one update does after the manifest), and keep the function down until
    // Pub/Sub gives up on the message.
    expect((await stack.sandbox('/sandbox/v1/faults', { method: 'DELETE' })).status).toBe(200);
    expect((await stack.sandbox('/sandbox/v1/config', { method: 'PUT', body: { archiveBytes: 256 * 1024 } })).status).toBe(200);
    const consent = await oneTimeConsent(stack, 'stranded-user', ['chrome.history']);
    // The file's resumable-session POST and then the manifest's upload POST are each held 8 s.
    const faults = await stack.sandbox('/sandbox/v1/faults', { body: { rules: [{ path: '^/upload/storage/v1/b/[^/]+/o$', method: 'POST', action: 'delayMs:8000', times: 2 }] } });
    expect(faults.status).toBe(200);
    const [requested] = await requestExports(stack, { consent });
    const id = jobIdOf(requested!.name);
    await waitUntil(
      async () => {
        const doc = await jobDoc(stack, id);
        const file = doc?.files[0];
        if (!doc || doc.state !== 'TRANSFERRING' || doc.files.length !== 1 || !file) return notYet(doc ? `${doc.state}, ${doc.files.length} file(s)` : 'no job record');
        return (await bucketObjects(stack, file.object)).some((o) => o.name === file.object) ? true : notYet(`${doc.state}, the file not in the bucket yet`);
      },
      { what: 'the last file in the bucket while the manifest is being written', timeoutMs: 90_000, intervalMs: 50 },
    );
    await stack.restartFunction('transfer', 'SIGKILL', 30_000);
    const lost = (await undeliverable(stack)).filter((d) => d.kind === 'DEAD_LETTERED').length;
    const jobs = await waitTerminal(stack, consent, 1, 60_000).catch(async () => listExports(stack, consent));
    console.info(`stranded: ${lost} message(s) dead-lettered while the function was down; job ${jobs.map((j) => `${j.state} ${j.files.map((f) => f.state).join(',')}`).join(' ')}`);
    expect(jobs.map((j) => `${j.state} ${j.files.map((f) => f.state).join(',')}`)).toEqual(['DELIVERED DONE']);
    expect(await deliveryViolations(stack, consent, jobs)).toEqual([]);
  }, 200_000);
});
