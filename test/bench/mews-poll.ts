// mewsPoll benchmark (issue 15): 2,500 running Mews exports across 3 tenants, all due for a
// status check. One poll sweep on the real adapters (Firestore and Pub/Sub emulators, the
// sandbox's Mews Connector API), then every `job-poll` message it published handled as the poll
// worker handles it. Measured: the sweep's duration, the messages it sent, the `exports/getAll`
// calls the checks made (target: one per 1000 running exports of a tenant, so 3–5 for
// 1,200 + 800 + 500) and how long handling the messages took. The exports stay Processing
// upstream, so every job only gets its next check time (nothing is transferred).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PubSub, type Message } from '@google-cloud/pubsub';
import { inParallel } from '../../functions/core/concurrency.js';
import { newJob, type ExportJob } from '../../functions/core/exports/model.js';
import { pollExport, pollExports } from '../../functions/core/exports/poll.js';
import { sweep } from '../../functions/core/exports/sweep.js';
import { createTenant } from '../../functions/core/tenants/tenants.js';
import { pubsubOptions } from '../../functions/platform/clients.js';
import { prefixed } from '../../functions/platform/config.js';
import { createRuntime } from '../../functions/platform/runtime.js';
import { startEmulators } from '../../infra/local/emulators.js';
import { startSandbox } from '../../infra/sandbox/server.js';
import { developmentEnv } from '../fixtures/env.js';

export const MEWS_POLL_TARGETS = { getAllPerSweep: [3, 5] } as const;
const PROJECT = 'bench-mews-poll';

export interface MewsPollResult {
  readonly jobs: number;
  readonly tenants: readonly number[];
  readonly sweepSeconds: number;
  readonly messages: number;
  readonly getAllCalls: number;
  readonly handleSeconds: number;
  readonly checked: number;
}

