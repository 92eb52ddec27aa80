import { z } from 'zod';
import { initiateExport } from '../core/exports/initiate.js';
import { pollExport } from '../core/exports/poll.js';
import { transferFile } from '../core/exports/transfer.js';
import { jsonPayload, pubsubFunction } from '../platform/events.js';
import type { Runtime } from '../platform/runtime.js';
import { parseWith } from '../platform/validation.js';

/** The Pub/Sub-triggered workers of the export pipeline; each message names a record, never a secret. */
const jobMessage = z.object({ job: z.string({ error: 'is required' }).regex(/^[0-9a-f]{32}$/, 'is not an export id') }).strict();
const fileMessage = z
  .object({
    job: z.string({ error: 'is required' }).regex(/^[0-9a-f]{32}$/, 'is not an export id'),
    file: z.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be at least 0').max(10_000, 'is too large'),
  })
  .strict();

export function initiate(rt: Runtime) {
  return pubsubFunction('initiate', rt, (m) => parseWith(jobMessage, jsonPayload(m)), async (cmd, ctx) => {
    const result = await initiateExport(rt.exportDeps(), cmd.job);
    ctx.logger.info({ job: cmd.job, result }, 'initiate handled');
  });
}

export function poll(rt: Runtime) {
  return pubsubFunction('poll', rt, (m) => parseWith(jobMessage, jsonPayload(m)), async (cmd, ctx) => {
    const result = await pollExport(rt.exportDeps(), cmd.job);
    ctx.logger.info({ job: cmd.job, result }, 'poll handled');
  });
}

export function transfer(rt: Runtime) {
  return pubsubFunction('transfer', rt, (m) => parseWith(fileMessage, jsonPayload(m)), async (cmd, ctx) => {
    const result = await transferFile(rt.exportDeps(), cmd.job, cmd.file);
    ctx.logger.info({ job: cmd.job, file: cmd.file, result }, 'transfer handled');
  });
}
