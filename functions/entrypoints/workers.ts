import { buildBundle } from '../core/bundles/build.js';
import { initiateExport } from '../core/exports/initiate.js';
import { pollExport, pollExports } from '../core/exports/poll.js';
import { runTickPage } from '../core/exports/schedule.js';
import { transferFile } from '../core/exports/transfer.js';
import { deliverWebhook, fanOutEvent } from '../core/webhooks/deliver.js';
import { jsonWorker } from '../platform/events.js';
import type { Runtime } from '../platform/runtime.js';
import { bundleMessage, fileMessage, jobMessage, pageMessage, pollMessage, webhookDeliveryMessage, webhookEventMessage } from './schemas.js';

/** The Pub/Sub-triggered workers of the export pipeline; each message names a record, never a secret. */
export function initiate(rt: Runtime) {
  return jsonWorker('initiate', rt, jobMessage, async ({ job }) => ({ job, result: await initiateExport(rt.exportDeps(), job) }));
}

export function poll(rt: Runtime) {
  return jsonWorker('poll', rt, pollMessage, async (m) =>
    'jobs' in m ? { jobs: m.jobs.length, ...(await pollExports(rt.exportDeps(), m.jobs)) } : { job: m.job, result: await pollExport(rt.exportDeps(), m.job) },
  );
}

export function transfer(rt: Runtime) {
  return jsonWorker('transfer', rt, fileMessage, async ({ job, file }) => ({ job, file, result: await transferFile(rt.exportDeps(), job, file) }));
}

/** One page of a scheduler tick (the exports or the expiry tick). */
export function schedule(rt: Runtime) {
  return jsonWorker('schedule', rt, pageMessage, async (page) => ({ ...(await runTickPage(rt.exportDeps(), { ...page, after: page.after ?? null })) }));
}

/** Packs the delivered files of one export request into its bundle (zip or tar.gz). */
export function bundle(rt: Runtime) {
  return jsonWorker('bundle', rt, bundleMessage, async ({ bundle: id }) => ({ bundle: id, result: await buildBundle(rt.exportDeps(), id) }));
}

/** Subscribed to `export-events`: one `webhook-delivery` message per webhook that takes the event. */
export function webhooks(rt: Runtime) {
  return jsonWorker('webhooks', rt, webhookEventMessage, async (event) => ({ event: event.id, ...(await fanOutEvent(rt.webhookFanOutDeps(), event)) }));
}

/** One signed POST of one event to one webhook; a failed attempt is retried by Pub/Sub with backoff. */
export function webhookDelivery(rt: Runtime) {
  return jsonWorker('webhook-delivery', rt, webhookDeliveryMessage, async (d) => ({ webhook: d.webhook, event: d.event.id, result: await deliverWebhook(rt.webhookDeps(), d) }));
}