export async function runMewsPollBench(options: { tenants: readonly number[]; log: (line: string) => void }): Promise<MewsPollResult> {
  const dir = mkdtempSync(join(tmpdir(), 'dp-bench-mews-poll-'));
  const emulators = await startEmulators({ projectId: PROJECT, logDir: dir });
  const sandbox = await startSandbox({ port: 0, cacheDir: join(dir, 'cache') });
  const pubsub = new PubSub(pubsubOptions(PROJECT, emulators.pubsubHost));
  const prefix = `m${randomBytes(3).toString('hex')}`;
  const rt = createRuntime(
    developmentEnv({
      GOOGLE_CLOUD_PROJECT: PROJECT,
      RESOURCE_PREFIX: prefix,
      FIRESTORE_EMULATOR_HOST: emulators.firestoreHost,
      PUBSUB_EMULATOR_HOST: emulators.pubsubHost,
      ARCHIVE_BUCKET: 'bench-archives',
      MEWS_PLATFORM_ALLOWLIST: `${sandbox.baseUrl}/mews`,
    }),
  );
  const sandboxCall = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${sandbox.baseUrl}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`sandbox ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  try {
    for (const topic of ['job-poll', 'archive-transfer', 'export-events']) await pubsub.createTopic(prefixed({ resourcePrefix: prefix }, topic));
    const [subscription] = await pubsub.topic(prefixed({ resourcePrefix: prefix }, 'job-poll')).createSubscription(`${prefix}-bench-poll`, { ackDeadlineSeconds: 600 });

    // The tenants, upstream and here, and their running exports (seeded Processing upstream).
    const deps = rt.exportDeps();
    const now = deps.clock.now();
    let jobs = 0;
    for (const [t, count] of options.tenants.entries()) {
      const keys = { clientToken: `bench-client-${t}`, accessToken: `bench-access-${t}-${randomBytes(6).toString('hex')}` };
      const upstream = await sandboxCall('POST', '/sandbox/v1/mews/tenants', keys);
      const tenant = await createTenant(rt.tenantDeps(), { source: 'mews', displayName: `Bench hotel ${t}`, platformAddress: `${sandbox.baseUrl}/mews`, ...keys }, 'bench');
      const tenantId = tenant.name.slice('tenants/'.length);
      const seeded = await sandboxCall('POST', '/sandbox/v1/mews/exports:seed', { enterpriseId: upstream['enterpriseId'], entityType: 'Reservation', count, status: 'Processing' });
      const ids = seeded['exportIds'] as string[];
      await inParallel(ids, 32, async (upstreamId) => {
        const job: ExportJob = {
          ...newJob(
            { source: 'mews', grantKind: 'tenant', consentId: tenantId, appUserId: '', resource: 'Reservation', slot: `bench:${upstreamId}`, startTime: null, endTime: null },
            now,
          ),
          state: 'IN_PROGRESS',
          upstreamId,
          upstreamStartedAt: new Date(now.getTime() - 3_600_000),
          nextPollAt: new Date(now.getTime() - 1_000),
        };
        await deps.jobs.create(`${tenantId.slice(0, 8)}${upstreamId.replace(/-/g, '').slice(0, 24)}`, job);
      });
      jobs += ids.length;
      options.log(`mewsPoll: tenant ${t + 1}: ${ids.length} running exports written`);
    }
    await sandboxCall('DELETE', '/sandbox/v1/calls');

    const sweepStarted = performance.now();
    const report = await sweep(deps);
    const sweepSeconds = (performance.now() - sweepStarted) / 1000;
    options.log(`mewsPoll: the sweep queued ${report.polls} checks in ${sweepSeconds.toFixed(2)} s`);

    // The worker's side: every job-poll message the sweep published, handled as the poll worker does.
    const handleStarted = performance.now();
    let messages = 0;
    let checked = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${checked} of ${report.polls} checks arrived within 600 s`)), 600_000);
      subscription.on('error', reject);
      subscription.on('message', (message: Message) => {
        const data = JSON.parse(message.data.toString('utf8')) as { job?: string; jobs?: string[] };
        const handled = data.jobs ? pollExports(deps, data.jobs).then(() => data.jobs?.length ?? 0) : pollExport(deps, data.job ?? '').then(() => 1);
        handled.then(
          (n) => {
            message.ack();
            messages++;
            checked += n;
            if (checked >= report.polls) {
              clearTimeout(timer);
              resolve();
            }
          },
          (error: unknown) => {
            clearTimeout(timer);
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        );
      });
    });
    const handleSeconds = (performance.now() - handleStarted) / 1000;
    await subscription.close();
    const calls = (await sandboxCall('GET', '/sandbox/v1/calls'))['calls'] as { method: string; path: string }[];
    const getAllCalls = calls.filter((c) => c.method === 'POST' && c.path.endsWith('/exports/getAll')).length;
    return { jobs, tenants: options.tenants, sweepSeconds, messages, getAllCalls, handleSeconds, checked };
  } finally {
    await rt.close();
    await pubsub.close();
    await sandbox.close();
    await emulators.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function mewsPollJson(r: MewsPollResult) {
  return { ...r, sweepSeconds: round(r.sweepSeconds), handleSeconds: round(r.handleSeconds) };
}

export function mewsPollLines(r: MewsPollResult): string[] {
  const [low, high] = MEWS_POLL_TARGETS.getAllPerSweep;
  const ok = r.getAllCalls >= low && r.getAllCalls <= high;
  return [
    `mewsPoll: ${r.jobs} running Mews exports of ${r.tenants.length} tenants (${r.tenants.join(' + ')}): one sweep queued them in ${r.sweepSeconds.toFixed(2)} s as ${r.messages} messages`,
    `mewsPoll: exports/getAll calls for the sweep's checks: ${r.getAllCalls} (target ${low}–${high}) ${ok ? 'PASS' : 'MISS'}; ${r.checked} jobs checked in ${r.handleSeconds.toFixed(2)} s`,
  ];
}

const round = (n: number) => Math.round(n * 1000) / 1000;
