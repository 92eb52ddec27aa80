// Tick benchmark: N due time-based consents in the Firestore emulator; from the exports tick's
// start until all N exports are requested (`export-requested` published), with the tick's pages
// fanned out through the Pub/Sub emulator and handled two at a time, in a child process of its
// own per size (test/bench/tick-worker.ts; the consents are written by this process first), so
// the peak RSS of each size (1,000 then 10,000) is the tick's alone, measured from a fresh start.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { firestoreOptions, pubsubOptions } from '../../functions/platform/clients.js';
import { prefixed } from '../../functions/platform/config.js';
import { startEmulators } from '../../infra/local/emulators.js';
import { buildChild, runChild } from './child.js';
import { benchConsent, benchConsentId } from './seed.js';
import type { TickOutcome, TickTask } from './tick-worker.js';

export const TICK_TARGETS = { publishSeconds: 60, responseSeconds: 10, rssGrowth: 0.2 } as const;
const PROJECT = 'bench-tick';
const WORKER = join(import.meta.dirname, 'tick-worker.ts');

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
  const firestore = new Firestore(firestoreOptions(PROJECT, '(default)', emulators.firestoreHost));
  try {
    const worker = await buildChild(WORKER, 'tick-worker');
    const peakRssMB: Record<string, number> = {};
    let last: Omit<TickOutcome, 'peakRssMB' | 'peakHeapMB'> | undefined;
    for (const size of options.sizes) {
      const prefix = `t${randomBytes(3).toString('hex')}`;
      const subscription = await seed(firestore, pubsub, prefix, size);
      options.log(`tick ${size}: ${size} due consents written`);
      const task: TickTask = {
        projectId: PROJECT,
        firestoreHost: emulators.firestoreHost,
        pubsubHost: emulators.pubsubHost,
        prefix,
        size,
        subscription,
        localKey: randomBytes(32).toString('base64'),
      };
      const { peakRssMB: rss, peakHeapMB, ...figures } = await runChild<TickOutcome>(worker, 'BENCH_TICK_TASK', task, 660_000, `tick worker (${size})`);
      last = figures;
      peakRssMB[String(size)] = rss;
      options.log(
        `tick ${size}: all requested in ${figures.publishSeconds.toFixed(1)} s (${figures.pages} pages), tick answered in ${(figures.responseSeconds * 1000).toFixed(0)} ms, peak RSS ${rss} MB, peak V8 heap ${peakHeapMB} MB`,
      );
    }
    if (!last) throw new Error('no sizes to run');
    return { ...last, peakRssMB };
  } finally {
    await firestore.terminate();
    await pubsub.close();
    await emulators.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** N time-based consents, ACTIVE, their first export due now, and the tick's topics (not timed). */
async function seed(firestore: Firestore, pubsub: PubSub, prefix: string, size: number): Promise<string> {
  const topic = (name: string) => prefixed({ resourcePrefix: prefix }, name);
  for (const name of ['schedule-page', 'export-requested']) await pubsub.createTopic(topic(name));
  const subscription = `${topic('schedule-page')}-bench`;
  await pubsub.topic(topic('schedule-page')).createSubscription(subscription, { ackDeadlineSeconds: 300 });
  const now = new Date();
  const writer = firestore.bulkWriter();
  for (let i = 0; i < size; i++) {
    const doc = firestore.collection(topic('consents')).doc(benchConsentId(i));
    void writer.set(doc, benchConsent(i, ['myactivity.search'], now) as unknown as Record<string, unknown>);
  }
  await writer.close();
  return subscription;
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
