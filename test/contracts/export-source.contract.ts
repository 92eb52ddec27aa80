import { describe, expect, it } from 'vitest';
import type { ExportSource } from '../../functions/core/ports/export-source.js';

export interface SourceUnderTest {
  readonly source: ExportSource;
  /** A fresh one-time grant (consent) for `resources`. */
  grant(resources: string[]): Promise<string>;
  complete(upstreamId: string): Promise<void>;
  fail(upstreamId: string): Promise<void>;
}

const unit = (resource: string) => ({ resource, startTime: null, endTime: null });

/** The ExportSource contract, run against the fake and the Google adapter on the sandbox. */
export function exportSourceContract(name: string, make: () => Promise<SourceUnderTest>): void {
  describe(`ExportSource contract: ${name}`, () => {
    it('starts a job, adopts it while it runs, lists its files when complete, and refuses a one-time group twice', async () => {
      const t = await make();
      const consentId = await t.grant(['chrome.history']);
      const started = await t.source.start({ consentId }, unit('chrome.history'));
      if (started.kind !== 'started') throw new Error(`expected started, got ${started.kind}`);
      expect(started.accessType).toBe('ONE_TIME');
      expect(await t.source.start({ consentId }, unit('chrome.history'))).toEqual({ kind: 'adopted', upstreamId: started.upstreamId });
      expect((await t.source.state({ consentId }, started.upstreamId)).state).toBe('IN_PROGRESS');
      await t.complete(started.upstreamId);
      const done = await t.source.state({ consentId }, started.upstreamId);
      expect(done.state).toBe('COMPLETE');
      expect(done.files.length).toBeGreaterThan(0);
      for (const f of done.files) {
        expect(f.name).toMatch(/^[A-Za-z0-9][A-Za-z0-9._ ()-]*$/);
        expect(f.url).toMatch(/^https?:\/\//);
      }
      expect(done.exportTime).toBeInstanceOf(Date);
      // The refusal names the job that used the grant (so a start whose answer was lost can find it).
      expect(await t.source.start({ consentId }, unit('chrome.history'))).toMatchObject({ kind: 'exhausted', previousUpstreamIds: [started.upstreamId] });
    });

    it('retries only a FAILED job, under a new id; cancels only a running one', async () => {
      const t = await make();
      const consentId = await t.grant(['myactivity.search', 'chrome.history']);
      const a = await t.source.start({ consentId }, unit('myactivity.search'));
      if (a.kind !== 'started') throw new Error(a.kind);
      await expect(t.source.retry({ consentId }, a.upstreamId)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await t.fail(a.upstreamId);
      expect((await t.source.state({ consentId }, a.upstreamId)).state).toBe('FAILED');
      const again = await t.source.retry({ consentId }, a.upstreamId);
      expect(again).not.toBe(a.upstreamId);
      expect((await t.source.state({ consentId }, again)).state).toBe('IN_PROGRESS');
      const b = await t.source.start({ consentId }, unit('chrome.history'));
      if (b.kind !== 'started') throw new Error(b.kind);
      await t.source.cancel({ consentId }, b.upstreamId);
      expect((await t.source.state({ consentId }, b.upstreamId)).state).toBe('CANCELLED');
      await expect(t.source.cancel({ consentId }, b.upstreamId)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    });

    it('after release, the grant cannot start anything: the consent needs a new consent', async () => {
      const t = await make();
      const consentId = await t.grant(['chrome.history']);
      await t.source.release({ consentId });
      await expect(t.source.start({ consentId }, unit('chrome.history'))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'CONSENT_NEEDS_RECONSENT' });
    });
  });
}
