import { describe, expect, it } from 'vitest';
import { AppError } from '../../functions/core/errors.js';
import { MAX_MESSAGE_BYTES, type Topic, type WorkQueue } from '../../functions/core/ports/work-queue.js';

export interface QueueUnderTest {
  readonly queue: WorkQueue;
  /** Everything delivered so far on `topic`, as subscribers see it. */
  received(topic: Topic, atLeast: number): Promise<{ id: string; data: unknown; attributes: Record<string, string> }[]>;
}

/** The WorkQueue contract, run against the in-memory fake and the Pub/Sub adapter on the emulator. */
export function workQueueContract(name: string, make: () => Promise<QueueUnderTest>): void {
  describe(`WorkQueue contract: ${name}`, () => {
    it('delivers the JSON payload and string attributes it accepted, under the id it returned', async () => {
      const { queue, received } = await make();
      const id = await queue.publish('job-poll', { job: 'j1', attempt: 2, nested: { ok: true } }, { kind: 'poll' });
      expect(id).toMatch(/\S/);
      const messages = await received('job-poll', 1);
      expect(messages).toHaveLength(1);
      expect(messages[0]).toEqual({ id, data: { job: 'j1', attempt: 2, nested: { ok: true } }, attributes: { kind: 'poll' } });
    });

    it('returns a distinct id per publish and keeps topics apart', async () => {
      const { queue, received } = await make();
      const ids = await Promise.all([queue.publish('export-requested', { n: 1 }), queue.publish('export-requested', { n: 2 })]);
      expect(new Set(ids).size).toBe(2);
      await queue.publish('archive-transfer', { n: 3 });
      const requested = await received('export-requested', 2);
      expect(requested.map((m) => m.data).sort((a, b) => (a as { n: number }).n - (b as { n: number }).n)).toEqual([{ n: 1 }, { n: 2 }]);
    });

    it('refuses a message over the size limit with INVALID_ARGUMENT naming data', async () => {
      const { queue } = await make();
      const error = await queue.publish('job-poll', { blob: 'x'.repeat(MAX_MESSAGE_BYTES) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('INVALID_ARGUMENT');
      expect((error as AppError).violations[0]?.field).toBe('data');
    });

    it('refuses a non-string attribute with INVALID_ARGUMENT naming it', async () => {
      const { queue } = await make();
      const attributes = { count: 3 } as unknown as Record<string, string>;
      const error = await queue.publish('job-poll', {}, attributes).catch((e: unknown) => e);
      expect((error as AppError).code).toBe('INVALID_ARGUMENT');
      expect((error as AppError).violations[0]?.field).toBe('attributes.count');
    });
  });
}
