import { randomUUID } from 'node:crypto';
import { AppError } from '../../functions/core/errors.js';
import type { ExportSource, ExportUnit, SourceCredential, StartOutcome, UpstreamState, UpstreamStateName } from '../../functions/core/ports/export-source.js';

interface UpstreamJob {
  grant: string;
  unit: ExportUnit;
  state: UpstreamStateName;
  files: { name: string; url: string }[];
  exportTime: Date;
}

/** The access token the fake hands out for a grant (see FakeConsentTokens). */
export const fakeAccessToken = (grantId: string) => `fake-access:${grantId}`;

/**
 * An in-memory export API for unit tests: jobs that tests finish, fail or cancel by hand, and
 * start outcomes that tests can script per resource. Counts every call. Like the real API it acts
 * with the credential it is given: an access token names its grant (`identify`), and a released
 * grant's token is refused with UNAUTHENTICATED, whatever the call.
 */
export class FakeExportSource implements ExportSource {
  readonly jobs = new Map<string, UpstreamJob>();
  readonly calls = { start: 0, state: 0, retry: 0, cancel: 0, release: 0 };
  /** Scripted outcomes for `start`, per resource, used before the default (a new job). */
  readonly scripted = new Map<string, (StartOutcome | AppError)[]>();
  released: string[] = [];
  /** Resources whose next start creates the upstream job and then loses the answer (a dropped connection). */
  readonly loseAnswer = new Set<string>();

  constructor(
    private readonly options: {
      /** The grant an access token belongs to; null: not a token of this API. */
      readonly identify?: (accessToken: string) => string | null;
      /** Also called on release (e.g. the fake authorization server's reset). */
      readonly onRelease?: (accessToken: string) => Promise<void>;
    } = {},
  ) {}

  async start(credential: SourceCredential, unit: ExportUnit): Promise<StartOutcome> {
    this.calls.start++;
    const next = this.scripted.get(unit.resource)?.shift();
    if (next instanceof AppError) throw next;
    if (next) return next;
    const grant = this.grant(credential);
    // As the Data Portability API: an identical running job is adopted; a one-time group exports
    // once (whatever became of that export), and the refusal names the jobs that used it.
    const previous: string[] = [];
    for (const [id, job] of this.jobs) {
      if (job.grant !== grant || job.unit.resource !== unit.resource) continue;
      if (job.state === 'IN_PROGRESS' && (job.unit.startTime?.getTime() ?? null) === (unit.startTime?.getTime() ?? null)) return { kind: 'adopted', upstreamId: id };
      previous.push(id);
    }
    if (previous.length > 0) return { kind: 'exhausted', detail: 'one-time grant already used for this group', previousUpstreamIds: previous };
    const upstreamId = randomUUID();
    this.jobs.set(upstreamId, { grant, unit, state: 'IN_PROGRESS', files: [], exportTime: unit.endTime ?? new Date('2026-11-23T12:00:00Z') });
    if (this.loseAnswer.delete(unit.resource)) throw new AppError('UNAVAILABLE', 'POST /v1/portabilityArchive:initiate: network failure');
    return { kind: 'started', upstreamId, accessType: 'ONE_TIME' };
  }

  async state(credential: SourceCredential, upstreamId: string): Promise<UpstreamState> {
    this.calls.state++;
    const grant = this.grant(credential);
    const job = this.job(upstreamId);
    // Other grants' jobs do not exist for this one.
    if (job.grant !== grant) throw new AppError('NOT_FOUND', 'archive job not found');
    return { state: job.state, files: job.state === 'COMPLETE' ? job.files : [], exportTime: job.exportTime, startTime: job.unit.startTime };
  }

  async retry(credential: SourceCredential, upstreamId: string): Promise<string> {
    this.calls.retry++;
    const grant = this.grant(credential);
    const job = this.job(upstreamId);
    if (job.state !== 'FAILED') throw new AppError('FAILED_PRECONDITION', 'only FAILED jobs can be retried');
    const next = randomUUID();
    job.state = 'CANCELLED';
    this.jobs.set(next, { ...job, grant, state: 'IN_PROGRESS', files: [] });
    return next;
  }

  async cancel(credential: SourceCredential, upstreamId: string): Promise<void> {
    this.calls.cancel++;
    this.grant(credential);
    const job = this.job(upstreamId);
    if (job.state !== 'IN_PROGRESS') throw new AppError('FAILED_PRECONDITION', 'only running jobs can be cancelled');
    job.state = 'CANCELLED';
  }

  async release(credential: SourceCredential): Promise<void> {
    this.calls.release++;
    const grant = this.grant(credential);
    if (credential.kind === 'access_token') await this.options.onRelease?.(credential.accessToken);
    this.released.push(grant);
  }

  complete(upstreamId: string, files: { name: string; url: string }[]): void {
    const job = this.job(upstreamId);
    job.state = 'COMPLETE';
    job.files = files;
  }

  setState(upstreamId: string, state: UpstreamStateName): void {
    this.job(upstreamId).state = state;
  }

  /** The grant the credential acts for (an OAuth access token, or a tenant's AccessToken); UNAUTHENTICATED (HTTP 401) for an unknown or released one. */
  private grant(credential: SourceCredential): string {
    // A tenant's API keys carry an access token too (the fake reads it the same way).
    const token = credential.accessToken;
    const grant = this.options.identify ? this.options.identify(token) : token.startsWith('fake-access:') ? token.slice('fake-access:'.length) : null;
    if (grant === null || this.released.includes(grant)) throw new AppError('UNAUTHENTICATED', 'HTTP 401 UNAUTHENTICATED');
    return grant;
  }

  private job(id: string): UpstreamJob {
    const job = this.jobs.get(id);
    if (!job) throw new AppError('NOT_FOUND', 'archive job not found');
    return job;
  }
}
