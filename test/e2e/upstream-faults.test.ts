import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notYet, waitUntil } from '../fixtures/wait.js';
import { waitMessagesDone } from '../fixtures/worker-log.js';
import {
  archiveGets,
  callsTo,
  deliveryViolations,
  jobIdOf,
  oneTimeConsent,
  publish,
  requestExports,
  undeliverable,
  waitConsentSettled,
  waitTerminal,
  type WorkerTopic,
} from './exports.js';
import { startE2EStack, type E2EStack } from './stack.js';

/**
 * Scenario 8 (reliability-security.md): upstream faults — 5xx and 429 with Retry-After on the
 * API, dropped connections and expired signed URLs on archive downloads, jobs failing upstream —
 * and malformed messages. Every job ends DELIVERED or in a recorded terminal state with a detail;
 * nothing is lost (every delivered file complete and byte-identical to what the sandbox served)
 * and nothing duplicated (one object per file, one initiate per job, retries only as documented).
 */
const ARCHIVE_BYTES = 3 * 1024 * 1024;
const DEFAULT_URL_TTL = 21_600;

let stack: E2EStack;
beforeAll(async () => {
  stack = await startE2EStack(
    'upstream-faults',
    { archiveBytes: ARCHIVE_BYTES },
    // Short leases so that a transfer given up on is picked up again by the sweep within seconds.
    { functionEnv: { TRANSFER_CHUNK_BYTES: '262144', TRANSFER_CHECKPOINT_BYTES: String(1024 * 1024), LEASE_SECONDS: '12', TRANSFER_BUDGET_SECONDS: '8' }, sweepIntervalMs: 1_000 },
  );
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

interface FaultRule {
  path: string;
  method?: string;
  action: string;
  retryAfterSeconds?: number;
  times?: number;
}

async function addFaults(rules: FaultRule[]): Promise<void> {
  const res = await stack.sandbox('/sandbox/v1/faults', { body: { rules } });
  if (res.status !== 200) throw new Error(`faults: HTTP ${res.status} ${await res.text()}`);
}

async function faultsLeft(): Promise<unknown[]> {
  return ((await (await stack.sandbox('/sandbox/v1/faults')).json()) as { rules: unknown[] }).rules;
}

async function configure(patch: Record<string, unknown>): Promise<void> {
  const res = await stack.sandbox('/sandbox/v1/config', { method: 'PUT', body: patch });
  if (res.status !== 200) throw new Error(`config: HTTP ${res.status} ${await res.text()}`);
}

/** Records of undeliverable messages that were not there before (`before`: ids seen earlier). */
async function newRecords(before: ReadonlySet<string>): Promise<string[]> {
  return (await undeliverable(stack)).filter((d) => !before.has(d.id)).map((r) => `${r.kind} ${r.source} ${r.errorCode ?? ''}`);
}
const recordIds = async () => new Set((await undeliverable(stack)).map((d) => d.id));

const INITIATE = /^\/v1\/portabilityArchive:initiate$/;
const STATE = /^\/v1\/archiveJobs\/[^/]+\/portabilityArchiveState$/;
const RETRY = /^\/v1\/archiveJobs\/[^/]+:retry$/;
const RESET = /^\/v1\/authorization:reset$/;
const ARCHIVES = '^/dataportability-sandbox-archives/';

describe('scenario 8: upstream faults', () => {
  it('503s, 429s with Retry-After and a dropped connection on initiate and state calls: delivered, one successful initiate per job', async () => {
    await stack.clearCalls();
    const before = await recordIds();
    const groups = ['myactivity.search', 'chrome.history'];
    const consent = await oneTimeConsent(stack, 'faults-api', groups);
    await addFaults([
      { path: INITIATE.source, method: 'POST', action: 'status:503', times: 1 },
      { path: INITIATE.source, method: 'POST', action: 'status:429', retryAfterSeconds: 1, times: 1 },
      { path: STATE.source, method: 'GET', action: 'status:503', times: 2 },
      { path: STATE.source, method: 'GET', action: 'status:429', retryAfterSeconds: 2, times: 2 },
      { path: STATE.source, method: 'GET', action: 'reset', times: 1 },
    ]);
    await requestExports(stack, { consent });
    const jobs = await waitTerminal(stack, consent, groups.length, 150_000);
    expect(jobs.map((j) => [j.resource, j.state, j.detail ?? '']).sort()).toEqual(groups.map((g) => [g, 'DELIVERED', '']).sort());
    expect(await deliveryViolations(stack, consent, jobs)).toEqual([]);
    expect(await faultsLeft()).toEqual([]);
    const calls = await stack.calls();
    const initiates = callsTo(calls, 'POST', INITIATE);
    expect(initiates.filter((c) => c.status === 200)).toHaveLength(groups.length);
    expect(
      initiates
        .filter((c) => c.fault)
        .map((c) => c.status)
        .sort(),
    ).toEqual([429, 503]);
    expect(initiates).toHaveLength(groups.length + 2);
    expect(callsTo(calls, 'GET', STATE).filter((c) => c.fault)).toHaveLength(5);
    expect(jobs.every((j) => j.upstreamJobHistory.length === 0)).toBe(true);
    expect((await waitConsentSettled(stack, consent, 30_000)).state).toBe('CLOSED');
    expect(callsTo(await stack.calls(), 'POST', RESET).filter((c) => c.status === 200)).toHaveLength(1);
    // Transient faults are retried, never acked as rejected messages.
    expect(await newRecords(before)).toEqual([]);
  }, 180_000);

  it('dropped connections (reset, cut after N bytes) and a 503 on archive downloads: resumed with Range, delivered once and intact', async () => {
    await stack.clearCalls();
    const before = await recordIds();
    const consent = await oneTimeConsent(stack, 'faults-drops', ['chrome.history']);
    await addFaults([
      { path: ARCHIVES, method: 'GET', action: 'dropAfterBytes:2400000', times: 1 },
      { path: ARCHIVES, method: 'GET', action: 'reset', times: 1 },
      { path: ARCHIVES, method: 'GET', action: 'dropAfterBytes:900000', times: 1 },
      { path: ARCHIVES, method: 'GET', action: 'status:503', retryAfterSeconds: 1, times: 1 },
    ]);
    await requestExports(stack, { consent });
    const jobs = await waitTerminal(stack, consent, 1, 150_000);
    expect(jobs.map((j) => j.state)).toEqual(['DELIVERED']);
    expect(jobs[0]!.files.map((f) => f.bytes)).toEqual([ARCHIVE_BYTES]);
    expect(await deliveryViolations(stack, consent, jobs)).toEqual([]);
    expect(await faultsLeft()).toEqual([]);
    const gets = archiveGets(await stack.calls());
    expect(gets.filter((c) => c.fault)).toHaveLength(4);
    // Resumed from the persisted offset: a ranged request (206), not the whole archive again.
    expect(gets.filter((c) => c.status === 206).length).toBeGreaterThanOrEqual(1);
    expect(callsTo(await stack.calls(), 'POST', INITIATE)).toHaveLength(1);
    expect(await newRecords(before)).toEqual([]);
  }, 180_000);

  it('a signed URL that expires mid-transfer: fresh URL from the job state, resumed from the offset, nothing rejected', async () => {
    await stack.clearCalls();
    const before = await recordIds();
    const consent = await oneTimeConsent(stack, 'faults-expiry', ['chrome.history']);
    // URLs live 2 s: the first download is cut mid-way (past the first checkpoint), the resumed
    // one is held 3.5 s before the sandbox looks at it, so its signature has expired by then
    // (403 ExpiredToken).
    await configure({ urlTtlSeconds: 2 });
    try {
      await addFaults([
        { path: ARCHIVES, method: 'GET', action: 'dropAfterBytes:2400000', times: 1 },
        { path: ARCHIVES, method: 'GET', action: 'delayMs:3500', times: 1 },
      ]);
      await requestExports(stack, { consent });
      const jobs = await waitTerminal(stack, consent, 1, 150_000);
      expect(jobs.map((j) => j.state)).toEqual(['DELIVERED']);
      expect(await deliveryViolations(stack, consent, jobs)).toEqual([]);
      expect(await faultsLeft()).toEqual([]);
      const gets = archiveGets(await stack.calls());
      const expired = gets.findIndex((c) => c.status === 403);
      expect(expired).toBeGreaterThanOrEqual(0);
      // Resumed with a fresh URL: a ranged download after the refusal (the sequence shows on failure).
      expect(gets.slice(expired + 1).map((c) => c.status)).toContain(206);
      // An expired URL is transient: the message must not be acked as a rejected (malformed or
      // permanently refused) one.
      expect(await newRecords(before)).toEqual([]);
    } finally {
      await configure({ urlTtlSeconds: DEFAULT_URL_TTL });
    }
  }, 180_000);

  it('jobs failing upstream: retried with archiveJobs:retry (history kept, at most 3), else FAILED with a detail', async () => {
    await stack.clearCalls();
    await configure({ archiveBytes: 256 * 1024, failingResources: { 'chrome.history': 2, 'myactivity.search': 4 } });
    try {
      const consent = await oneTimeConsent(stack, 'faults-failing', ['myactivity.search', 'chrome.history']);
      await requestExports(stack, { consent });
      const jobs = await waitTerminal(stack, consent, 2, 170_000);
      const history = jobs.find((j) => j.resource === 'chrome.history')!;
      const search = jobs.find((j) => j.resource === 'myactivity.search')!;
      expect({ state: history.state, earlier: history.upstreamJobHistory.length }).toEqual({ state: 'DELIVERED', earlier: 2 });
      expect({ state: search.state, earlier: search.upstreamJobHistory.length }).toEqual({ state: 'FAILED', earlier: 3 });
      expect(search.detail).toMatch(/fail/i);
      for (const j of jobs) expect(new Set([...j.upstreamJobHistory, j.upstreamJobId]).size).toBe(j.upstreamJobHistory.length + 1);
      expect(await deliveryViolations(stack, consent, jobs)).toEqual([]);
      const calls = await stack.calls();
      expect(callsTo(calls, 'POST', INITIATE)).toHaveLength(2);
      expect(callsTo(calls, 'POST', RETRY).filter((c) => c.status === 200)).toHaveLength(2 + 3);
      expect(callsTo(calls, 'POST', RETRY).filter((c) => c.status !== 200)).toEqual([]);
    } finally {
      await configure({ archiveBytes: ARCHIVE_BYTES, failingResources: {} });
    }
  }, 180_000);

  it('malformed messages on every worker topic are acked, recorded as REJECTED naming the field, and not redelivered', async () => {
    const job = jobIdOf('exports/0123456789abcdef0123456789abcdef');
    const cases: { topic: WorkerTopic; source: string; data: Buffer | unknown; field: string }[] = [];
    const topics: [WorkerTopic, string][] = [
      ['export-requested', 'initiate'],
      ['job-poll', 'poll'],
      ['archive-transfer', 'transfer'],
    ];
    for (const [topic, source] of topics) {
      cases.push({ topic, source, data: Buffer.from('{"job": not json'), field: 'message.data' });
      cases.push({ topic, source, data: Buffer.from([0xff, 0xfe, 0x00]), field: 'message.data' });
      cases.push({ topic, source, data: { job: 'not-an-export-id' }, field: 'job' });
      cases.push({ topic, source, data: { job: 42 }, field: 'job' });
      cases.push({ topic, source, data: {}, field: 'job' });
      cases.push({ topic, source, data: [job], field: '(body)' });
      cases.push({ topic, source, data: { job, file: 0, extra: true }, field: 'extra' });
    }
    cases.push({ topic: 'archive-transfer', source: 'transfer', data: { job }, field: 'file' });
    cases.push({ topic: 'archive-transfer', source: 'transfer', data: { job, file: -1 }, field: 'file' });
    cases.push({ topic: 'archive-transfer', source: 'transfer', data: { job, file: '0' }, field: 'file' });
    cases.push({ topic: 'archive-transfer', source: 'transfer', data: { job, file: 1.5 }, field: 'file' });

    const published = await Promise.all(cases.map(async (c) => ({ ...c, messageId: await publish(stack, c.topic, c.data) })));
    const ids = new Set(published.map((p) => p.messageId));
    const records = await waitUntil(
      async () => {
        const docs = (await undeliverable(stack)).filter((d) => ids.has(d.messageId));
        return docs.length >= published.length ? docs : notYet(`${docs.length} of ${published.length} records`);
      },
      { what: 'a record of every malformed message', timeoutMs: 60_000 },
    );
    for (const p of published) {
      const mine = records.filter((r) => r.messageId === p.messageId);
      expect(
        mine.map((r) => ({ kind: r.kind, source: r.source, errorCode: r.errorCode })),
        JSON.stringify(p.data),
      ).toEqual([{ kind: 'REJECTED', source: p.source, errorCode: 'INVALID_ARGUMENT' }]);
      expect(mine[0]!.violations.map((v) => v.field).join(' '), JSON.stringify(p.data)).toContain(p.field);
    }
    // Acked, not redelivered: each message was rejected (recorded, then answered 2xx, the push
    // ack) on its first delivery, with no transient failure (a nack) before or after it. A
    // redelivery happens only after a nack, and would log a second outcome for the same id.
    const outcomes = await waitMessagesDone(stack.info.logDir, ids, { timeoutMs: 30_000 });
    expect([...ids].map((id) => outcomes.get(id))).toEqual([...ids].map(() => ['rejected']));
    const after = (await undeliverable(stack)).filter((d) => ids.has(d.messageId));
    expect(after.filter((d) => d.kind !== 'REJECTED')).toEqual([]);
  }, 120_000);
});
