import { describe, expect, it } from 'vitest';
import { ConsentCredentials } from '../../../functions/core/consent/credentials.js';
import { initiateExport } from '../../../functions/core/exports/initiate.js';
import { pollExport } from '../../../functions/core/exports/poll.js';
import { runTickPage, startTick, type PageKind, type TickPage } from '../../../functions/core/exports/schedule.js';
import { transferFile } from '../../../functions/core/exports/transfer.js';
import { Upstream } from '../../../functions/core/sources/upstream.js';
import { TenantCredentials } from '../../../functions/core/tenants/credentials.js';
import { tenantSecretId, type Tenant, type TenantSchedule } from '../../../functions/core/tenants/model.js';
import { dueAtOf } from '../../../functions/core/tenants/schedule.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';
import { FakeConsentTokens } from '../../fakes/fake-consent-tokens.js';
import { FakeExportSource, fakeAccessToken } from '../../fakes/fake-export-source.js';

// Scheduled exports of tenants (issue 15: "an interval per tenant"), run by the exports tick beside
// the consents' chain: due ACTIVE tenants get one job per scheduled entity type per slot.

const HOUR = 3_600_000;
const UNITS = ['Reservation', 'Customer', 'Payment'];

async function env(settings: { tickBatch?: number } = {}) {
  const base = await exportDepsWithFakes(settings);
  const { deps, clock, consents, tenants, queue } = base;
  const tenantSource = new FakeExportSource();
  const upstream = new Upstream({
    google: { source: base.source, credentials: new ConsentCredentials({ consents, tokens: new FakeConsentTokens({ clock, consents, queue }) }) },
    mews: { source: tenantSource, credentials: new TenantCredentials({ tenants, vault: deps.vault, clock }), units: UNITS },
  });
  return { ...base, deps: { ...deps, upstream }, tenantSource };
}
type Env = Awaited<ReturnType<typeof env>>;

/** A tenant `id` (32 hex digits from `n`) with the given status and schedule. */
async function tenant(e: Env, n: number, schedule: Partial<TenantSchedule> | null = {}, status: Tenant['status'] = 'ACTIVE') {
  const id = n.toString(16).padStart(32, '0');
  const now = e.clock.now();
  const s: TenantSchedule | null = schedule && {
    entityTypes: ['Reservation', 'Customer'],
    intervalHours: 6,
    paused: false,
    nextExportTime: now,
    lastRequestTime: null,
    ...schedule,
  };
  await e.tenants.create(id, {
    source: 'mews',
    displayName: `Hotel ${n}`,
    platformAddress: 'https://api.example.test',
    tokens: status === 'DELETED' ? null : await e.deps.vault.seal(JSON.stringify({ clientToken: 'ct', accessToken: fakeAccessToken(id) }), tenantSecretId(id)),
    status,
    schedule: s,
    dueAt: dueAtOf(status, s),
    createdAt: now,
    updatedAt: now,
  });
  return id;
}

/** Runs an exports tick to the end; the reports of its tenant pages. */
async function tick(e: Env) {
  const before = e.queue.on('schedule-page').length;
  await startTick(e.deps, 'exports');
  const reports = [];
  for (let i = before; i < e.queue.on('schedule-page').length; i++) {
    const m = e.queue.on('schedule-page')[i]!.data as { kind: PageKind; before: string; after?: { at: string; id: string }; page: number };
    const page: TickPage = { kind: m.kind, before: new Date(m.before), after: m.after ? { at: new Date(m.after.at), id: m.after.id } : null, page: m.page };
    reports.push(await runTickPage(e.deps, page));
  }
  return reports.filter((r) => r.kind === 'tenant-exports');
}

const jobsOf = (e: Env, id: string) => e.jobs.all().filter((j) => j.value.consentId === id);
const slots = (e: Env, id: string) => [...new Set(jobsOf(e, id).map((j) => j.value.slot))];

