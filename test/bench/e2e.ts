// End-to-end benchmark: N exports requested at once on the local stack (emulators, sandbox, every
// function served by the Functions Framework), from the first `POST /v1/exports` to the last job
// DELIVERED. Consents are created first (not timed) through the real connect flow with the
// sandbox's consent automation. Besides exports/s and the slowest export, it reports where the
// time goes: per-job phases (from Firestore and the sandbox's call log) and CPU per process group.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Firestore, type Timestamp } from '@google-cloud/firestore';
import { firestoreOptions } from '../../functions/platform/clients.js';
import { REPO_ROOT } from '../../infra/local/functions.js';
import { startStack, type Stack, type StackInfo } from '../../infra/local/stack.js';
import { stackClient, type StackClient } from '../../infra/local/client.js';

export const E2E_TARGETS = { exportsPerSecond: 5, n: 200 } as const;
const GROUPS = ['myactivity.search', 'chrome.history'] as const;
const TERMINAL = ['DELIVERED', 'EXHAUSTED', 'NOT_GRANTED', 'FAILED', 'CANCELLED', 'ABORTED'];
const SWEEP_INTERVAL_MS = 1000;

export interface Quantiles {
  readonly median: number;
  readonly p90: number;
  readonly max: number;
}

export interface E2eResult {
  readonly n: number;
  readonly jobs: number;
  readonly exportsPerSecond: number;
  readonly slowestSeconds: number;
  /** Seconds from the first POST to the last job DELIVERED. */
  readonly totalSeconds: number;
  /** Seconds the N POSTs took to be answered (all sent at once). */
  readonly requestSeconds: Quantiles;
  /** Per job: POST → upstream initiate recorded; → first upstream state check; → archive download starts; → DELIVERED. */
  readonly phases: {
    readonly requestToStarted: Quantiles;
    readonly startedToFirstCheck: Quantiles;
    readonly firstCheckToDownload: Quantiles;
    readonly downloadToDelivered: Quantiles;
  };
  /** Transfers running at once (max, and time-weighted mean while any runs). */
  readonly transferInFlight: { readonly max: number; readonly mean: number };
  /** Messages each worker function handled during the run, by result (duplicates show as `ignored`). */
  readonly handled: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Upstream state calls per job (the poll's checks; a transfer asks only when its kept URL stopped working). */
  readonly stateCallsPerJob: Quantiles;
  /** CPU seconds per process group during the timed part, and the wall seconds it lasted. */
  readonly cpuSeconds: Readonly<Record<string, number>>;
  readonly consentSetupSeconds: number;
}

function quantiles(values: readonly number[]): Quantiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { median: at(0.5), p90: at(0.9), max: sorted.at(-1) ?? Number.NaN };
}

/** Most intervals [start, end) open at once, and the time-weighted mean while at least one is. */
function inFlight(intervals: readonly (readonly [number, number])[]): { max: number; mean: number } {
  const events = intervals.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b) && b >= a).flatMap(([a, b]) => [[a, 1] as const, [b, -1] as const]);
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let max = 0;
  let area = 0;
  let busy = 0;
  let last = events[0]?.[0] ?? 0;
  for (const [at, delta] of events) {
    if (open > 0) {
      area += open * (at - last);
      busy += at - last;
    }
    last = at;
    open += delta;
    max = Math.max(max, open);
  }
  return { max, mean: busy > 0 ? area / busy : 0 };
}

