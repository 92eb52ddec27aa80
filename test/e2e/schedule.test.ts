import { randomBytes } from 'node:crypto';
import { LocalKeyWrapper } from '../../functions/adapters/local-key-wrapper.js';
import { TokenVault } from '../../functions/core/token-vault.js';
import type { SealedSecret } from '../../functions/core/token-vault.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../fixtures/wait.js';
import { drainEvents, tapEvents, type PulledEvent } from './events.js';
import { callsTo, getConsent, listExports, type ExportJson } from './exports.js';
import { connectViaAutomation, newConnectSession, startE2EStack, type E2EStack } from './stack.js';

/**
 * Scheduled exports of time-based grants on the local stack, driven only by the local Cloud
 * Scheduler (the sandbox's, provisioned by the production provisioning code) firing the exports
 * and expiry ticks on its cron, on the sandbox clock that the functions follow. No test calls a
 * tick route directly.
 */
const DAY_S = 86_400;
const TAP = 'schedule-tap';
let stack: E2EStack;

beforeAll(async () => {
  stack = await startE2EStack(
    'schedule',
    { archiveBytes: 256 * 1024, jobDurationSeconds: 0, mewsPendingSeconds: 1, mewsProcessingSeconds: 1, mewsExportBytes: 20_000 },
    { sweepIntervalMs: 1_000, tickIntervalMs: 2_000 },
  );
  await tapEvents(stack, TAP);
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

async function timeBasedConsent(appUserId: string, resources: string[]): Promise<string> {
  const session = await newConnectSession(stack, appUserId, resources);
  const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'DAYS_30', user: `${appUserId}@example.com` });
  const consent = flow.query['consent'];
  if (!consent || flow.query['outcome'] !== 'granted') throw new Error(`consent for ${appUserId}: ${flow.location}`);
  return consent;
}

async function advance(seconds: number): Promise<void> {
  const res = await stack.sandbox('/sandbox/v1/clock:advance', { body: { seconds } });
  if (res.status !== 200) throw new Error(`clock:advance: HTTP ${res.status}`);
}

/** The local Cloud Scheduler's attempts at a tick route so far. */
async function tickRuns(route: string): Promise<number> {
  return (await stack.calls()).filter((c) => c.path.endsWith(route) && c.status === 200).length;
}

/** Waits until the tick has run `n` more times (a positive signal that time passed for the schedule). */
async function ticksPass(route: string, n: number): Promise<void> {
  const from = await tickRuns(route);
  await waitUntil(async () => ((await tickRuns(route)) >= from + n ? true : undefined), { what: `${n} more runs of ${route}`, timeoutMs: 60_000, intervalMs: 300 });
}

async function exportsDelivered(consent: string, count: number): Promise<ExportJson[]> {
  return waitUntil(
    async () => {
      const jobs = await listExports(stack, consent);
      return jobs.length === count && jobs.every((j) => j.state === 'DELIVERED') ? jobs : undefined;
    },
    { what: `${count} delivered exports of ${consent}`, timeoutMs: 180_000, intervalMs: 500 },
  );
}

type Scheduled = ExportJson & { startTime?: string };

const initiates = async () => callsTo(await stack.calls(), 'POST', /portabilityArchive:initiate$/).filter((c) => c.status === 200).length;

interface TenantJson {
  name: string;
  schedule?: { entityTypes: string[]; intervalHours: number; paused: boolean; nextExportTime?: string; lastRequestTime?: string };
}

