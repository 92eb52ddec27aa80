import { AppError } from '../errors.js';
import type { SourceCredential } from '../ports/export-source.js';
import type { RecordStore } from '../ports/record-store.js';
import type { CredentialPurpose, GrantCredentials } from '../sources/credentials.js';
import type { Consent, ConsentStatus } from './model.js';

/** Where a consent's access token comes from (AccessTokens: refreshed from the sealed refresh token, cached). */
export interface ConsentTokens {
  get(consentId: string): Promise<string>;
  forget(consentId: string): void;
  markNeedsReconsent(consentId: string): Promise<boolean>;
}

const USABLE: Readonly<Record<CredentialPurpose, readonly ConsentStatus[]>> = {
  export: ['ACTIVE'],
  // CLOSING: every export is done and the grant is being released upstream.
  release: ['ACTIVE', 'CLOSING'],
};

/**
 * The credentials of OAuth consents: the consent is read and its status checked for the call's
 * purpose on every call (an export never runs on a revoked or ended consent, even with a cached
 * token), then the user's access token is handed out. A refusal parks the consent as
 * NEEDS_RECONSENT (once, with `consent.needs_reconsent`).
 */
export class ConsentCredentials implements GrantCredentials {
  constructor(
    private readonly deps: {
      readonly consents: Pick<RecordStore<Consent>, 'get'>;
      readonly tokens: ConsentTokens;
    },
  ) {}

  async get(id: string, purpose: CredentialPurpose): Promise<SourceCredential> {
    const consent = await this.deps.consents.get(id);
    const status = consent?.status ?? 'GONE';
    if (!consent || !consent.token || !USABLE[purpose].includes(consent.status)) {
      throw new AppError('FAILED_PRECONDITION', `consent is ${consent?.status ?? 'gone'}`, { reason: `CONSENT_${status}` });
    }
    return { kind: 'access_token', accessToken: await this.deps.tokens.get(id) };
  }

  forget(id: string): void {
    this.deps.tokens.forget(id);
  }

  async refused(id: string): Promise<void> {
    await this.deps.tokens.markNeedsReconsent(id);
  }
}
