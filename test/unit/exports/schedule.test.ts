import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { getConsent, patchConsent } from '../../../functions/core/consent/consents.js';
import type { Consent } from '../../../functions/core/consent/model.js';
import { withSchedule } from '../../../functions/core/consent/schedule.js';
import { AppError } from '../../../functions/core/errors.js';
import { initiateExport } from '../../../functions/core/exports/initiate.js';
import { pollExport } from '../../../functions/core/exports/poll.js';
import { runTickPage, startTick, type TickKind, type TickPage } from '../../../functions/core/exports/schedule.js';
import { transferFile } from '../../../functions/core/exports/transfer.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';

type Env = Awaited<ReturnType<typeof exportDepsWithFakes>>;
const DAY = 86_400_000;

/** A 30-day consent `id` for a group with time filters and one without, ACTIVE now. */
async function timeBased(env: Env, id = 't1', appUserId = 'user 1') {
  const now = env.clock.now();
  const consent: Consent = withSchedule(
    {
      appUserId,
      groups: [
        { resource: 'myactivity.search', accessType: 'TIME_BASED' },
        { resource: 'youtube.subscriptions', accessType: 'TIME_BASED' },
      ],
      grantedAt: now,
      expiresAt: new Date(now.getTime() + 30 * DAY),
      status: 'ACTIVE',
      updatedAt: now,
      token: await env.deps.vault.seal('1//refresh', id),
    },
    now,
  );
  await env.consents.create(id, consent);
  return id;
}

/** Runs a tick to the end: its first page and every page the pages publish. */
async function tick(env: Env, kind: TickKind) {
  const before = env.queue.on('schedule-page').length;
  await startTick(env.deps, kind);
  const reports = [];
  for (let i = before; i < env.queue.on('schedule-page').length; i++) {
    const m = env.queue.on('schedule-page')[i]!.data as { kind: TickKind; before: string; after?: { at: string; id: string }; page: number };
    const page: TickPage = { kind: m.kind, before: new Date(m.before), after: m.after ? { at: new Date(m.after.at), id: m.after.id } : null, page: m.page };
    reports.push(await runTickPage(env.deps, page));
  }
  return reports;
}

const jobsOf = (env: Env, consentId: string) => env.jobs.all().filter((j) => j.value.consentId === consentId);
const types = (env: Env) => env.queue.on('export-events').map((m) => (m.data as { type: string }).type);

/** Delivers every job of the consent that is not terminal yet (start, complete upstream, copy). */
async function deliverAll(env: Env, consentId: string) {
  for (const { id } of jobsOf(env, consentId)) {
    await initiateExport(env.deps, id);
    const job = (await env.jobs.get(id))!;
    if (job.state !== 'IN_PROGRESS') continue;
    const url = `https://signed/${id}`;
    env.downloader.archives.set(url, randomBytes(2000));
    env.source.complete(job.upstreamId!, [{ name: 'a.zip', url }]);
  }
  env.clock.advance(10_000);
  for (const { id } of jobsOf(env, consentId)) {
    await pollExport(env.deps, id);
    if ((await env.jobs.get(id))?.state === 'TRANSFERRING') await transferFile(env.deps, id, 0);
  }
}

