import { describe, expect, it } from 'vitest';
import { AppError } from '../../../functions/core/errors.js';
import type { ExportDeps } from '../../../functions/core/exports/deps.js';
import { newJob, type ExportJob } from '../../../functions/core/exports/model.js';
import { pollExports } from '../../../functions/core/exports/poll.js';
import { sweep } from '../../../functions/core/exports/sweep.js';
import type { BatchStates, SourceCredential, UpstreamState } from '../../../functions/core/ports/export-source.js';
import type { CredentialPurpose, GrantCredentials } from '../../../functions/core/sources/credentials.js';
import { Upstream } from '../../../functions/core/sources/upstream.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';
import { fakeAccessToken, FakeExportSource } from '../../fakes/fake-export-source.js';

/** A source that reads many jobs of a grant per call, at most `limit` (Mews `exports/getAll`: 1000; 10 here to keep the test small). */
class BatchSource extends FakeExportSource {
  readonly batchCalls: number[] = [];
  readonly batch: BatchStates = {
    limit: 10,
    states: async (credential, ids) => {
      this.batchCalls.push(ids.length);
      if (ids.length > this.batch.limit) throw new AppError('INVALID_ARGUMENT', 'too many ids');
      const out = new Map<string, UpstreamState>();
      for (const id of ids) {
        const state = await this.state(credential, id).catch(() => undefined);
        if (state) out.set(id, state);
      }
      this.calls.state -= ids.length;
      return out;
    },
  };
}

/** Tenant-like credentials: an API credential per grant id, or the grant is gone. */
class TenantKeys implements GrantCredentials {
  readonly gone = new Set<string>();
  async get(id: string, _purpose: CredentialPurpose): Promise<SourceCredential> {
    if (this.gone.has(id)) throw new AppError('FAILED_PRECONDITION', 'tenant is DELETED', { reason: 'CONSENT_TENANT_DELETED' });
    return { kind: 'access_token', accessToken: fakeAccessToken(id) };
  }
  forget(): void {}
  async refused(): Promise<void> {}
}

/** Google-like jobs of consent c1 read one per call, and `count` jobs of tenant t1 on a batch source. */
async function setup(count: number) {
  const env = await exportDepsWithFakes({ sweepLimit: 100 });
  const batch = new BatchSource();
  const keys = new TenantKeys();
  const google = { source: env.source, credentials: env.credentials };
  const deps: ExportDeps = { ...env.deps, upstream: new Upstream({ google, mews: { source: batch, credentials: keys } }) };
  const now = env.clock.now();
  const running = async (id: string, source: 'google' | 'mews', grant: string, resource: string, upstreamId: string) => {
    const job: ExportJob = {
      ...newJob({ source, consentId: grant, appUserId: 'u', resource, slot: 's', startTime: null, endTime: null }, now),
      state: 'IN_PROGRESS',
      upstreamId,
      upstreamStartedAt: now,
      nextPollAt: new Date(now.getTime() - 1_000),
    };
    await env.jobs.create(id, job);
  };
  const tenantJobs: string[] = [];
  for (let i = 0; i < count; i++) {
    const started = await batch.start({ kind: 'access_token', accessToken: fakeAccessToken('t1') }, { resource: `type-${i}`, startTime: null, endTime: null });
    if (started.kind !== 'started') throw new Error('not started');
    const id = `t${String(i).padStart(5, '0')}`;
    await running(id, 'mews', 't1', `type-${i}`, started.upstreamId);
    tenantJobs.push(id);
  }
  for (const [i, resource] of ['myactivity.search', 'chrome.history'].entries()) {
    const started = await env.source.start({ kind: 'access_token', accessToken: fakeAccessToken('c1') }, { resource, startTime: null, endTime: null });
    if (started.kind !== 'started') throw new Error('not started');
    await running(`g${i}`, 'google', 'c1', resource, started.upstreamId);
  }
  return { ...env, deps, batch, keys, tenantJobs };
}

describe('status checks batched per grant', () => {
  it("the sweep sends the due checks of one tenant in messages of at most the source's batch limit; one job per message for a source that reads one at a time", async () => {
    const env = await setup(25);
    const report = await sweep(env.deps);
    expect(report.polls).toBe(27);
    const messages = env.queue.on('job-poll').map((m) => m.data as { job?: string; jobs?: string[] });
    expect(messages.map((m) => m.jobs?.length ?? 1).sort((a, b) => b - a)).toEqual([10, 10, 5, 1, 1]);
    expect(messages.filter((m) => m.job).map((m) => m.job)).toEqual(['g0', 'g1']);
    expect(new Set(messages.flatMap((m) => m.jobs ?? [])).size).toBe(25);
    // Queued once: a second sweep right away sends nothing.
    await sweep(env.deps);
    expect(env.queue.on('job-poll')).toHaveLength(5);
  });

  it('one upstream read per batch of jobs: complete ones move to TRANSFERRING, running ones get their next check', async () => {
    const env = await setup(23);
    const done = env.tenantJobs.slice(0, 3);
    for (const id of done) env.batch.complete((await env.jobs.get(id))!.upstreamId!, [{ name: 'f.jsonl', url: 'https://files.example/f' }]);
    const report = await pollExports(env.deps, [...env.tenantJobs, 'g0']);
    expect(env.batch.batchCalls).toEqual([10, 10, 3]);
    expect(env.batch.calls.state).toBe(0);
    // The Google job is read with one state call of its own.
    expect(env.source.calls.state).toBe(1);
    expect(report).toEqual({ ignored: 0, in_progress: 21, complete: 3, retried: 0, ended: 0, failed: 0 });
    for (const id of done) expect((await env.jobs.get(id))?.state).toBe('TRANSFERRING');
    expect(env.queue.on('archive-transfer')).toHaveLength(3);
    const later = await env.jobs.get(env.tenantJobs[10]!);
    expect(later?.state).toBe('IN_PROGRESS');
    expect(later!.nextPollAt!.getTime()).toBeGreaterThan(env.clock.now().getTime());
    // Delivered again (at least once): nothing is due any more, nothing is read upstream.
    expect(await pollExports(env.deps, env.tenantJobs)).toMatchObject({ ignored: 23 });
    expect(env.batch.batchCalls).toHaveLength(3);
  });

  it('a job upstream does not list is asked on its own and left due when that fails; the others move', async () => {
    const env = await setup(3);
    await env.jobs.update(env.tenantJobs[0]!, (j) => ({ kind: 'put', value: { ...j!, upstreamId: 'unknown-upstream-id' }, result: null }));
    const report = await pollExports(env.deps, env.tenantJobs);
    expect(report).toMatchObject({ in_progress: 2, failed: 1 });
    expect(env.batch.calls.state).toBe(1);
    const left = await env.jobs.get(env.tenantJobs[0]!);
    expect(left?.state).toBe('IN_PROGRESS');
    expect(left!.nextPollAt!.getTime()).toBeLessThanOrEqual(env.clock.now().getTime());
  });

  it('a grant that ended (tenant deleted) ends every job of the batch ABORTED, without reading upstream', async () => {
    const env = await setup(4);
    env.keys.gone.add('t1');
    expect(await pollExports(env.deps, env.tenantJobs)).toMatchObject({ ended: 4 });
    expect(env.batch.batchCalls).toEqual([]);
    for (const id of env.tenantJobs) expect(await env.jobs.get(id)).toMatchObject({ state: 'ABORTED', endReason: 'CONSENT_ENDED' });
  });
});
