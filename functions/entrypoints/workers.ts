import { initiateExport } from '../core/exports/initiate.js';
import { pollExport } from '../core/exports/poll.js';
import { runTickPage } from '../core/exports/schedule.js';
import { transferFile } from '../core/exports/transfer.js';
import { jsonPayload, pubsubFunction } from '../platform/events.js';
import type { Runtime } from '../platform/runtime.js';
import { parseWith } from '../platform/validation.js';
import { fileMessage, jobMessage, pageMessage } from './schemas.js';

/** The Pub/Sub-triggered workers of the export pipeline; each message names a record, never a secret. */
export function initiate(rt: Runtime) {
  return pubsubFunction(
    'initiate',
    rt,
    (m) => parseWith(jobMessage, jsonPayload(m)),
    async (cmd, ctx) => {
      const result = await initiateExport(rt.exportDeps(), cmd.job);
      ctx.logger.info({ job: cmd.job, result }, 'initiate handled');
    },
  );
}

export function poll(rt: Runtime) {
  return pubsubFunction(
    'poll',
    rt,
    (m) => parseWith(jobMessage, jsonPayload(m)),
    async (cmd, ctx) => {
      const result = await pollExport(rt.exportDeps(), cmd.job);
      ctx.logger.info({ job: cmd.job, result }, 'poll handled');
    },
  );
}

export function transfer(rt: Runtime) {
  return pubsubFunction(
    'transfer',
    rt,
    (m) => parseWith(fileMessage, jsonPayload(m)),
    async (cmd, ctx) => {
      const result = await transferFile(rt.exportDeps(), cmd.job, cmd.file);
      ctx.logger.info({ job: cmd.job, file: cmd.file, result }, 'transfer handled');
    },
  );
}

/** One page of a scheduler tick (the exports or the expiry tick). */
export function schedule(rt: Runtime) {
  return pubsubFunction(
    'schedule',
    rt,
    (m) => parseWith(pageMessage, jsonPayload(m)),
    async (cmd, ctx) => {
      const report = await runTickPage(rt.exportDeps(), { kind: cmd.kind, before: cmd.before, after: cmd.after ?? null, page: cmd.page });
      ctx.logger.info({ ...report }, 'tick page handled');
    },
  );
}
