import { z } from 'zod';
import { initiateExport } from '../core/exports/initiate.js';
import { pollExport } from '../core/exports/poll.js';
import { runTickPage, TICK_KINDS } from '../core/exports/schedule.js';
import { transferFile } from '../core/exports/transfer.js';
import { jsonPayload, pubsubFunction } from '../platform/events.js';
import type { Runtime } from '../platform/runtime.js';
import { parseWith, rfc3339Timestamp } from '../platform/validation.js';

/** The Pub/Sub-triggered workers of the export pipeline; each message names a record, never a secret. */
const jobMessage = z.object({ job: z.string({ error: 'is required' }).regex(/^[0-9a-f]{32}$/, 'is not an export id') }).strict();
const fileMessage = z
  .object({
    job: z.string({ error: 'is required' }).regex(/^[0-9a-f]{32}$/, 'is not an export id'),
    file: z.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be at least 0').max(10_000, 'is too large'),
  })
  .strict();

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

const pageMessage = z
  .object({
    kind: z.enum(TICK_KINDS, { error: `must be one of ${TICK_KINDS.join(', ')}` }),
    before: rfc3339Timestamp,
    after: z
      .object({ at: rfc3339Timestamp, id: z.string().regex(/^[A-Za-z0-9]{1,64}$/, 'is not a consent id') })
      .strict()
      .optional(),
    page: z.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be at least 0'),
  })
  .strict();

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
