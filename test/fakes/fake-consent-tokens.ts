import { markNeedsReconsent } from '../../functions/core/consent/access-tokens.js';
import type { ConsentTokens } from '../../functions/core/consent/credentials.js';
import type { Consent } from '../../functions/core/consent/model.js';
import type { Clock } from '../../functions/core/ports/clock.js';
import type { RecordStore } from '../../functions/core/ports/record-store.js';
import type { WorkQueue } from '../../functions/core/ports/work-queue.js';
import { fakeAccessToken } from './fake-export-source.js';

/**
 * Consent access tokens for unit tests of the export core: each consent's token is
 * `fake-access:<id>` (what FakeExportSource accepts), with no refresh round trip; parking a consent
 * is the core's own transition.
 */
export class FakeConsentTokens implements ConsentTokens {
  readonly calls = { get: 0, forget: 0 };

  constructor(private readonly deps: { clock: Clock; consents: RecordStore<Consent>; queue: WorkQueue }) {}

  async get(consentId: string): Promise<string> {
    this.calls.get++;
    return fakeAccessToken(consentId);
  }

  forget(): void {
    this.calls.forget++;
  }

  markNeedsReconsent(consentId: string): Promise<boolean> {
    return markNeedsReconsent(this.deps, consentId);
  }
}
