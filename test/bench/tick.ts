// Tick benchmark: N due time-based consents in the Firestore emulator; from the exports tick's
// start until all N exports are requested (`export-requested` published), with the tick's pages
// fanned out through the Pub/Sub emulator and handled by two workers at a time (as the emulator
// pushes at most two messages at once per subscription). Runs the use cases in this process on
// the real adapters (Firestore, Pub/Sub); the HTTP and OIDC layer of the scheduler function is
// not timed. Peak RSS is this process's during the tick (sampled every 50 ms; seeding excluded),
// per size (1,000 then 10,000).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import type { Consent } from '../../functions/core/consent/model.js';
import { withSchedule } from '../../functions/core/consent/schedule.js';
import { runTickPage, startTick, type TickKind } from '../../functions/core/exports/schedule.js';
import { pubsubOptions } from '../../functions/platform/clients.js';
import { prefixed } from '../../functions/platform/config.js';
import { createRuntime, type Runtime } from '../../functions/platform/runtime.js';
import { startEmulators } from '../../infra/local/emulators.js';

export const TICK_TARGETS = { publishSeconds: 60, responseSeconds: 10, rssGrowth: 0.2 } as const;
const PROJECT = 'bench-tick';

export interface TickResult {
  readonly consents: number;
  readonly publishSeconds: number;
  readonly responseSeconds: number;
  readonly pages: number;
  readonly peakRssMB: Readonly<Record<string, number>>;
}

