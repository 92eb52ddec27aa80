import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEWS_GET_ALL_LIMIT, MewsExportSource } from '../../functions/adapters/mews-export-source.js';
import type { SourceCredential } from '../../functions/core/ports/export-source.js';
import { startSandbox } from '../../infra/sandbox/server.js';

// The Mews adapter against the sandbox's Mews Connector API exports.
const dir = mkdtempSync(join(tmpdir(), 'dp-mews-source-'));
let sandbox: Awaited<ReturnType<typeof startSandbox>>;
beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, cacheDir: dir, config: { mewsPendingSeconds: 3600, mewsProcessingSeconds: 3600 } });
});
afterAll(async () => {
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

const source = new MewsExportSource('Dataportability-tests 1.0.0');
const post = async (path: string, body: unknown) => {
  const res = await fetch(`${sandbox.baseUrl}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status, `${path} answered ${res.status}`).toBe(200);
  return (await res.json()) as Record<string, unknown>;
};

async function tenant(): Promise<SourceCredential> {
  const keys = { clientToken: `ct-${randomBytes(12).toString('hex')}`, accessToken: `at-${randomBytes(12).toString('hex')}` };
  const registered = await post('/sandbox/v1/mews/tenants', keys);
  return { kind: 'api_keys', platformAddress: String(registered['platformAddress']), ...keys };
}
const unit = (resource: string) => ({ resource, startTime: null, endTime: null });

describe('Mews adapter (sandbox)', () => {
  it('adds an export, adopts the running one of the same type, and lists its JSON Lines files with their sizes when done', async () => {
    const credential = await tenant();
    const started = await source.start(credential, unit('Customer'));
    if (started.kind !== 'started') throw new Error(started.kind);
    expect(await source.start(credential, unit('Customer'))).toEqual({ kind: 'adopted', upstreamId: started.upstreamId });
    const running = await source.state(credential, started.upstreamId);
    expect(running.state).toBe('IN_PROGRESS');
    expect(running.expiresAt).toBeInstanceOf(Date);
    await post(`/sandbox/v1/mews/exports/${started.upstreamId}:complete`, {});
    const done = await source.state(credential, started.upstreamId);
    expect(done.state).toBe('COMPLETE');
    expect(done.files.length).toBeGreaterThan(0);
    for (const f of done.files) {
      expect(f.name).toMatch(/^Customer-\d{3}\.jsonl$/);
      const body = await (await fetch(f.url)).text();
      expect(Buffer.byteLength(body)).toBe(f.bytes);
      for (const line of body.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
    }
  });

  it('reads many exports in one getAll (at most 1000 ids), and starts a Failed export again as a new one', async () => {
    const credential = await tenant();
    const a = await source.start(credential, unit('Reservation'));
    const b = await source.start(credential, unit('Payment'));
    if (a.kind !== 'started' || b.kind !== 'started') throw new Error('not started');
    const states = await source.getAll(credential, [a.upstreamId, b.upstreamId, '00000000-0000-4000-8000-000000000000']);
    expect([...states.keys()].sort()).toEqual([a.upstreamId, b.upstreamId].sort());
    await expect(
      source.getAll(
        credential,
        Array.from({ length: MEWS_GET_ALL_LIMIT + 1 }, () => a.upstreamId),
      ),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(source.retry(credential, a.upstreamId)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await post(`/sandbox/v1/mews/exports/${a.upstreamId}:fail`, {});
    expect((await source.state(credential, a.upstreamId)).state).toBe('FAILED');
    const again = await source.retry(credential, a.upstreamId);
    expect(again).not.toBe(a.upstreamId);
    expect((await source.state(credential, again)).state).toBe('IN_PROGRESS');
  });

  it('an expired export reads EXPIRED; keys it does not know are refused with UNAUTHENTICATED', async () => {
    const credential = await tenant();
    const started = await source.start(credential, unit('Bill'));
    if (started.kind !== 'started') throw new Error(started.kind);
    await post(`/sandbox/v1/mews/exports/${started.upstreamId}:complete`, {});
    await post(`/sandbox/v1/mews/exports/${started.upstreamId}:expire`, {});
    expect(await source.state(credential, started.upstreamId)).toMatchObject({ state: 'EXPIRED', files: [] });
    const bogus = { ...credential, accessToken: 'not-a-token' };
    await expect(source.start(bogus, unit('Bill'))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(source.state(bogus, started.upstreamId)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