/** CPU seconds (user + system) of every process, summed per process group (Linux /proc). */
function cpuByGroup(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pgrp = Number(f[2]);
      out.set(pgrp, (out.get(pgrp) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** Runs `work` over `items` with at most `limit` at a time. */
async function pool<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The connect flow of one user, as a browser would follow it, approved by the sandbox's automation. */
async function connectUser(c: StackClient, info: StackInfo, appUserId: string, groups: readonly string[]): Promise<string> {
  const session = (await c.api('/v1/connectSessions', { appUserId, resources: groups, returnUrl: info.returnUrls[0] })) as { connectUrl: string };
  const start = await fetch(session.connectUrl, { redirect: 'manual' });
  const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const decided = await c.sandbox('/sandbox/v1/consent', {
    authorizeUrl: start.headers.get('location'),
    grant: { resources: groups, duration: 'ONE_TIME' },
    user: `${appUserId}@example.com`,
  });
  if (!decided.ok) throw new Error(`sandbox consent: HTTP ${decided.status} ${await decided.text()}`);
  const { redirectUrl } = (await decided.json()) as { redirectUrl: string };
  const callback = await fetch(redirectUrl, { redirect: 'manual', headers: { Cookie: cookie } });
  const back = new URL(callback.headers.get('location') ?? 'http://invalid/');
  const consent = back.searchParams.get('consent');
  if (!consent || back.searchParams.get('outcome') === 'denied') throw new Error(`connect of ${appUserId} gave no consent: ${back.searchParams.get('outcome')}`);
  // The bench is the application: its user came back in the same browser, so it confirms the code.
  await c.confirmReturn(back.href);
  return consent;
}

interface JobDoc {
  readonly consentId: string;
  readonly state: string;
  readonly upstreamId: string | null;
  readonly createdAt: Timestamp;
  readonly upstreamStartedAt: Timestamp | null;
  readonly deliveredAt: Timestamp | null;
}

export async function runE2eBench(options: { n: number; log: (line: string) => void }): Promise<E2eResult> {
  const root = join(REPO_ROOT, '.local', 'bench');
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, 'e2e-'));
  const projectId = 'bench-e2e';
  let stack: Stack | undefined;
  let firestore: Firestore | undefined;
  let keep = true;
  try {
    options.log(`e2e: starting the local stack (emulators, sandbox, functions; sweep every ${SWEEP_INTERVAL_MS} ms; logs in ${dir}/logs)`);
    stack = await startStack({
      dir,
      projectId,
      sweepIntervalMs: SWEEP_INTERVAL_MS,
      logFormat: 'json',
      // Production's log level: the stack's default (debug) would measure log writing.
      functionEnv: { LOG_LEVEL: 'info' },
      sandboxConfig: { jobDurationSeconds: 0, archiveBytes: 1_048_576 },
    });
    const { info } = stack;
    firestore = new Firestore(firestoreOptions(projectId, '(default)', info.services.firestore.host));
    const c = await stackClient(info);

    options.log(`e2e: connecting ${options.n} users (one-time consents of one or two groups; not timed)`);
    const setupStarted = Date.now();
    const users = Array.from({ length: options.n }, (_, i) => ({ appUserId: `bench-user-${i}`, groups: i % 2 === 0 ? GROUPS.slice(0, 1) : [...GROUPS] }));
    const consents = await pool(users, 8, (u) => connectUser(c, info, u.appUserId, u.groups));
    const consentSetupSeconds = (Date.now() - setupStarted) / 1000;
    const expectedJobs = users.reduce((n, u) => n + u.groups.length, 0);
    await fetch(`${info.services.sandbox.url}/sandbox/v1/calls`, { method: 'DELETE' });

    options.log(`e2e: requesting ${options.n} exports at once (${expectedJobs} jobs), timing until the last is DELIVERED`);
    const cpuBefore = cpuByGroup();
    const selfCpuBefore = process.cpuUsage();
    const t0 = Date.now();
    const requests = await Promise.all(
      consents.map(async (consent) => {
        const sent = Date.now();
        const body = (await c.api('/v1/exports', { consent })) as { exports: { name: string }[] };
        return { consentId: consent.slice('consents/'.length), sent, answered: Date.now(), jobs: body.exports.length };
      }),
    );
    const jobs = firestore.collection(`${info.resourcePrefix}jobs`);
    const deadline = Date.now() + 900_000;
    let lastLog = Date.now();
    let terminal = 0;
    while (Date.now() < deadline) {
      terminal = (await jobs.where('state', 'in', TERMINAL).count().get()).data().count;
      if (terminal >= expectedJobs) break;
      if (Date.now() - lastLog > 5000) {
        const delivered = (await jobs.where('state', '==', 'DELIVERED').count().get()).data().count;
        options.log(`e2e: ${((Date.now() - t0) / 1000).toFixed(0)} s: ${delivered} of ${expectedJobs} jobs delivered, ${terminal} terminal`);
        lastLog = Date.now();
      }
      // The result is read from the jobs' own deliveredAt, not from when this loop notices: a
      // count once a second keeps the observer's load on the emulator small.
      await new Promise((r) => setTimeout(r, 1000));
    }
    const wall = (Date.now() - t0) / 1000;
    const cpuAfter = cpuByGroup();
    const selfCpu = process.cpuUsage(selfCpuBefore);
    if (terminal < expectedJobs) throw new Error(`e2e: only ${terminal} of ${expectedJobs} jobs ended within 900 s`);

    const docs = (await jobs.get()).docs.map((d) => d.data() as JobDoc);
    const notDelivered = docs.filter((d) => d.state !== 'DELIVERED');
    if (docs.length !== expectedJobs || notDelivered.length > 0) {
      const states: Record<string, number> = {};
      for (const d of docs) states[d.state] = (states[d.state] ?? 0) + 1;
      throw new Error(`e2e: expected ${expectedJobs} DELIVERED jobs, found ${JSON.stringify(states)}`);
    }
    const sentOf = new Map(requests.map((r) => [r.consentId, r.sent]));
    const lastDelivered = Math.max(...docs.map((d) => d.deliveredAt?.toMillis() ?? Number.NaN));
    const perExport = new Map<string, number>();
    for (const d of docs) {
      const took = ((d.deliveredAt?.toMillis() ?? Number.NaN) - (sentOf.get(d.consentId) ?? Number.NaN)) / 1000;
      perExport.set(d.consentId, Math.max(perExport.get(d.consentId) ?? 0, took));
    }

    // Phases from the sandbox's call log (times of arrival; control routes are not in it).
    const calls = ((await (await c.sandbox('/sandbox/v1/calls')).json()) as { calls: { method: string; path: string; status: number; time: string }[] }).calls;
    writeFileSync(join(dir, 'sandbox-calls.json'), JSON.stringify(calls));
    const firstState = new Map<string, number>();
    const stateCalls = new Map<string, number>();
    const firstDownload = new Map<string, number>();
    for (const call of calls) {
      const t = Date.parse(call.time);
      const state = /^\/v1\/archiveJobs\/([^/]+)\/portabilityArchiveState$/.exec(call.path);
      if (state?.[1]) {
        stateCalls.set(state[1], (stateCalls.get(state[1]) ?? 0) + 1);
        if (!firstState.has(state[1])) firstState.set(state[1], t);
      }
      const download = /^\/dataportability-sandbox-archives\/([^/]+)\//.exec(call.path);
      if (download?.[1] && !firstDownload.has(download[1])) firstDownload.set(download[1], t);
    }
    const phase = (pick: (d: JobDoc) => number) =>
      quantiles(
        docs
          .map(pick)
          .filter((v) => Number.isFinite(v))
          .map((ms) => ms / 1000),
      );
    const started = (d: JobDoc) => d.upstreamStartedAt?.toMillis() ?? Number.NaN;
    const checked = (d: JobDoc) => firstState.get(d.upstreamId ?? '') ?? Number.NaN;
    const downloaded = (d: JobDoc) => firstDownload.get(d.upstreamId ?? '') ?? Number.NaN;

    // Each process the stack started leads its own process group; the sandbox runs in this process.
    const cpuSeconds: Record<string, number> = {};
    for (const { name, pid } of info.processes) cpuSeconds[name] = (cpuAfter.get(pid) ?? 0) - (cpuBefore.get(pid) ?? 0);
    cpuSeconds['sandbox + bench (this process)'] = (selfCpu.user + selfCpu.system) / 1e6;
    cpuSeconds['wall seconds'] = wall;

    // BENCH_KEEP_LOGS=1 keeps the function logs and the sandbox call log for a closer look.
    keep = process.env['BENCH_KEEP_LOGS'] === '1';
    // Deliveries each worker function handled, by result (its JSON log lines), duplicates included;
    // the last transfer logs just after its job turned DELIVERED.
    await new Promise((r) => setTimeout(r, 2000));
    const handled: Record<string, Record<string, number>> = {};
    for (const fn of ['initiate', 'poll', 'transfer']) {
      const counts: Record<string, number> = {};
      for (const line of readFileSync(join(info.logDir, `${fn}.log`), 'utf8').split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as { message?: string; result?: string };
        if (entry.message === `${fn} handled`) counts[entry.result ?? '?'] = (counts[entry.result ?? '?'] ?? 0) + 1;
      }
      handled[fn] = counts;
    }
    // Transfers in flight: from the archive download to DELIVERED (the lease and the first round
    // trips before the download are not counted).
    const transferInFlight = inFlight(docs.map((d) => [downloaded(d), d.deliveredAt?.toMillis() ?? Number.NaN]));
    return {
      n: options.n,
      jobs: expectedJobs,
      exportsPerSecond: options.n / ((lastDelivered - t0) / 1000),
      slowestSeconds: Math.max(...perExport.values()),
      totalSeconds: (lastDelivered - t0) / 1000,
      requestSeconds: quantiles(requests.map((r) => (r.answered - r.sent) / 1000)),
      phases: {
        requestToStarted: phase((d) => started(d) - (sentOf.get(d.consentId) ?? Number.NaN)),
        startedToFirstCheck: phase((d) => checked(d) - started(d)),
        firstCheckToDownload: phase((d) => downloaded(d) - checked(d)),
        downloadToDelivered: phase((d) => (d.deliveredAt?.toMillis() ?? Number.NaN) - downloaded(d)),
      },
      transferInFlight,
      handled,
      stateCallsPerJob: quantiles(docs.map((d) => stateCalls.get(d.upstreamId ?? '') ?? 0)),
      cpuSeconds,
      consentSetupSeconds,
    };
  } finally {
    await firestore?.terminate().catch(() => undefined);
    await stack?.stop();
    if (keep) options.log(`e2e: logs kept in ${dir}/logs`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

const r2 = (n: number) => Number(n.toFixed(2));
const q2 = (q: Quantiles) => ({ median: r2(q.median), p90: r2(q.p90), max: r2(q.max) });

export function e2eJson(result: E2eResult) {
  return {
    n: result.n,
    exportsPerSecond: r2(result.exportsPerSecond),
    slowestSeconds: r2(result.slowestSeconds),
    jobs: result.jobs,
    totalSeconds: r2(result.totalSeconds),
    requestSeconds: q2(result.requestSeconds),
    phasesSeconds: {
      requestToStarted: q2(result.phases.requestToStarted),
      startedToFirstCheck: q2(result.phases.startedToFirstCheck),
      firstCheckToDownload: q2(result.phases.firstCheckToDownload),
      downloadToDelivered: q2(result.phases.downloadToDelivered),
    },
    transferInFlight: { max: result.transferInFlight.max, mean: r2(result.transferInFlight.mean) },
    handled: result.handled,
    stateCallsPerJob: q2(result.stateCallsPerJob),
    cpuSeconds: Object.fromEntries(Object.entries(result.cpuSeconds).map(([k, v]) => [k, r2(v)])),
    consentSetupSeconds: r2(result.consentSetupSeconds),
  };
}

export function e2eLines(result: E2eResult): string[] {
  const q = (x: Quantiles) => `median ${x.median.toFixed(2)}  p90 ${x.p90.toFixed(2)}  max ${x.max.toFixed(2)}`;
  const ok = result.exportsPerSecond >= E2E_TARGETS.exportsPerSecond;
  const lines = [
    `e2e: ${result.n} exports (${result.jobs} jobs, 1 MiB archives, upstream jobs done at once, sweep every ${SWEEP_INTERVAL_MS} ms); consents set up in ${result.consentSetupSeconds.toFixed(1)} s (not timed)`,
    `  first POST → last DELIVERED: ${result.totalSeconds.toFixed(2)} s; slowest export ${result.slowestSeconds.toFixed(2)} s`,
    `  POST /v1/exports answered in (s): ${q(result.requestSeconds)}`,
    '  per job (s):',
    `    POST → upstream job started:        ${q(result.phases.requestToStarted)}`,
    `    started → first state check:        ${q(result.phases.startedToFirstCheck)}`,
    `    first check → archive download:     ${q(result.phases.firstCheckToDownload)}`,
    `    download → DELIVERED:               ${q(result.phases.downloadToDelivered)}`,
    `  transfers in flight at once: max ${result.transferInFlight.max}, mean ${result.transferInFlight.mean.toFixed(2)} (the transfer function gets its work by Pub/Sub push)`,
    `  messages handled by result: ${Object.entries(result.handled)
      .map(([fn, counts]) => `${fn} ${JSON.stringify(counts)}`)
      .join(', ')}`,
    `  upstream state calls per job: ${q(result.stateCallsPerJob)}`,
    `  CPU seconds during the timed part: ${Object.entries(result.cpuSeconds)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ')}`,
    `  exports/s: ${result.exportsPerSecond.toFixed(2)}  target ≥ ${E2E_TARGETS.exportsPerSecond} with N = ${E2E_TARGETS.n}  ${ok ? 'PASS' : 'MISS'}${result.n === E2E_TARGETS.n ? '' : ` (measured with N = ${result.n})`}`,
  ];
  return lines;
}
