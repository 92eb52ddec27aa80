import { describe, expect, it } from 'vitest';
import type { ExportSource, SourceCredential } from '../../functions/core/ports/export-source.js';

export interface SourceUnderTest {
  readonly source: ExportSource;
  /** A fresh one-time grant (consent) for `resources`: the credential the core would hand in. */
  grant(resources: string[]): Promise<SourceCredential>;
  complete(upstreamId: string): Promise<void>;
  fail(upstreamId: string): Promise<void>;
}

const unit = (resource: string) => ({ resource, startTime: null, endTime: null });

/** The ExportSource contract, run against the fake and the Google adapter on the sandbox. */
export function exportSourceContract(name: string, make: () => Promise<SourceUnderTest>): void {
  describe(`ExportSource contract: ${name}`, () => {
    it('starts a job, adopts it while it runs, lists its files when complete, and refuses a one-time group twice', async () => {
      const t = await make();
      const credential = await t.grant(['chrome.history']);
      const started = await t.source.start(credential, unit('chrome.history'));
      if (started.kind !== 'started') throw new Error(`expected started, got ${started.kind}`);
      expect(started.accessType).toBe('ONE_TIME');
      expect(await t.source.start(credential, unit('chrome.history'))).toEqual({ kind: 'adopted', upstreamId: started.upstreamId });
      expect((await t.source.state(credential, started.upstreamId)).state).toBe('IN_PROGRESS');
      await t.complete(started.upstreamId);
      const done = await t.source.state(credential, started.upstreamId);
      expect(done.state).toBe('COMPLETE');
      expect(done.files.length).toBeGreaterThan(0);
      for (const f of done.files) {
        expect(f.name).toMatch(/^[A-Za-z0-9][A-Za-z0-9._ ()-]*$/);
        expect(f.url).toMatch(/^https?:\/\//);
      }
      expect(done.exportTime).toBeInstanceOf(Date);
      // The refusal names the job that used the grant (so a start whose answer was lost can find it).
      expect(await t.source.start(credential, unit('chrome.history'))).toMatchObject({ kind: 'exhausted', previousUpstreamIds: [started.upstreamId] });
    });

    it('retries only a FAILED job, under a new id; cancels only a running one', async () => {
      const t = await make();
      const credential = await t.grant(['myactivity.search', 'chrome.history']);
      const a = await t.source.start(credential, unit('myactivity.search'));
      if (a.kind !== 'started') throw new Error(a.kind);
      await expect(t.source.retry(credential, a.upstreamId)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await t.fail(a.upstreamId);
      expect((await t.source.state(credential, a.upstreamId)).state).toBe('FAILED');
      const again = await t.source.retry(credential, a.upstreamId);
      expect(again).not.toBe(a.upstreamId);
      expect((await t.source.state(credential, again)).state).toBe('IN_PROGRESS');
      const b = await t.source.start(credential, unit('chrome.history'));
      if (b.kind !== 'started') throw new Error(b.kind);
      await t.source.cancel(credential, b.upstreamId);
      expect((await t.source.state(credential, b.upstreamId)).state).toBe('CANCELLED');
      await expect(t.source.cancel(credential, b.upstreamId)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    });

    it("after release, the credential is refused (UNAUTHENTICATED): what that means for the grant is the core's decision", async () => {
      const t = await make();
      const credential = await t.grant(['chrome.history']);
      await t.source.release(credential);
      await expect(t.source.start(credential, unit('chrome.history'))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    });

    it('refuses a credential it does not know with UNAUTHENTICATED, on every call', async () => {
      const t = await make();
      const bogus: SourceCredential = { kind: 'access_token', accessToken: 'not-a-token-of-this-api' };
      await expect(t.source.start(bogus, unit('chrome.history'))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      const credential = await t.grant(['chrome.history']);
      const started = await t.source.start(credential, unit('chrome.history'));
      if (started.kind !== 'started') throw new Error(started.kind);
      await expect(t.source.state(bogus, started.upstreamId)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      await expect(t.source.cancel(bogus, started.upstreamId)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    });
  });
}
