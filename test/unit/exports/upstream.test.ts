import { describe, expect, it } from 'vitest';
import { AppError } from '../../../functions/core/errors.js';
import { initiateExport } from '../../../functions/core/exports/initiate.js';
import { pollExport } from '../../../functions/core/exports/poll.js';
import { requestExports } from '../../../functions/core/exports/request.js';
import { Upstream } from '../../../functions/core/sources/upstream.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';

type Env = Awaited<ReturnType<typeof exportDepsWithFakes>>;

async function started(env: Env) {
  const out = await requestExports(env.deps, { consentId: 'c1', slot: 'test', resources: ['myactivity.search'] });
  const id = out.exports[0]!.name.split('/')[1]!;
  await initiateExport(env.deps, id);
  return { id, job: (await env.jobs.get(id))! };
}

/** Makes the fake answer 401 to the next `times` state reads, whatever the token. */
function unauthorizedStates(env: Env, times: number) {
  const state = env.source.state.bind(env.source);
  let left = times;
  env.source.state = (credential, upstreamId) => (left-- > 0 ? Promise.reject(new AppError('UNAUTHENTICATED', 'HTTP 401')) : state(credential, upstreamId));
}

describe("the core upstream service: credentials and consent transitions are the core's", () => {
  it('one 401 is checked with a fresh credential: the call succeeds and the consent stays ACTIVE', async () => {
    const env = await exportDepsWithFakes();
    const { id } = await started(env);
    unauthorizedStates(env, 1);
    env.clock.advance(60_000);
    expect(await pollExport(env.deps, id)).toBe('in_progress');
    expect((await env.consents.get('c1'))?.status).toBe('ACTIVE');
    expect(env.queue.on('export-events')).toHaveLength(0);
  });

  it('a second 401 with the fresh credential parks the consent as NEEDS_RECONSENT once, with one event; the job ends, and no later call reaches upstream', async () => {
    const env = await exportDepsWithFakes();
    const { id, job } = await started(env);
    unauthorizedStates(env, 2);
    env.clock.advance(60_000);
    expect(await pollExport(env.deps, id)).toBe('ended');
    expect(await env.jobs.get(id)).toMatchObject({ state: 'ABORTED', endReason: 'CONSENT_ENDED' });
    expect((await env.consents.get('c1'))?.status).toBe('NEEDS_RECONSENT');
    const events = env.queue.on('export-events').map((m) => (m.data as { type: string }).type);
    expect(events.filter((t) => t === 'consent.needs_reconsent')).toHaveLength(1);
    const calls = env.source.calls.state;
    await expect(env.deps.upstream.state({ source: 'google', id: 'c1' }, job.upstreamId!)).rejects.toMatchObject({ reason: 'CONSENT_NEEDS_RECONSENT' });
    expect(env.source.calls.state).toBe(calls);
  });

  it('refuses a revoked consent before any upstream call, even with a credential cached', async () => {
    const env = await exportDepsWithFakes();
    const { id } = await started(env);
    await env.consents.update('c1', (c) => ({ kind: 'put', value: { ...c!, status: 'REVOKED' }, result: null }));
    const calls = env.source.calls.state;
    env.clock.advance(60_000);
    expect(await pollExport(env.deps, id)).toBe('ended');
    expect(env.source.calls.state).toBe(calls);
    expect(await env.jobs.get(id)).toMatchObject({ state: 'ABORTED', detail: 'consent is REVOKED' });
  });

  it("a job names its source; a record written before sources were named is Google's; a source not configured is refused", async () => {
    const env = await exportDepsWithFakes();
    const { id, job } = await started(env);
    expect(job.source).toBe('google');
    const { source: _dropped, ...legacy } = job;
    await env.jobs.update(id, () => ({ kind: 'put', value: legacy, result: null }));
    env.clock.advance(60_000);
    expect(await pollExport(env.deps, id)).toBe('in_progress');
    await expect(new Upstream({}).state({ source: 'mews', id: 't1' }, 'x')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'SOURCE_NOT_CONFIGURED' });
  });
});
