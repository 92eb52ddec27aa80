import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { initiateExport } from '../../../functions/core/exports/initiate.js';
import { getExport } from '../../../functions/core/exports/manage.js';
import { pollExport } from '../../../functions/core/exports/poll.js';
import { requestExports } from '../../../functions/core/exports/request.js';
import { transferFile } from '../../../functions/core/exports/transfer.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';

/** Issue 14: an export shows each file's bytes copied while it transfers, from the transfer's own checkpoints. */
describe('transfer progress (GET /v1/exports/{id})', () => {
  it('shows bytesCopied per file from the last checkpoint the transfer saved, and every byte once done', async () => {
    const env = await exportDepsWithFakes({ transferBudgetSeconds: 5 });
    const { exports } = await requestExports(env.deps, { consentId: 'c1', slot: 'progress', resources: ['myactivity.search'] });
    const id = exports[0]!.name.split('/')[1]!;
    await initiateExport(env.deps, id);
    const job = (await env.jobs.get(id))!;
    const size = 2_000_000;
    env.downloader.archives.set('https://signed/0?sig=s', randomBytes(size));
    env.downloader.archives.set('https://signed/1?sig=s', randomBytes(100_000));
    env.source.complete(job.upstreamId!, [
      { name: 'part-0.zip', url: 'https://signed/0?sig=s' },
      { name: 'part-1.zip', url: 'https://signed/1?sig=s' },
    ]);
    env.clock.advance(10_000);
    await pollExport(env.deps, id);
    expect((await getExport(env.deps, id)).files.map((f) => f.bytesCopied)).toEqual([0, 0]);

    // The copy runs out of time part-way (every clock reading a second later): it stops at a checkpoint.
    const ticking = { now: () => (env.clock.advance(1_000), env.clock.now()) };
    expect(await transferFile({ ...env.deps, clock: ticking }, id, 0)).toBe('continued');
    const stored = (await env.jobs.get(id))!.files[0]!.checkpoint!;
    const lastMark = stored.marks.at(-1)!.offset;
    const partial = await getExport(env.deps, id);
    expect(partial.state).toBe('TRANSFERRING');
    expect(partial.files[0]).toMatchObject({ state: 'PENDING', bytesCopied: lastMark, totalBytes: size });
    expect(lastMark).toBeGreaterThan(0);
    expect(lastMark).toBeLessThan(size);
    expect(lastMark % (256 * 1024)).toBe(0);
    expect(partial.files[1]).toMatchObject({ state: 'PENDING', bytesCopied: 0 });

    expect(await transferFile(env.deps, id, 0)).toBe('file_done');
    expect(await transferFile(env.deps, id, 1)).toBe('delivered');
    const done = await getExport(env.deps, id);
    expect(done.files.map((f) => [f.bytesCopied, f.totalBytes])).toEqual([
      [size, size],
      [100_000, 100_000],
    ]);
  });
});
