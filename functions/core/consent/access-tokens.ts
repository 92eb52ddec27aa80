import { AppError, isAppError } from '../errors.js';
import { publishEvent } from '../events.js';
import type { Clock } from '../ports/clock.js';
import { INVALID_GRANT, type OAuthProvider } from '../ports/oauth-provider.js';
import { keep, put, type RecordStore } from '../ports/record-store.js';
import type { WorkQueue } from '../ports/work-queue.js';
import type { TokenVault } from '../token-vault.js';
import type { ConsentTokens } from './credentials.js';
import { consentName, type Consent } from './model.js';

/** Refresh this long before an access token's expiry, so a call never starts with a dying token. */
const EARLY_REFRESH_MS = 60_000;

/**
 * Access tokens for consents: refreshed on demand from the sealed refresh token and cached in this
 * instance's memory only. `invalid_grant` parks the consent as NEEDS_RECONSENT (one event, once)
 * and is never retried.
 */
export class AccessTokens implements ConsentTokens {
  private readonly cache = new Map<string, { token: string; expiresAt: number }>();

  constructor(
    private readonly deps: {
      clock: Clock;
      consents: RecordStore<Consent>;
      vault: TokenVault;
      oauth: OAuthProvider;
      queue: WorkQueue;
    },
  ) {}

  remember(consentId: string, token: string, expiresAt: Date): void {
    this.cache.set(consentId, { token, expiresAt: expiresAt.getTime() });
  }

  forget(consentId: string): void {
    this.cache.delete(consentId);
  }

  /** A valid access token for an ACTIVE (or CLOSING, being released) consent; AppError FAILED_PRECONDITION otherwise. */
  async get(consentId: string): Promise<string> {
    const now = this.deps.clock.now().getTime();
    const cached = this.cache.get(consentId);
    if (cached && cached.expiresAt - EARLY_REFRESH_MS > now) return cached.token;
    const consent = await this.deps.consents.get(consentId);
    if (!consent) throw new AppError('NOT_FOUND', `${consentName(consentId)} not found`);
    if ((consent.status !== 'ACTIVE' && consent.status !== 'CLOSING') || !consent.token) {
      throw new AppError('FAILED_PRECONDITION', `${consentName(consentId)} is ${consent.status}`, {
        reason: `CONSENT_${consent.status}`,
      });
    }
    const refreshToken = await this.deps.vault.open(consent.token, consentId);
    let grant;
    try {
      grant = await this.deps.oauth.refresh(refreshToken);
    } catch (error) {
      if (isAppError(error) && error.reason === INVALID_GRANT) {
        await this.markNeedsReconsent(consentId);
        throw new AppError('FAILED_PRECONDITION', `${consentName(consentId)} needs a new consent`, { reason: 'CONSENT_NEEDS_RECONSENT' });
      }
      throw error;
    }
    if (grant.refreshToken && grant.refreshToken !== refreshToken) {
      const sealed = await this.deps.vault.seal(grant.refreshToken, consentId);
      await this.deps.consents.update(consentId, (c) =>
        c && (c.status === 'ACTIVE' || c.status === 'CLOSING') && c.token ? put({ ...c, token: sealed, updatedAt: this.deps.clock.now() }, null) : keep(null),
      );
    }
    this.remember(consentId, grant.accessToken, grant.accessTokenExpiresAt);
    return grant.accessToken;
  }

  /** ACTIVE → NEEDS_RECONSENT, once; the event is published only by the call that made the change. */
  async markNeedsReconsent(consentId: string): Promise<boolean> {
    this.forget(consentId);
    return markNeedsReconsent(this.deps, consentId);
  }
}

/** ACTIVE → NEEDS_RECONSENT, once; the event is published only by the call that made the change. */
export async function markNeedsReconsent(deps: { clock: Clock; consents: RecordStore<Consent>; queue: WorkQueue }, consentId: string): Promise<boolean> {
  const now = deps.clock.now();
  const changed = await deps.consents.update(consentId, (c) =>
    c && c.status === 'ACTIVE' ? put<Consent, Consent | null>({ ...c, status: 'NEEDS_RECONSENT', updatedAt: now }, c) : keep(null),
  );
  if (changed) {
    await publishEvent(deps, {
      type: 'consent.needs_reconsent',
      subject: consentName(consentId),
      appUserId: changed.appUserId,
      data: { reason: 'invalid_grant' },
    });
  }
  return changed !== null;
}
