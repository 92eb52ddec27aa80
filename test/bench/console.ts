// Console benchmark: the web console's pages in headless Chromium on the local stack, with 1,000
// consents and 5,000 exports in Firestore (5 per consent, written directly, not timed): the time
// from navigation until the page's table is rendered, through the console proxy, for the consents
// list, the list filtered by app user, its next page, and one consent's page with its exports.
// The pages read one page of records each (25 consents, 20 exports), never everything.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import { jobId, newJob, type ExportJob } from '../../functions/core/exports/model.js';
import { firestoreOptions } from '../../functions/platform/clients.js';
import { startStack } from '../../infra/local/stack.js';
import { launchChromium } from '../fixtures/browser.js';
import { benchConsent, benchConsentId } from './seed.js';

export const CONSOLE_TARGET_MS = 1000;
const PROJECT = 'bench-console';
const RESOURCES = ['myactivity.search', 'chrome.history', 'myactivity.youtube', 'youtube.subscriptions', 'myactivity.maps'] as const;

export interface ConsoleResult {
  readonly consents: number;
  readonly exports: number;
  /** Per page: every measured load, in ms. */
  readonly pages: Readonly<Record<string, readonly number[]>>;
}

export async function runConsoleBench(options: { consents: number; rounds: number; log: (line: string) => void }): Promise<ConsoleResult> {
  const dir = mkdtempSync(join(tmpdir(), 'dp-bench-console-'));
  const stack = await startStack({ dir, projectId: PROJECT, sweepIntervalMs: 0, logFormat: 'json' });
  const firestore = new Firestore(firestoreOptions(PROJECT, '(default)', stack.info.services.firestore.host));
  const browser = await launchChromium();
  try {
    const exportsPerConsent = RESOURCES.length;
    await seed(firestore, options.consents);
    options.log(`console: ${options.consents} consents and ${options.consents * exportsPerConsent} exports written`);
    const page = await (await browser.newContext()).newPage();
    const base = stack.info.console.proxy;
    const pages: Record<string, { url: () => Promise<string>; ready: string }> = {
      consents: { url: async () => `${base}/console/consents`, ready: '#consents tbody tr' },
      'consents filtered': { url: async () => `${base}/console/consents?appUserId=bench-user-500`, ready: '#consents tbody tr' },
      'consents next page': {
        url: async () => {
          await page.goto(`${base}/console/consents`);
          await page.locator('#consents tbody tr').first().waitFor();
          // The link is relative to the console's page.
          return new URL((await page.getByRole('link', { name: 'Next page' }).getAttribute('href')) ?? '', page.url()).href;
        },
        ready: '#consents tbody tr',
      },
      'consent with exports': { url: async () => `${base}/console/consent?name=consents/c000500`, ready: '#exports tbody tr[data-export]' },
    };
    const result: Record<string, number[]> = {};
    // One warm-up load (the function instance loads its clients), then the measured rounds.
    await page.goto(`${base}/console/consents`);
    await page.locator('#consents tbody tr').first().waitFor({ timeout: 60_000 });
    for (let round = 0; round < options.rounds; round++) {
      for (const [name, spec] of Object.entries(pages)) {
        const url = await spec.url();
        const started = performance.now();
        await page.goto(url);
        await page.locator(spec.ready).first().waitFor({ timeout: 30_000 });
        (result[name] ??= []).push(performance.now() - started);
      }
    }
    const shown = await page.locator('#exports tbody tr[data-export]').count();
    options.log(`console: the consent page shows ${shown} exports of ${exportsPerConsent}`);
    return { consents: options.consents, exports: options.consents * exportsPerConsent, pages: result };
  } finally {
    await browser.close();
    await firestore.terminate();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** N consents (time-based, ACTIVE) with one delivered export of each of 5 groups (not timed). */
async function seed(firestore: Firestore, size: number): Promise<void> {
  const now = new Date();
  const writer = firestore.bulkWriter();
  for (let i = 0; i < size; i++) {
    const consentId = benchConsentId(i);
    const consent = benchConsent(i, RESOURCES, now);
    const appUserId = consent.appUserId;
    void writer.set(firestore.collection('consents').doc(consentId), consent as unknown as Record<string, unknown>);
    for (const resource of RESOURCES) {
      const job: ExportJob = {
        ...newJob({ consentId, appUserId, resource, slot: 'bench', startTime: null, endTime: null }, now),
        state: 'DELIVERED',
        exportTime: now,
        deliveredAt: now,
        files: [
          {
            index: 0,
            name: 'takeout-001.zip',
            object: `${appUserId}/${consentId}/${resource}/bench/takeout-001.zip`,
            state: 'DONE',
            bytes: 262144,
            crc32c: 'AAAAAA==',
            md5: null,
            lease: null,
            checkpoint: null,
            attempts: 1,
          },
        ],
      };
      void writer.set(firestore.collection('jobs').doc(jobId(consentId, resource, 'bench')), job as unknown as Record<string, unknown>);
    }
  }
  await writer.close();
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

export function consoleJson(r: ConsoleResult) {
  return {
    consents: r.consents,
    exports: r.exports,
    pages: Object.fromEntries(Object.entries(r.pages).map(([k, v]) => [k, { medianMs: Math.round(median(v)), maxMs: Math.round(Math.max(...v)) }])),
  };
}

export function consoleLines(r: ConsoleResult): string[] {
  return Object.entries(r.pages).map(([name, values]) => {
    const m = median(values);
    return `console: ${name} rendered in ${Math.round(m)} ms median, ${Math.round(Math.max(...values))} ms max over ${values.length} loads (${r.consents} consents, ${r.exports} exports; target < ${CONSOLE_TARGET_MS} ms) ${m < CONSOLE_TARGET_MS ? 'PASS' : 'MISS'}`;
  });
}
