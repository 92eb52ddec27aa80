import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { messageOutcomes, waitMessagesDone } from '../fixtures/worker-log.js';

/** The workers' logs as the positive signal that a message was dealt with (the e2e tests' helper). */
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dp-worker-log-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const line = (entry: Record<string, unknown>) => `${JSON.stringify({ severity: 'INFO', time: '2026-12-03T13:00:00Z', ...entry })}\n`;

describe('worker log outcomes', () => {
  it('reads handled (with the result), rejected and transient entries per message id across the workers, in log order', () => {
    writeFileSync(
      join(dir, 'initiate.log'),
      line({ function: 'initiate', eventId: 'm1', message: 'initiate handled', job: 'j', result: 'ignored' }) + 'not json, a framework line\n',
    );
    writeFileSync(
      join(dir, 'transfer.log'),
      line({ function: 'transfer', eventId: 'm2', message: 'transient failure; the message will be redelivered' }) +
        line({ function: 'transfer', eventId: 'm2', message: 'transfer handled', result: 'file_done' }) +
        line({ function: 'transfer', eventId: 'other', message: 'transfer handled', result: 'ignored' }) +
        line({ function: 'transfer', eventId: 'm3', message: 'copy progress' }) +
        '{"eventId":"m3","message":"transfer hand', // a line still being written
    );
    writeFileSync(join(dir, 'poll.log'), line({ function: 'poll', eventId: 'm3', message: 'message rejected; acked and recorded' }));
    const outcomes = messageOutcomes(dir, ['m1', 'm2', 'm3', 'm4']);
    expect(Object.fromEntries(outcomes)).toEqual({ m1: ['handled ignored'], m2: ['transient', 'handled file_done'], m3: ['rejected'] });
  });

  it('waits until every message has a final outcome (a transient one is not), and names those still open', async () => {
    writeFileSync(
      join(dir, 'poll.log'),
      line({ eventId: 'a', message: 'poll handled', result: 'in_progress' }) + line({ eventId: 'b', message: 'transient failure; the message will be redelivered' }),
    );
    await expect(waitMessagesDone(dir, ['a', 'b', 'c'], { timeoutMs: 50 })).rejects.toThrow(
      'timed out after 50 ms waiting for 3 message(s) handled or rejected by the workers; last seen: ["b: transient","c: nothing logged"]',
    );
    const done = waitMessagesDone(dir, ['a', 'b', 'c'], { timeoutMs: 5_000 });
    appendFileSync(join(dir, 'poll.log'), line({ eventId: 'b', message: 'poll handled', result: 'complete' }));
    writeFileSync(join(dir, 'initiate.log'), line({ eventId: 'c', message: 'message rejected; acked and recorded' }));
    expect(Object.fromEntries(await done)).toEqual({ a: ['handled in_progress'], b: ['transient', 'handled complete'], c: ['rejected'] });
  });
});
