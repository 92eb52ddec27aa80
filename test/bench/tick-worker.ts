// Child process of the tick benchmark (test/bench/tick.ts): the scheduler function's side of one
// tick, in a process of its own so that its peak RSS is the tick's alone (the consents were
// written by the parent). Reads its task from BENCH_TICK_TASK (JSON), starts the exports tick,
// handles its pages from the Pub/Sub emulator two at a time (the emulator pushes at most two
// messages at once per subscription) on the real adapters (Firestore, Pub/Sub), and prints one
// JSON line on stdout. The HTTP and OIDC layer of the scheduler function is not timed.
import { PubSub } from '@google-cloud/pubsub';
import { runTickPage, startTick, type TickKind } from '../../functions/core/exports/schedule.js';
import { pubsubOptions } from '../../functions/platform/clients.js';
import { prefixed } from '../../functions/platform/config.js';
import { createRuntime } from '../../functions/platform/runtime.js';
import { developmentEnv } from '../fixtures/env.js';

export interface TickTask {
  readonly projectId: string;
  readonly firestoreHost: string;
  readonly pubsubHost: string;
  readonly prefix: string;
  readonly size: number;
  /** The pull subscription on the prefix's schedule-page topic. */
  readonly subscription: string;
  readonly localKey: string;
}

export interface TickOutcome {
  readonly consents: number;
  readonly publishSeconds: number;
  readonly responseSeconds: number;
  readonly pages: number;
  /** Largest RSS sampled every 50 ms from the tick's start to the last export requested, MiB. */
  readonly peakRssMB: number;
  readonly peakHeapMB: number;
}

async function main(): Promise<void> {
  const task = JSON.parse(process.env['BENCH_TICK_TASK'] ?? 'null') as TickTask | null;
  if (!task) throw new Error('BENCH_TICK_TASK is not set');
  const rt = createRuntime(
    developmentEnv({
      GOOGLE_CLOUD_PROJECT: task.projectId,
      RESOURCE_PREFIX: task.prefix,
      FIRESTORE_EMULATOR_HOST: task.firestoreHost,
      PUBSUB_EMULATOR_HOST: task.pubsubHost,
      LOCAL_TOKEN_KEY: task.localKey,
      ARCHIVE_BUCKET: 'bench-archives',
    }),
  );
  const pubsub = new PubSub(pubsubOptions(task.projectId, task.pubsubHost));
  try {
    process.stdout.write(JSON.stringify(await tick(rt, pubsub, task)) + '\n');
  } finally {
    await pubsub.close();
    await rt.close();
  }
}

async function tick(rt: ReturnType<typeof createRuntime>, pubsub: PubSub, task: TickTask): Promise<TickOutcome> {
  const { size } = task;
  const deps = rt.exportDeps();
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
  const jobs = rt.firestore().collection(prefixed({ resourcePrefix: task.prefix }, 'jobs'));
  const requestedSoFar = async () => (await jobs.count().get()).data().count;
  const pages = pubsub.subscription(task.subscription, { flowControl: { maxMessages: 2, allowExcessMessages: false } });
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
  const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
  return { consents: size, publishSeconds, responseSeconds, pages: handledPages, peakRssMB: mb(peakRss), peakHeapMB: mb(peakHeap) };
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