/** A tenant's exports, as the API lists them. */
async function tenantExports(tenant: string): Promise<ExportJson[]> {
  const res = await stack.api(`/v1/exports?tenant=${encodeURIComponent(tenant)}&pageSize=100`);
  if (res.status !== 200) throw new Error(`GET /v1/exports?tenant: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { exports: ExportJson[] }).exports;
}

async function tenantExportsDelivered(tenant: string, count: number): Promise<ExportJson[]> {
  return waitUntil(
    async () => {
      const jobs = await tenantExports(tenant);
      return jobs.length === count && jobs.every((j) => j.state === 'DELIVERED') ? jobs : undefined;
    },
    { what: `${count} delivered exports of ${tenant}`, timeoutMs: 120_000, intervalMs: 500 },
  );
}

const mewsAdds = async () => callsTo(await stack.calls(), 'POST', /\/exports\/add$/).filter((c) => c.status === 200).length;

describe('scheduled exports on the local Cloud Scheduler', () => {
  it('first export, nothing within 24 h, an incremental second after clock:advance, pause stops the third, EXPIRED after 30 days with one expiring and one expired event', async () => {
    await drainEvents(stack, TAP);
    const consent = await timeBasedConsent('scheduled-user', ['myactivity.search']);
    const [first] = (await exportsDelivered(consent, 1)) as Scheduled[];
    expect(first!.startTime ?? null).toBeNull();
    expect(await initiates()).toBe(1);

    // Ticks inside the next 24 hours start nothing.
    await ticksPass('/ticks/exports', 2);
    expect(await listExports(stack, consent)).toHaveLength(1);
    expect(await initiates()).toBe(1);

    await advance(DAY_S + 60);
    const two = (await exportsDelivered(consent, 2)) as Scheduled[];
    const second = two.find((j) => j.name !== first!.name)!;
    // Incremental: it starts where the first ended.
    expect(second.startTime).toBe(first!.exportTime);

    const paused = await stack.api(`/v1/${consent}?updateMask=schedule.paused`, { method: 'PATCH', body: { schedule: { paused: true } } });
    expect(paused.status).toBe(200);
    expect(((await paused.json()) as { schedule: { paused: boolean } }).schedule.paused).toBe(true);
    await advance(DAY_S + 60);
    await ticksPass('/ticks/exports', 3);
    expect(await listExports(stack, consent)).toHaveLength(2);

    // Within the week before the grant ends: warned once; at its end: EXPIRED, announced once.
    await advance(23 * DAY_S);
    await waitUntil(async () => ((await drainEvents(stack, TAP)).some((e) => e.data.type === 'consent.expiring' && e.data.subject === consent) ? true : undefined), {
      what: 'consent.expiring',
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    await ticksPass('/ticks/expiry', 2);
    await advance(7 * DAY_S);
    const expired = await waitUntil(
      async () => {
        const c = await getConsent(stack, consent);
        return c.state === 'EXPIRED' ? c : undefined;
      },
      { what: `${consent} EXPIRED`, timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(expired.state).toBe('EXPIRED');
    await ticksPass('/ticks/expiry', 2);
    const later: PulledEvent[] = await drainEvents(stack, TAP);
    const ofConsent = later.filter((e) => e.data.subject === consent).map((e) => e.data.type);
    expect(ofConsent.filter((t) => t === 'consent.expiring')).toEqual([]);
    expect(ofConsent.filter((t) => t === 'consent.expired')).toEqual(['consent.expired']);
  }, 300_000);

  it('a Mews tenant with a schedule: exported at the next tick, nothing within its interval, again after clock:advance, nothing while paused', async () => {
    const keys = { clientToken: `ct-${randomBytes(12).toString('hex')}`, accessToken: `at-${randomBytes(12).toString('hex')}` };
    const upstream = await stack.sandbox('/sandbox/v1/mews/tenants', { body: keys });
    expect(upstream.status).toBe(200);
    const { platformAddress } = (await upstream.json()) as { platformAddress: string };
    const addsBefore = await mewsAdds();
    const created = await stack.api('/v1/tenants', {
      body: { source: 'mews', displayName: 'Scheduled hotel', platformAddress, ...keys, schedule: { entityTypes: ['Reservation'], intervalHours: 24 } },
    });
    expect(created.status).toBe(200);
    const tenant = ((await created.json()) as TenantJson).name;

    // The exports tick (on its cron) requests the first export; later ticks within 24 h do not.
    await tenantExportsDelivered(tenant, 1);
    await ticksPass('/ticks/exports', 2);
    expect(await tenantExports(tenant)).toHaveLength(1);
    expect((await mewsAdds()) - addsBefore).toBe(1);
    const afterFirst = (await (await stack.api(`/v1/${tenant}`)).json()) as TenantJson;
    expect(Date.parse(afterFirst.schedule!.nextExportTime!) - Date.parse(afterFirst.schedule!.lastRequestTime!)).toBe(24 * 3_600_000);

    await advance(DAY_S + 60);
    await tenantExportsDelivered(tenant, 2);
    expect((await mewsAdds()) - addsBefore).toBe(2);

    const paused = await stack.api(`/v1/${tenant}?updateMask=schedule.paused`, { method: 'PATCH', body: { schedule: { paused: true } } });
    expect(paused.status).toBe(200);
    expect(((await paused.json()) as TenantJson).schedule?.paused).toBe(true);
    await advance(DAY_S + 60);
    await ticksPass('/ticks/exports', 3);
    expect(await tenantExports(tenant)).toHaveLength(2);
    expect((await mewsAdds()) - addsBefore).toBe(2);
  }, 300_000);

  it('racing runs of the exports tick request each slot once; consents whose grant was revoked by the user are parked after one attempt', async () => {
    // The exports tick is paused while the users connect, so the revocation below comes first.
    const job = `${stack.info.scheduler.parent}/jobs/exports-tick`;
    const control = (verb: string) => fetch(`${stack.info.scheduler.endpoint}/v1/${job}:${verb}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect((await control('pause')).status).toBe(200);
    await stack.clearCalls();
    const consents = await Promise.all(Array.from({ length: 10 }, (_, i) => timeBasedConsent(`racing-${i}`, ['chrome.history'])));
    // One user revokes access in their Google account before the first tick reaches them.
    const revokedId = consents[0]!.split('/')[1]!;
    const doc = await stack.firestore.collection('consents').doc(revokedId).get();
    const vault = new TokenVault(new LocalKeyWrapper(Buffer.from(stack.secrets.localTokenKey, 'base64')));
    const refresh = await vault.open(doc.get('token') as SealedSecret, revokedId);
    const revoked = await fetch(`${stack.info.services.sandbox.url}/revoke`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refresh }),
    });
    expect(revoked.status).toBe(200);
    // Three manual runs of the job at once, and its own schedule again.
    const runs = await Promise.all([1, 2, 3].map(() => control('run')));
    expect(runs.map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await control('resume')).status).toBe(200);
    for (const consent of consents.slice(1)) await exportsDelivered(consent, 1);
    const parked = await waitUntil(
      async () => {
        const c = await getConsent(stack, consents[0]!);
        return c.state === 'NEEDS_RECONSENT' ? c : undefined;
      },
      { what: 'the revoked consent parked', timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(parked.state).toBe('NEEDS_RECONSENT');
    const tokenCallsBefore = (await stack.calls()).filter((c) => c.path === '/token').length;
    await ticksPass('/ticks/exports', 3);
    // Each delivered consent: one job, one upstream initiate for its slot, however many ticks ran.
    for (const consent of consents.slice(1)) expect(await listExports(stack, consent)).toHaveLength(1);
    const okInitiates = callsTo(await stack.calls(), 'POST', /portabilityArchive:initiate$/).filter((c) => c.status === 200).length;
    expect(okInitiates).toBe(9);
    // The parked consent is never tried again: no refresh of its token by later ticks.
    expect((await stack.calls()).filter((c) => c.path === '/token').length).toBe(tokenCallsBefore);
  }, 300_000);
});
