import { AppError, isAppError } from '../core/errors.js';
import type { ExportSource, ExportUnit, SourceCredential, StartOutcome, UpstreamState } from '../core/ports/export-source.js';
import { UPSTREAM_STATES, type UpstreamStateName } from '../core/ports/export-source.js';
import type { GooglePortabilityClient } from './google-portability-client.js';

/**
 * ExportSource on Google's Data Portability API: one resource group per initiate (Google's
 * advice), called with the user's access token the core hands in, and every documented error of
 * initiate mapped to a typed outcome (see the contract page's table). A 401 is reported as
 * AppError UNAUTHENTICATED; what it means for the consent is the core's decision.
 */
export class GoogleExportSource implements ExportSource {
  constructor(private readonly client: GooglePortabilityClient) {}

  async start(credential: SourceCredential, unit: ExportUnit): Promise<StartOutcome> {
    try {
      const started = await this.client.initiate(token(credential), {
        resources: [unit.resource],
        ...(unit.startTime ? { startTime: unit.startTime.toISOString() } : {}),
        ...(unit.endTime ? { endTime: unit.endTime.toISOString() } : {}),
      });
      const accessType = started.accessType === 'ACCESS_TYPE_ONE_TIME' ? 'ONE_TIME' : started.accessType === 'ACCESS_TYPE_TIME_BASED' ? 'TIME_BASED' : 'UNSPECIFIED';
      return { kind: 'started', upstreamId: started.archiveJobId, accessType };
    } catch (error) {
      return refusal(error);
    }
  }

  async state(credential: SourceCredential, upstreamId: string): Promise<UpstreamState> {
    const s = await this.client.getState(token(credential), upstreamId);
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

  retry(credential: SourceCredential, upstreamId: string): Promise<string> {
    return this.client.retry(token(credential), upstreamId);
  }

  cancel(credential: SourceCredential, upstreamId: string): Promise<void> {
    return this.client.cancel(token(credential), upstreamId);
  }

  /** `authorization:reset`: revokes the app's tokens for this user and releases one-time groups. */
  release(credential: SourceCredential): Promise<void> {
    return this.client.reset(token(credential));
  }
}

/** The user's access token; any other credential is a wiring error. */
function token(credential: SourceCredential): string {
  if (credential.kind !== 'access_token') throw new AppError('INTERNAL', `the Data Portability API is called with an access token, not ${credential.kind}`);
  return credential.accessToken;
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
