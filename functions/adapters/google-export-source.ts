import type { AccessTokens } from '../core/consent/access-tokens.js';
import { AppError, isAppError } from '../core/errors.js';
import type { ExportSource, ExportUnit, GrantRef, StartOutcome, UpstreamState } from '../core/ports/export-source.js';
import { UPSTREAM_STATES, type UpstreamStateName } from '../core/ports/export-source.js';
import type { GooglePortabilityClient } from './google-portability-client.js';

/**
 * ExportSource on Google's Data Portability API: one resource group per initiate (Google's
 * advice), the user's access token from the consent, and every documented error of initiate
 * mapped to a typed outcome (see the contract page's table).
 */
export class GoogleExportSource implements ExportSource {
  constructor(
    private readonly client: GooglePortabilityClient,
    private readonly tokens: AccessTokens,
  ) {}

  async start(grant: GrantRef, unit: ExportUnit): Promise<StartOutcome> {
    try {
      const started = await this.authorized(grant, (token) =>
        this.client.initiate(token, {
          resources: [unit.resource],
          ...(unit.startTime ? { startTime: unit.startTime.toISOString() } : {}),
          ...(unit.endTime ? { endTime: unit.endTime.toISOString() } : {}),
        }),
      );
      const accessType = started.accessType === 'ACCESS_TYPE_ONE_TIME' ? 'ONE_TIME' : started.accessType === 'ACCESS_TYPE_TIME_BASED' ? 'TIME_BASED' : 'UNSPECIFIED';
      return { kind: 'started', upstreamId: started.archiveJobId, accessType };
    } catch (error) {
      return refusal(error);
    }
  }

  async state(grant: GrantRef, upstreamId: string): Promise<UpstreamState> {
    const s = await this.authorized(grant, (token) => this.client.getState(token, upstreamId));
    if (!(UPSTREAM_STATES as readonly string[]).includes(s.state)) {
      // STATE_UNSPECIFIED or anything new is an error, never success.
      throw new AppError('UNAVAILABLE', `archive job reported state ${s.state.slice(0, 40)}`);
    }
    const state = s.state as UpstreamStateName;
    return {
      state,
      files: state === 'COMPLETE' ? s.urls.map((url, i) => ({ name: fileName(url, i), url })) : [],
      exportTime: s.exportTime ? new Date(s.exportTime) : null,
      startTime: s.startTime ? new Date(s.startTime) : null,
    };
  }

  async retry(grant: GrantRef, upstreamId: string): Promise<string> {
    return this.authorized(grant, (token) => this.client.retry(token, upstreamId));
  }

  async cancel(grant: GrantRef, upstreamId: string): Promise<void> {
    await this.authorized(grant, (token) => this.client.cancel(token, upstreamId));
  }

  async release(grant: GrantRef): Promise<void> {
    await this.authorized(grant, (token) => this.client.reset(token));
    this.tokens.forget(grant.consentId);
  }

  /**
   * Calls upstream with the consent's access token. A 401 is not taken at its word at once (a
   * token revoked early, clock skew): the token is refreshed and the call made once more; a second
   * 401 means the grant is gone upstream, so the consent needs a new consent, never a retry loop.
   */
  private async authorized<T>(grant: GrantRef, call: (token: string) => Promise<T>): Promise<T> {
    try {
      return await call(await this.tokens.get(grant.consentId));
    } catch (error) {
      if (!(isAppError(error) && error.code === 'UNAUTHENTICATED')) throw error;
    }
    this.tokens.forget(grant.consentId);
    const fresh = await this.tokens.get(grant.consentId);
    try {
      return await call(fresh);
    } catch (error) {
      if (isAppError(error) && error.code === 'UNAUTHENTICATED') {
        this.tokens.forget(grant.consentId);
        await this.tokens.markNeedsReconsent(grant.consentId);
        throw new AppError('FAILED_PRECONDITION', 'the grant was revoked upstream', { reason: 'CONSENT_NEEDS_RECONSENT' });
      }
      throw error;
    }
  }
}

/** Every documented refusal of initiate as a typed outcome (the contract page's table). */
function refusal(error: unknown): StartOutcome {
  if (!isAppError(error)) throw error;
  const { reason, metadata } = error;
  if (error.code === 'ALREADY_EXISTS' && metadata['job_id']) return { kind: 'adopted', upstreamId: metadata['job_id'] };
  if (error.code === 'RESOURCE_EXHAUSTED' && reason === 'RESOURCE_EXHAUSTED_ONE_TIME') {
    const previousUpstreamIds = (metadata['previous_job_ids'] ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
    return { kind: 'exhausted', detail: 'one-time grant already used for this group', previousUpstreamIds };
  }
  if ((error.code === 'RESOURCE_EXHAUSTED' && reason === 'RESOURCE_EXHAUSTED_TIME_BASED') || (error.code === 'FAILED_PRECONDITION' && !reason?.startsWith('CONSENT_'))) {
    const at = Date.parse(metadata['timestamp_after_24hrs'] ?? '');
    // Without a timestamp, the documented rule: once per 24 hours.
    return { kind: 'not_before', at: new Date(Number.isNaN(at) ? Date.now() + 24 * 3_600_000 : at), detail: 'time-based grant: once per 24 hours' };
  }
  if (error.code === 'PERMISSION_DENIED') return { kind: 'not_granted', detail: 'the group is not granted on this token' };
  throw error;
}

/** The file name of a signed URL: its last path segment, decoded, without the signature. */
export function fileName(url: string, index: number): string {
  try {
    const last = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
    if (/^[A-Za-z0-9][A-Za-z0-9._ ()-]{0,200}$/.test(last) && !last.includes('..')) return last;
  } catch {
    // fall through to a generated name
  }
  return `archive-${String(index + 1).padStart(3, '0')}.zip`;
}
