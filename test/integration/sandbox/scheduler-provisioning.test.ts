// The provisioning code of infra/deploy/scheduler-jobs.ts against the sandbox's Cloud Scheduler
// with the real client: the first run creates every job of the table, a second run changes
// nothing, a changed cron updates only that job (update mask of that field), and what it did is
// printed per job.
import type { CloudSchedulerClient } from '@google-cloud/scheduler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localSchedulerClient, upsertSchedulerJobs } from '../../../infra/deploy/scheduler-jobs.js';
import type { SchedulerEnvironment } from '../../../infra/deploy/scheduler-jobs.js';
import { SCHEDULER_JOBS } from '../../../infra/scheduler-jobs.js';
import { call, startTestSandbox } from './helpers.js';
import type { TestSandbox } from './helpers.js';

let sb: TestSandbox;
let client: CloudSchedulerClient;

beforeAll(async () => {
  sb = await startTestSandbox();
  client = localSchedulerClient(sb.baseUrl);
});
afterAll(async () => {
  await client.close();
  await sb.stop();
});

const env: SchedulerEnvironment = {
  projectId: 'demo-project',
  location: 'europe-west1',
  functionUrl: (name) => `https://${name}.example.test/`,
  serviceAccountEmail: (id) => `${id}@demo-project.iam.gserviceaccount.com`,
  jobPrefix: 'prov-',
};

async function provision(e: SchedulerEnvironment): Promise<{ results: Awaited<ReturnType<typeof upsertSchedulerJobs>>; lines: string[] }> {
  const lines: string[] = [];
  const results = await upsertSchedulerJobs(client, e, SCHEDULER_JOBS, (line) => lines.push(line));
  return { results, lines };
}

/** Write calls (create / patch) the sandbox saw on the jobs collection. */
async function writes(): Promise<string[]> {
  const calls = (await call(sb.baseUrl, 'GET', '/sandbox/v1/calls')).body.calls as Array<{ method: string; path: string }>;
  return calls.filter((c) => c.path.includes('/jobs') && c.method !== 'GET').map((c) => `${c.method} ${c.path.replace(/^.*\/jobs/, '/jobs')}`);
}

describe('upsertSchedulerJobs', () => {
  it('creates the table, then leaves it alone, then updates only the job whose cron changed', async () => {
    const first = await provision(env);
    expect(first.results.map((r) => [r.id, r.action])).toEqual(SCHEDULER_JOBS.map((j) => [j.id, 'created']));
    expect(first.lines).toEqual(SCHEDULER_JOBS.map((j) => `scheduler job ${j.id}: created`));

    const [jobs] = await client.listJobs({ parent: 'projects/demo-project/locations/europe-west1' });
    expect(jobs).toHaveLength(SCHEDULER_JOBS.length);
    const sweep = jobs.find((j) => j.name === 'projects/demo-project/locations/europe-west1/jobs/prov-poll-sweep');
    expect(sweep).toMatchObject({
      schedule: '* * * * *',
      timeZone: 'Etc/UTC',
      state: 'ENABLED',
      attemptDeadline: { seconds: '60' },
      retryConfig: { retryCount: 0 },
      httpTarget: {
        uri: 'https://scheduler.example.test/ticks/poll-sweep',
        httpMethod: 'POST',
        oidcToken: { serviceAccountEmail: 'scheduler-invoker@demo-project.iam.gserviceaccount.com', audience: 'https://scheduler.example.test' },
      },
    });
    expect(jobs.map((j) => j.httpTarget?.uri).sort()).toEqual([
      'https://scheduler.example.test/ticks/expiry',
      'https://scheduler.example.test/ticks/exports',
      'https://scheduler.example.test/ticks/poll-sweep',
    ]);

    await call(sb.baseUrl, 'DELETE', '/sandbox/v1/calls');
    const second = await provision(env);
    expect(second.results.map((r) => r.action)).toEqual(SCHEDULER_JOBS.map(() => 'unchanged'));
    expect(second.lines).toEqual(SCHEDULER_JOBS.map((j) => `scheduler job ${j.id}: unchanged`));
    expect(await writes()).toEqual([]);

    const third = await provision({ ...env, schedules: { 'exports-tick': '*/10 * * * *' } });
    expect(third.results.map((r) => [r.id, r.action, r.changed])).toEqual(
      SCHEDULER_JOBS.map((j) => (j.id === 'exports-tick' ? [j.id, 'updated', ['schedule']] : [j.id, 'unchanged', []])),
    );
    expect(third.lines).toContain('scheduler job exports-tick: updated (schedule)');
    expect(await writes()).toEqual(['PATCH /jobs/prov-exports-tick']);
    const [exportsTick] = await client.getJob({ name: 'projects/demo-project/locations/europe-west1/jobs/prov-exports-tick' });
    expect(exportsTick.schedule).toBe('*/10 * * * *');

    // A moved function (new URL, new audience) updates the target of every job, nothing else.
    const moved = await provision({ ...env, schedules: { 'exports-tick': '*/10 * * * *' }, functionUrl: (name) => `https://${name}-v2.example.test` });
    expect(moved.results.map((r) => [r.action, r.changed])).toEqual(SCHEDULER_JOBS.map(() => ['updated', ['http_target']]));
  });

  it('puts a job edited by hand back to the table and keeps a paused job paused', async () => {
    const e = { ...env, jobPrefix: 'hand-' };
    await provision(e);
    const name = 'projects/demo-project/locations/europe-west1/jobs/hand-expiry-tick';
    await client.updateJob({
      job: { name, retryConfig: { retryCount: 5 }, attemptDeadline: { seconds: 900 } },
      updateMask: { paths: ['retry_config.retry_count', 'attempt_deadline'] },
    });
    await client.pauseJob({ name });
    const again = await provision(e);
    expect(again.results.find((r) => r.id === 'expiry-tick')).toMatchObject({ action: 'updated', changed: ['attempt_deadline', 'retry_config'] });
    const [job] = await client.getJob({ name });
    expect(job).toMatchObject({ state: 'PAUSED', attemptDeadline: { seconds: '60' }, retryConfig: { retryCount: 3 } });
  });
});