describe('scheduled exports of time-based grants (exports tick)', () => {
  it('the first tick exports every time-based group; a tick inside the interval starts nothing; the next slot is incremental for groups with time filters', async () => {
    const env = await exportDepsWithFakes();
    const id = await timeBased(env);
    await tick(env, 'exports');
    const first = jobsOf(env, id);
    expect(first.map((j) => [j.value.resource, j.value.startTime])).toEqual(
      expect.arrayContaining([
        ['myactivity.search', null],
        ['youtube.subscriptions', null],
      ]),
    );
    await deliverAll(env, id);
    const firstExport = first.map((j) => j.value.slot);
    expect(new Set(firstExport).size).toBe(1);
    const delivered = jobsOf(env, id).find((j) => j.value.resource === 'myactivity.search')!.value;
    expect(delivered.state).toBe('DELIVERED');

    env.clock.advance(12 * 3_600_000);
    await tick(env, 'exports');
    expect(jobsOf(env, id)).toHaveLength(2);

    env.clock.advance(12 * 3_600_000);
    await tick(env, 'exports');
    const second = jobsOf(env, id).filter((j) => !firstExport.includes(j.value.slot));
    expect(second).toHaveLength(2);
    const byGroup = Object.fromEntries(second.map((j) => [j.value.resource, j.value.startTime?.toISOString() ?? null]));
    // Incremental where Google documents time filters; a full snapshot for the other group.
    expect(byGroup['myactivity.search']).toBe(delivered.exportTime!.toISOString());
    expect(byGroup['youtube.subscriptions']).toBeNull();
    const view = await getConsent(env.deps, id);
    expect(view.schedule).toMatchObject({ intervalHours: 24, paused: false, lastExportTimes: { 'myactivity.search': delivered.exportTime!.toISOString() } });
  });

  it('duplicate and racing ticks request each slot once: one job per group and one upstream start', async () => {
    const env = await exportDepsWithFakes();
    const id = await timeBased(env);
    await Promise.all([tick(env, 'exports'), tick(env, 'exports'), tick(env, 'exports')]);
    const jobs = jobsOf(env, id);
    expect(jobs).toHaveLength(2);
    await Promise.all(env.queue.on('export-requested').map((m) => initiateExport(env.deps, (m.data as { job: string }).job)));
    expect(env.source.calls.start).toBe(2);
  });

  it('pages through every due consent in bounded batches, a continuation per page', async () => {
    const env = await exportDepsWithFakes({ tickBatch: 7 });
    for (let i = 0; i < 30; i++) await timeBased(env, `c${String(i).padStart(3, '0')}`, `user${i}`);
    // The exports tick also runs a chain over tenants (none here: one empty page).
    const reports = (await tick(env, 'exports')).filter((r) => r.kind === 'exports');
    expect(reports.map((r) => r.listed)).toEqual([7, 7, 7, 7, 2]);
    expect(reports.reduce((n, r) => n + r.changed, 0)).toBe(30);
    for (let i = 0; i < 30; i++) expect(jobsOf(env, `c${String(i).padStart(3, '0')}`)).toHaveLength(2);
  });

  it('a paused schedule starts nothing; resuming makes the passed slot due at once', async () => {
    const env = await exportDepsWithFakes();
    const id = await timeBased(env);
    await patchConsent(env.deps, id, { updateMask: ['schedule.paused'], paused: true });
    await tick(env, 'exports');
    expect(jobsOf(env, id)).toHaveLength(0);
    env.clock.advance(2 * DAY);
    await tick(env, 'exports');
    expect(jobsOf(env, id)).toHaveLength(0);
    const resumed = await patchConsent(env.deps, id, { updateMask: ['schedule.paused', 'schedule.intervalHours'], paused: false, intervalHours: 48 });
    expect(resumed.schedule).toMatchObject({ paused: false, intervalHours: 48 });
    await tick(env, 'exports');
    expect(jobsOf(env, id)).toHaveLength(2);
    // Missed slots are not back-filled: the next one is an interval after the slot just requested.
    expect((await env.consents.get(id))!.dueAt!.getTime()).toBeGreaterThan(env.clock.now().getTime());
  });

  it('refuses a schedule change on a one-time consent, and a mask naming a field not given', async () => {
    const env = await exportDepsWithFakes();
    await expect(patchConsent(env.deps, 'c1', { updateMask: ['schedule.paused'], paused: true })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'NO_SCHEDULE' });
    const id = await timeBased(env);
    const error = (await patchConsent(env.deps, id, { updateMask: ['schedule.intervalHours'] }).catch((e: unknown) => e)) as AppError;
    expect(error.violations.map((v) => v.field)).toEqual(['schedule.intervalHours']);
  });

  it('a consent whose grant is gone is parked after one attempt and never tried again by later ticks', async () => {
    const env = await exportDepsWithFakes();
    const id = await timeBased(env);
    env.source.start = async () => {
      // As the Google adapter does on invalid_grant: the consent is parked, then the refusal.
      await env.consents.update(id, (c) => ({ kind: 'put', value: { ...c!, status: 'NEEDS_RECONSENT' }, result: null }));
      throw new AppError('FAILED_PRECONDITION', 'needs a new consent', { reason: 'CONSENT_NEEDS_RECONSENT' });
    };
    let starts = 0;
    const start = env.source.start;
    env.source.start = (...args) => ((starts += 1), start(...args));
    await tick(env, 'exports');
    for (const m of env.queue.on('export-requested')) await initiateExport(env.deps, (m.data as { job: string }).job);
    expect((await env.consents.get(id))?.status).toBe('NEEDS_RECONSENT');
    const attempts = starts;
    for (let day = 1; day <= 3; day++) {
      env.clock.advance(DAY);
      await tick(env, 'exports');
    }
    expect(starts).toBe(attempts);
    expect(jobsOf(env, id)).toHaveLength(2);
  });
});

describe('expiry of time-based grants (expiry tick)', () => {
  it('sends consent.expiring once a week before the end, then EXPIRED with consent.expired once; waiting exports end ABORTED, transferring ones finish', async () => {
    const env = await exportDepsWithFakes();
    const id = await timeBased(env);
    await tick(env, 'expiry');
    expect(types(env)).toEqual([]);
    env.clock.advance(23 * DAY + 3_600_000);
    await tick(env, 'expiry');
    await tick(env, 'expiry');
    expect(types(env)).toEqual(['consent.expiring']);
    // Two exports of the last slot: one already transferring, one still waiting to start.
    await tick(env, 'exports');
    const [search, youtube] = ['myactivity.search', 'youtube.subscriptions'].map((r) => jobsOf(env, id).find((j) => j.value.resource === r)!.id);
    await initiateExport(env.deps, search!);
    const job = (await env.jobs.get(search!))!;
    env.downloader.archives.set('https://signed/last', randomBytes(3000));
    env.source.complete(job.upstreamId!, [{ name: 'a.zip', url: 'https://signed/last' }]);
    env.clock.advance(10_000);
    await pollExport(env.deps, search!);
    env.clock.advance(7 * DAY);
    await tick(env, 'expiry');
    await tick(env, 'expiry');
    expect(await env.consents.get(id)).toMatchObject({ status: 'EXPIRED', token: null, dueAt: null });
    expect(types(env).filter((t) => t.startsWith('consent.'))).toEqual(['consent.expiring', 'consent.expired']);
    expect(await env.jobs.get(youtube!)).toMatchObject({ state: 'ABORTED', detail: 'the time-based grant ended' });
    expect(await transferFile(env.deps, search!, 0)).toBe('delivered');
    // Nothing is scheduled for an expired consent.
    env.clock.advance(DAY);
    await tick(env, 'exports');
    expect(jobsOf(env, id)).toHaveLength(2);
  });
});
