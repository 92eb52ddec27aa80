import { gaxios } from 'google-auth-library';
import { AppError, isAppError } from '../core/errors.js';
import type { BatchStates, ExportSource, ExportUnit, SourceCredential, StartOutcome, UpstreamState, UpstreamStateName } from '../core/ports/export-source.js';

/** The entity types the Connector API exports (one export per type). */
export const MEWS_ENTITY_TYPES: readonly string[] = [
  'OrderItem',
  'Payment',
  'Reservation',
  'Customer',
  'Company',
  'Bill',
  'AvailabilityAdjustment',
  'AvailabilityBlock',
  'ResourceBlock',
];

/** At most this many ids per `exports/getAll` call (more is refused). */
export const MEWS_GET_ALL_LIMIT = 1000;

interface MewsExport {
  readonly Id?: string;
  readonly Status?: string;
  readonly EntityType?: string;
  readonly Files?: readonly { readonly Url?: string; readonly SizeInBytes?: number }[];
  readonly ExpiresUtc?: string;
}

const STATES: Readonly<Record<string, UpstreamStateName>> = { Pending: 'IN_PROGRESS', Processing: 'IN_PROGRESS', Success: 'COMPLETE', Failed: 'FAILED', Expired: 'EXPIRED' };

/**
 * ExportSource on the Mews Connector API exports (beta): one export per entity type
 * (`exports/add`), read with `exports/getAll`, authorised by the tenant's ClientToken and
 * AccessToken the core hands in (in the JSON body, never in a URL). An export of that type
 * already Pending or Processing is adopted (its id comes with the refusal). Mews has no retry:
 * `retry` adds a new export of the failed one's entity type; no cancel; no grant to release.
 * Files are JSON Lines with their size stated (`SizeInBytes`); their URLs live about 10 minutes
 * and every `getAll` gives fresh ones.
 */
export class MewsExportSource implements ExportSource {
  private readonly http = new gaxios.Gaxios({ retry: false, timeout: 30_000 });
  /** The poll sweep reads every running export of a tenant with one `getAll` per 1000. */
  readonly batch: BatchStates = { limit: MEWS_GET_ALL_LIMIT, states: (credential, ids) => this.getAll(credential, ids) };

  /** `client`: the integration's name and version, e.g. `Dataportability 1.0.0`. */
  constructor(private readonly client: string) {}

  async start(credential: SourceCredential, unit: ExportUnit): Promise<StartOutcome> {
    try {
      const data = await this.call<{ Export?: MewsExport }>(credential, 'exports/add', { EntityType: unit.resource });
      if (!data.Export?.Id) throw new AppError('UNAVAILABLE', 'exports/add: response without Export.Id');
      return { kind: 'started', upstreamId: data.Export.Id, accessType: 'UNSPECIFIED' };
    } catch (error) {
      if (isAppError(error) && error.code === 'INVALID_ARGUMENT' && error.metadata['ExportId']) return { kind: 'adopted', upstreamId: error.metadata['ExportId'] };
      if (isAppError(error) && error.code === 'PERMISSION_DENIED') return { kind: 'not_granted', detail: 'exports are not enabled for this tenant' };
      throw error;
    }
  }

  async state(credential: SourceCredential, upstreamId: string): Promise<UpstreamState> {
    const found = (await this.getAll(credential, [upstreamId])).get(upstreamId);
    if (!found) throw new AppError('NOT_FOUND', 'export not found');
    return found;
  }

  /** Up to MEWS_GET_ALL_LIMIT exports in one call; ids upstream does not know (or not for this tenant) are absent. */
  async getAll(credential: SourceCredential, ids: readonly string[]): Promise<Map<string, UpstreamState>> {
    if (ids.length > MEWS_GET_ALL_LIMIT) throw new AppError('INVALID_ARGUMENT', `exports/getAll takes at most ${MEWS_GET_ALL_LIMIT} ids`);
    const data = await this.call<{ Exports?: readonly MewsExport[] }>(credential, 'exports/getAll', { ExportIds: ids });
    const out = new Map<string, UpstreamState>();
    for (const e of data.Exports ?? []) if (e.Id) out.set(e.Id, toState(e));
    return out;
  }

