// The local stack runs the poll sweep as production does: a Cloud Scheduler job provisioned by
// infra/deploy/scheduler-jobs.ts and fired by the sandbox's Cloud Scheduler on its cron (seconds
// extension), with an OIDC token the scheduler function accepts; the sandbox clock moves it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { localSchedulerClient } from '../../../infra/deploy/scheduler-jobs.js';
import { startStack } from '../../../infra/local/stack.js';
import type { Stack, StackInfo } from '../../../infra/local/stack.js';
import { notYet, waitUntil } from '../../fixtures/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'dp-scheduler-stack-'));
let stack: Stack;

beforeAll(async () => {
  // The run's shared emulators under the repository config; its own under the sandbox-only config.
  const emulators = inject('emulators') as { firestoreHost: string; pubsubHost: string } | undefined;
  stack = await startStack({ dir, projectId: `sched-${Math.random().toString(16).slice(2, 8)}`, sweepIntervalMs: 1_000, ...(emulators ? { emulators } : {}) });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Call {
  method: string;
  path: string;
  status: number;
  time: string;
}

async function sweeps(): Promise<Call[]> {
  const res = await fetch(`${stack.info.services.sandbox.url}/sandbox/v1/calls`);
  const { calls } = (await res.json()) as { calls: Call[] };
  return calls.filter((c) => c.path === `${stack.info.functions['scheduler']?.url}/ticks/poll-sweep`);
}

describe('the local stack and the local Cloud Scheduler', () => {
  it('provisions the poll-sweep job with the deploy code and names the endpoint in stack.json', async () => {
    const info = JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8')) as StackInfo;
    expect(info.scheduler).toMatchObject({
      email: stack.info.scheduler.email,
      audience: stack.info.functions['scheduler']?.url,
      sweepIntervalMs: 1_000,
      endpoint: stack.info.services.sandbox.url,
      parent: `projects/${stack.info.projectId}/locations/local`,
      jobs: [`projects/${stack.info.projectId}/locations/local/jobs/poll-sweep`],
    });
    const client = localSchedulerClient(info.scheduler.endpoint);
    try {
      const [jobs] = await client.listJobs({ parent: info.scheduler.parent });
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({
        schedule: '* * * * * *',
        timeZone: 'Etc/UTC',
        state: 'ENABLED',
        httpTarget: { uri: `${info.scheduler.audience}/ticks/poll-sweep`, oidcToken: { serviceAccountEmail: info.scheduler.email, audience: info.scheduler.audience } },
      });
    } finally {
      await client.close();
    }
    expect(readFileSync(join(stack.info.logDir, 'scheduler-jobs.log'), 'utf8')).toContain('scheduler job poll-sweep: created');
  });

  it('fires the sweep every second, accepted by the scheduler function (OIDC verified), and follows clock:advance', async () => {
    const ok = await waitUntil(
      async () => {
        const done = (await sweeps()).filter((c) => c.status === 200);
        return done.length >= 2 ? done : notYet(`${done.length} successful sweeps`);
      },
      { what: 'two sweeps answered 200', timeoutMs: 30_000 },
    );
    expect(ok.every((c) => c.method === 'POST')).toBe(true);

    const before = Date.now();
    await fetch(`${stack.info.services.sandbox.url}/sandbox/v1/clock:advance`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ seconds: 86_400 }),
    });
    const later = await waitUntil(
      async () => {
        const next = (await sweeps()).filter((c) => c.status === 200 && Date.parse(c.time) >= before + 86_400_000);
        return next.length >= 1 ? next : notYet('no sweep a day later yet');
      },
      { what: 'a sweep on the advanced sandbox clock', timeoutMs: 30_000 },
    );
    expect(later.length).toBeGreaterThanOrEqual(1);
  });
});