/** Starts, completes upstream and transfers every job of the tenant that is not terminal yet. */
async function deliverAll(e: Env, id: string) {
  for (const { id: jid } of jobsOf(e, id)) {
    if ((await e.jobs.get(jid))?.state !== 'PENDING') continue;
    expect(await initiateExport(e.deps, jid)).toBe('started');
    const job = (await e.jobs.get(jid))!;
    const url = `https://files.example.test/${job.upstreamId}/0?token=t`;
    e.downloader.archives.set(url, Buffer.from('{"Id":"1"}\n'));
    e.tenantSource.complete(job.upstreamId!, [{ name: `${job.resource}-001.jsonl`, url }]);
  }
  e.clock.advance(10_000);
  for (const { id: jid } of jobsOf(e, id)) {
    if ((await e.jobs.get(jid))?.state !== 'IN_PROGRESS') continue;
    expect(await pollExport(e.deps, jid)).toBe('complete');
    await transferFile(e.deps, jid, 0);
    expect((await e.jobs.get(jid))?.state).toBe('DELIVERED');
  }
}

describe('scheduled exports of tenants (the exports tick)', () => {
  it('requests each scheduled entity type of a due ACTIVE tenant once per slot; not due, paused, unscheduled, NEEDS_CREDENTIALS and DELETED tenants get nothing', async () => {
    const e = await env();
    const t0 = e.clock.now();
    const due = await tenant(e, 1);
    const later = await tenant(e, 2, { nextExportTime: new Date(t0.getTime() + HOUR) });
    const paused = await tenant(e, 3, { paused: true });
    const none = await tenant(e, 4, null);
    const parked = await tenant(e, 5, {}, 'NEEDS_CREDENTIALS');
    const deleted = await tenant(e, 6, {}, 'DELETED');

    const reports = await tick(e);
    expect(reports.map((r) => [r.listed, r.changed, r.failed])).toEqual([[1, 1, 0]]);
    const jobs = jobsOf(e, due);
    expect(jobs.map((j) => j.value.resource).sort()).toEqual(['Customer', 'Reservation']);
    for (const j of jobs) expect(j.value).toMatchObject({ grantKind: 'tenant', source: 'mews', slot: `schedule:${t0.toISOString()}`, state: 'PENDING', startTime: null });
    expect(
      e.queue
        .on('export-requested')
        .map((m) => (m.data as { job: string }).job)
        .sort(),
    ).toEqual(jobs.map((j) => j.id).sort());
    for (const other of [later, paused, none, parked, deleted]) expect(jobsOf(e, other)).toEqual([]);
    // The schedule moved on one interval when the exports were requested.
    const after = (await e.tenants.get(due))!;
    expect(after.schedule).toMatchObject({ nextExportTime: new Date(t0.getTime() + 6 * HOUR), lastRequestTime: t0 });
    expect(after.dueAt).toEqual(new Date(t0.getTime() + 6 * HOUR));

    // An hour on, the second tenant is due; the first is not yet.
    e.clock.advance(HOUR);
    await tick(e);
    expect(slots(e, later)).toEqual([`schedule:${new Date(t0.getTime() + HOUR).toISOString()}`]);
    expect(slots(e, due)).toHaveLength(1);
  });

  it('a duplicated or racing tick requests a slot once: one job per entity type and one upstream export each', async () => {
    const e = await env();
    const id = await tenant(e, 1);
    await Promise.all([tick(e), tick(e), tick(e)]);
    await tick(e);
    expect(jobsOf(e, id)).toHaveLength(2);
    // Every export-requested message (duplicates included) reaches the same two jobs.
    await Promise.all(e.queue.on('export-requested').map((m) => initiateExport(e.deps, (m.data as { job: string }).job)));
    expect(e.tenantSource.calls.start).toBe(2);
  });

  it('ticks at different times that both list the same due slot (a retried or late tick) request it once, under the slot of its nextExportTime', async () => {
    const e = await env();
    const t0 = e.clock.now();
    const id = await tenant(e, 1);
    const pages: TickPage[] = [];
    for (let i = 0; i < 2; i++) {
      e.clock.advance(60_000);
      pages.push({ kind: 'tenant-exports', before: e.clock.now(), after: null, page: 0 });
    }
    const reports = await Promise.all(pages.map((p) => runTickPage(e.deps, p)));
    expect(reports.map((r) => r.listed)).toEqual([1, 1]);
    expect(reports.reduce((n, r) => n + r.changed, 0)).toBe(1);
    expect(slots(e, id)).toEqual([`schedule:${t0.toISOString()}`]);
    expect(jobsOf(e, id)).toHaveLength(2);
  });

  it('the next slot comes one interval later; while a slot still runs the next adopts its exports; missed slots are not back-filled', async () => {
    const e = await env();
    const t0 = e.clock.now();
    const id = await tenant(e, 1, { intervalHours: 1 });
    await tick(e);
    const first = jobsOf(e, id).map((j) => j.id);
    expect(first).toHaveLength(2);

    // Inside the interval: nothing new.
    e.clock.advance(30 * 60_000);
    await tick(e);
    expect(jobsOf(e, id)).toHaveLength(2);

    // The next slot while the first slot's exports have not started: they are adopted, not doubled.
    e.clock.advance(30 * 60_000);
    await tick(e);
    expect(jobsOf(e, id).map((j) => j.id)).toEqual(first);
    expect((await e.tenants.get(id))!.schedule?.nextExportTime).toEqual(new Date(t0.getTime() + 2 * HOUR));

    await deliverAll(e, id);
    // Five hours later (four slots missed): one new slot, and the next one after now.
    e.clock.advance(5 * HOUR);
    await tick(e);
    expect(slots(e, id)).toEqual([`schedule:${t0.toISOString()}`, `schedule:${new Date(t0.getTime() + 2 * HOUR).toISOString()}`]);
    expect(jobsOf(e, id)).toHaveLength(4);
    const next = (await e.tenants.get(id))!.schedule!.nextExportTime!;
    expect(next.getTime()).toBeGreaterThan(e.clock.now().getTime());
    expect(next.getTime() - e.clock.now().getTime()).toBeLessThanOrEqual(HOUR);
  });

  it('pages through every due tenant in bounded batches, a continuation per page', async () => {
    const e = await env({ tickBatch: 3 });
    const ids: string[] = [];
    for (let i = 1; i <= 8; i++) ids.push(await tenant(e, i, { entityTypes: ['Payment'] }));
    const reports = await tick(e);
    expect(reports.map((r) => [r.page, r.listed, r.more])).toEqual([
      [0, 3, true],
      [1, 3, true],
      [2, 2, false],
    ]);
    expect(reports.reduce((n, r) => n + r.changed, 0)).toBe(8);
    for (const id of ids) expect(jobsOf(e, id).map((j) => j.value.resource)).toEqual(['Payment']);
    // A page handled again (Pub/Sub redelivers) changes nothing.
    const again = await runTickPage(e.deps, { kind: 'tenant-exports', before: e.clock.now(), after: null, page: 0 });
    expect(again).toMatchObject({ listed: 0, changed: 0 });
    expect(e.jobs.all()).toHaveLength(8);
  });

  it('a tenant whose scheduled entity type its source no longer exports moves on instead of coming back every tick', async () => {
    const e = await env();
    const t0 = e.clock.now();
    const id = await tenant(e, 1, { entityTypes: ['Reservation', 'Retired'] });
    const [report] = await tick(e);
    expect(report).toMatchObject({ listed: 1, changed: 1 });
    expect(jobsOf(e, id)).toEqual([]);
    expect((await e.tenants.get(id))!.dueAt).toEqual(new Date(t0.getTime() + 6 * HOUR));
  });
});