  async retry(credential: SourceCredential, upstreamId: string): Promise<string> {
    const found = await this.call<{ Exports?: readonly MewsExport[] }>(credential, 'exports/getAll', { ExportIds: [upstreamId] });
    const failed = found.Exports?.find((e) => e.Id === upstreamId);
    if (!failed?.EntityType) throw new AppError('NOT_FOUND', 'export not found');
    if (failed.Status !== 'Failed' && failed.Status !== 'Expired')
      throw new AppError('FAILED_PRECONDITION', `only Failed or Expired exports are started again (this one is ${failed.Status ?? 'unknown'})`);
    const again = await this.start(credential, { resource: failed.EntityType, startTime: null, endTime: null });
    if (again.kind === 'started' || again.kind === 'adopted') return again.upstreamId;
    throw new AppError('FAILED_PRECONDITION', `a new export of ${failed.EntityType} was refused: ${again.detail}`);
  }

  /** Mews exports cannot be cancelled: the export runs to its end and expires. */
  async cancel(): Promise<void> {
    throw new AppError('FAILED_PRECONDITION', 'Mews exports cannot be cancelled');
  }

  /** Nothing to release: a tenant's keys are configured, not granted per export. */
  async release(): Promise<void> {}

  private async call<T>(credential: SourceCredential, operation: string, body: Record<string, unknown>): Promise<T> {
    if (credential.kind !== 'api_keys') throw new AppError('INTERNAL', `the Mews Connector API is called with API keys, not ${credential.kind}`);
    const what = `POST ${operation}`;
    let res;
    try {
      res = await this.http.request<unknown>({
        url: `${credential.platformAddress}/api/connector/v1/${operation}`,
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        data: JSON.stringify({ ClientToken: credential.clientToken, AccessToken: credential.accessToken, Client: this.client, ...body }),
        responseType: 'json',
        validateStatus: () => true,
      });
    } catch (error) {
      throw new AppError('UNAVAILABLE', `${what}: network failure`, { cause: error });
    }
    if (res.status >= 200 && res.status < 300) return (res.data ?? {}) as T;
    const data = (typeof res.data === 'object' && res.data !== null ? res.data : {}) as { ExportId?: unknown };
    const metadata: Record<string, string> = typeof data.ExportId === 'string' && /^[0-9a-fA-F-]{36}$/.test(data.ExportId) ? { ExportId: data.ExportId } : {};
    const message = `${what}: HTTP ${res.status}`;
    if (res.status === 401) throw new AppError('UNAUTHENTICATED', message);
    if (res.status === 403) throw new AppError('PERMISSION_DENIED', message);
    if (res.status === 404) throw new AppError('NOT_FOUND', message);
    if (res.status === 408 || res.status === 429 || res.status >= 500) throw new AppError('UNAVAILABLE', message);
    throw new AppError('INVALID_ARGUMENT', message, { metadata });
  }
}

function toState(e: MewsExport): UpstreamState {
  const state = STATES[e.Status ?? ''];
  // An unknown status is an error, never success.
  if (!state) throw new AppError('UNAVAILABLE', `export reported status ${(e.Status ?? '').slice(0, 40)}`);
  const expiresAt = e.ExpiresUtc && !Number.isNaN(Date.parse(e.ExpiresUtc)) ? new Date(e.ExpiresUtc) : null;
  const files =
    state === 'COMPLETE'
      ? (e.Files ?? []).flatMap((f, i) =>
          typeof f.Url === 'string'
            ? [{ name: `${e.EntityType ?? 'export'}-${String(i + 1).padStart(3, '0')}.jsonl`, url: f.Url, ...(typeof f.SizeInBytes === 'number' ? { bytes: f.SizeInBytes } : {}) }]
            : [],
        )
      : [];
  return { state, files, exportTime: null, startTime: null, expiresAt };
}
