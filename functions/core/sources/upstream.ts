import { AppError, isAppError } from '../errors.js';
import type { ExportSource, ExportUnit, SourceCredential, SourceName, StartOutcome, UpstreamState } from '../ports/export-source.js';
import type { CredentialPurpose, GrantCredentials } from './credentials.js';

/** Records written before sources were named (jobs, consents) belong to the first source. */
export const LEGACY_SOURCE: SourceName = 'google';

/** The grant an upstream call acts under: a consent or a tenant of a source, by id. */
export interface GrantRef {
  readonly source: SourceName;
  readonly id: string;
}

/** One source as the composition root wires it: its adapter and the credentials of its grants. */
export interface SourceBinding {
  readonly source: ExportSource;
  readonly credentials: GrantCredentials;
  /** The units a tenant of this source may export (Mews: its entity types); absent for a source with consents only. */
  readonly units?: readonly string[];
}

export type SourceBindings = Readonly<Partial<Record<SourceName, SourceBinding>>>;

/** The reason of the error the core raises when upstream refused a fresh credential. */
export const NEEDS_RECONSENT = 'CONSENT_NEEDS_RECONSENT';

/**
 * Every upstream call goes through here: the grant is checked and its credential obtained by the
 * core (never by an adapter), and an `UNAUTHENTICATED` answer is not taken at its word at once (a
 * token revoked early, clock skew): the credential is refreshed and the call made once more; a
 * second refusal parks the grant (NEEDS_RECONSENT), once, and the call fails with
 * FAILED_PRECONDITION `CONSENT_NEEDS_RECONSENT`, never a retry loop. Which source and which
 * credentials is a lookup by the grant's source name: nothing here knows a particular source.
 */
export class Upstream {
  constructor(private readonly bindings: SourceBindings) {}

  /** The units a tenant of `source` may export; empty when the source is not configured or has no tenants. */
  units(source: SourceName): readonly string[] {
    return this.bindings[source]?.units ?? [];
  }

  start(grant: GrantRef, unit: ExportUnit): Promise<StartOutcome> {
    return this.call(grant, 'export', (s, c) => s.start(c, unit));
  }

  state(grant: GrantRef, upstreamId: string): Promise<UpstreamState> {
    return this.call(grant, 'export', (s, c) => s.state(c, upstreamId));
  }

  /** How many jobs of one grant of `source` one `states` call reads (1: the source reads one job per call). */
  batchLimit(source: SourceName): number {
    return this.bindings[source]?.source.batch?.limit ?? 1;
  }

  /**
   * The states of several jobs of one grant: one call per `batchLimit` ids where the source reads
   * many at once, one call each otherwise. Ids upstream does not know are absent.
   */
  async states(grant: GrantRef, upstreamIds: readonly string[]): Promise<ReadonlyMap<string, UpstreamState>> {
    const batch = this.binding(grant).source.batch;
    const out = new Map<string, UpstreamState>();
    if (!batch) {
      for (const id of upstreamIds) out.set(id, await this.state(grant, id));
      return out;
    }
    for (let i = 0; i < upstreamIds.length; i += batch.limit) {
      const chunk = upstreamIds.slice(i, i + batch.limit);
      for (const [id, state] of await this.call(grant, 'export', (_, c) => batch.states(c, chunk))) out.set(id, state);
    }
    return out;
  }

  retry(grant: GrantRef, upstreamId: string): Promise<string> {
    return this.call(grant, 'export', (s, c) => s.retry(c, upstreamId));
  }

  cancel(grant: GrantRef, upstreamId: string): Promise<void> {
    return this.call(grant, 'export', (s, c) => s.cancel(c, upstreamId));
  }

  /**
   * Ends the grant upstream. A credential refused even when fresh means the grant is already gone
   * upstream (a crash after the release, the user's own revocation): nothing is left to release,
   * so that is success, and the grant is not parked. The cached credential is dropped either way.
   */
  async release(grant: GrantRef): Promise<'released' | 'already_released'> {
    const { credentials } = this.binding(grant);
    try {
      await this.call(grant, 'release', (s, c) => s.release(c), false);
      return 'released';
    } catch (error) {
      if (isAppError(error) && error.code === 'UNAUTHENTICATED') return 'already_released';
      throw error;
    } finally {
      credentials.forget(grant.id);
    }
  }

  private binding(grant: GrantRef): SourceBinding {
    const binding = this.bindings[grant.source];
    if (!binding) throw new AppError('FAILED_PRECONDITION', `export source ${grant.source} is not configured`, { reason: 'SOURCE_NOT_CONFIGURED' });
    return binding;
  }

  private async call<T>(grant: GrantRef, purpose: CredentialPurpose, op: (source: ExportSource, credential: SourceCredential) => Promise<T>, park = true): Promise<T> {
    const { source, credentials } = this.binding(grant);
    try {
      return await op(source, await credentials.get(grant.id, purpose));
    } catch (error) {
      if (!unauthenticated(error)) throw error;
    }
    credentials.forget(grant.id);
    try {
      return await op(source, await credentials.get(grant.id, purpose));
    } catch (error) {
      if (!unauthenticated(error) || !park) throw error;
      credentials.forget(grant.id);
      await credentials.refused(grant.id);
      throw new AppError('FAILED_PRECONDITION', 'the grant was revoked upstream', { reason: NEEDS_RECONSENT });
    }
  }
}

/** The grant (consent or tenant) can no longer be used (ended, revoked, parked): the job ends, nothing is retried. */
export function grantEnded(error: unknown): error is AppError {
  return isAppError(error) && error.code === 'FAILED_PRECONDITION' && (error.reason?.startsWith('CONSENT_') ?? false);
}

function unauthenticated(error: unknown): boolean {
  return isAppError(error) && error.code === 'UNAUTHENTICATED';
}