export async function runTickBench(options: { sizes: readonly number[]; log: (line: string) => void }): Promise<TickResult> {
  const dir = mkdtempSync(join(tmpdir(), 'dp-bench-tick-'));
  const emulators = await startEmulators({ projectId: PROJECT, logDir: dir });
  const pubsub = new PubSub(pubsubOptions(PROJECT, emulators.pubsubHost));
  try {
    const peakRssMB: Record<string, number> = {};
    let last: Omit<TickResult, 'peakRssMB'> | undefined;
    for (const size of options.sizes) {
      const prefix = `t${randomBytes(3).toString('hex')}`;
      const rt = createRuntime({
        GOOGLE_CLOUD_PROJECT: PROJECT,
        APP_ENV: 'test',
        LOG_LEVEL: 'silent',
        RESOURCE_PREFIX: prefix,
        FIRESTORE_EMULATOR_HOST: emulators.firestoreHost,
        PUBSUB_EMULATOR_HOST: emulators.pubsubHost,
        OAUTH_CLIENT_ID: 'bench',
        OAUTH_CLIENT_SECRET: 'bench',
        OAUTH_PUBLIC_URL: 'http://127.0.0.1:9',
        RETURN_URL_ALLOWLIST: 'http://127.0.0.1:9/done',
        API_AUDIENCE: 'bench',
        API_ALLOWED_CALLERS: 'bench@example.com',
        SCHEDULER_AUDIENCE: 'bench',
        SCHEDULER_ALLOWED_CALLERS: 'bench@example.com',
        TOKEN_KEY_PROVIDER: 'local',
        LOCAL_TOKEN_KEY: randomBytes(32).toString('base64'),
        ARCHIVE_BUCKET: 'bench-archives',
      });
      try {
        const { peakRssMB: rss, ...figures } = await oneSize(rt, pubsub, prefix, size, options.log);
        last = figures;
        peakRssMB[String(size)] = rss;
        options.log(
          `tick ${size}: all requested in ${last.publishSeconds.toFixed(1)} s (${last.pages} pages), tick answered in ${(last.responseSeconds * 1000).toFixed(0)} ms, peak RSS ${peakRssMB[String(size)]} MB`,
        );
      } finally {
        await rt.close();
      }
    }
    if (!last) throw new Error('no sizes to run');
    return { ...last, peakRssMB };
  } finally {
    await pubsub.close();
    await emulators.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function oneSize(rt: Runtime, pubsub: PubSub, prefix: string, size: number, log: (line: string) => void) {
  const topic = (name: string) => prefixed({ resourcePrefix: prefix }, name);
  for (const name of ['schedule-page', 'export-requested']) await pubsub.createTopic(topic(name));
  const [pages] = await pubsub.topic(topic('schedule-page')).createSubscription(`${topic('schedule-page')}-bench`, { ackDeadlineSeconds: 300 });

  // N time-based consents, ACTIVE, their first export due now (not timed).
  const now = rt.clock.now();
  const writer = rt.firestore().bulkWriter();
  for (let i = 0; i < size; i++) {
    const consent: Consent = withSchedule(
      {
        appUserId: `bench-user-${i}`,
        groups: [{ resource: 'myactivity.search', accessType: 'TIME_BASED' }],
        grantedAt: now,
        expiresAt: new Date(now.getTime() + 30 * 86_400_000),
        status: 'ACTIVE',
        updatedAt: now,
        token: null,
      },
      now,
    );
    void writer.set(
      rt
        .firestore()
        .collection(topic('consents'))
        .doc(`c${String(i).padStart(6, '0')}`),
      consent as unknown as Record<string, unknown>,
    );
  }
  await writer.close();
  log(`tick ${size}: ${size} due consents written`);

  const deps = rt.exportDeps();
  // Peak RSS of the tick phase only (seeding is not the tick's), sampled every 50 ms.
  let peakRss = process.memoryUsage().rss;
  let peakHeap = process.memoryUsage().heapUsed;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 50);
  const started = process.hrtime.bigint();
  await startTick(deps, 'exports');
  const responseSeconds = Number(process.hrtime.bigint() - started) / 1e9;

  let handledPages = 0;
  // Requested = the job is written and its export-requested message published (the same call, in
  // that order): the harness counts the jobs with Firestore's count query, holding no messages.
  const jobs = rt.firestore().collection(topic('jobs'));
  const requestedSoFar = async () => (await jobs.count().get()).data().count;
  pages.setOptions({ flowControl: { maxMessages: 2, allowExcessMessages: false } });
  const pagesPublished = () => Math.ceil(size / rt.config.scheduler.batchSize);
  const failures: unknown[] = [];
  pages.on('message', (m) => {
    const data = JSON.parse(m.data.toString('utf8')) as { kind: TickKind; before: string; after?: { at: string; id: string }; page: number };
    runTickPage(deps, { kind: data.kind, before: new Date(data.before), after: data.after ? { at: new Date(data.after.at), id: data.after.id } : null, page: data.page }).then(
      () => {
        handledPages++;
        m.ack();
      },
      (error: unknown) => {
        failures.push(error);
        m.nack();
      },
    );
  });
  const deadline = Date.now() + 600_000;
  let seen = 0;
  while (seen < size && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    seen = await requestedSoFar();
  }
  // The last job's message goes out right after its write: wait for the pages in flight.
  while (handledPages < pagesPublished() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const publishSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  await pages.close();
  if (seen < size) throw new Error(`tick ${size}: only ${seen} exports requested in 600 s (${failures.length} page failures)`);
  log(`tick ${size}: peak V8 heap used during the tick ${(peakHeap / 1048576).toFixed(1)} MB`);
  return { consents: size, publishSeconds, responseSeconds, pages: handledPages, peakRssMB: Math.round((peakRss / 1048576) * 10) / 10 };
}

export function tickJson(r: TickResult) {
  return { consents: r.consents, publishSeconds: round(r.publishSeconds), responseSeconds: round(r.responseSeconds), pages: r.pages, peakRssMB: r.peakRssMB };
}

export function tickLines(r: TickResult): string[] {
  const sizes = Object.keys(r.peakRssMB);
  const small = r.peakRssMB[sizes[0] ?? ''] ?? 0;
  const big = r.peakRssMB[sizes.at(-1) ?? ''] ?? 0;
  const growth = small > 0 ? big / small - 1 : 0;
  const mark = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  return [
    `tick: ${r.consents} due consents, all exports requested in ${r.publishSeconds.toFixed(1)} s (target ≤ ${TICK_TARGETS.publishSeconds} s) ${mark(r.publishSeconds <= TICK_TARGETS.publishSeconds)}`,
    `tick: the tick itself answered in ${(r.responseSeconds * 1000).toFixed(0)} ms (target ≤ ${TICK_TARGETS.responseSeconds} s) ${mark(r.responseSeconds <= TICK_TARGETS.responseSeconds)}`,
    `tick: peak RSS ${sizes.map((s) => `${s}: ${r.peakRssMB[s]} MB`).join(', ')}, growth ${(growth * 100).toFixed(1)} % (target ≤ ${TICK_TARGETS.rssGrowth * 100} %) ${mark(growth <= TICK_TARGETS.rssGrowth)}`,
  ];
}

const round = (n: number) => Math.round(n * 1000) / 1000;
