import { gaxios } from 'google-auth-library';
import { AppError } from '../core/errors.js';
import { fromHttpStatus, retryAfterSeconds } from './http-errors.js';

/**
 * A small typed client of the Data Portability API v1 (the six methods), authorised with a user's
 * access token. Every non-2xx answer becomes a typed AppError (envelope parsed by `@type`);
 * network failures are retryable. Used by the grant and export-source adapters.
 */
export interface ArchiveState {
  readonly name: string;
  readonly state: string;
  readonly urls: readonly string[];
  readonly startTime?: string;
  readonly exportTime?: string;
}

export class GooglePortabilityClient {
  private readonly http = new gaxios.Gaxios({ retry: false, timeout: 30_000 });

  constructor(private readonly root: string) {}

  async initiate(accessToken: string, body: { resources: readonly string[]; startTime?: string; endTime?: string }) {
    const data = await this.call<{ archiveJobId?: string; accessType?: string }>(accessToken, 'POST', '/v1/portabilityArchive:initiate', body);
    if (!data.archiveJobId) throw new AppError('UNAVAILABLE', 'initiate: response without archiveJobId');
    return { archiveJobId: data.archiveJobId, accessType: data.accessType ?? 'ACCESS_TYPE_UNSPECIFIED' };
  }

  async getState(accessToken: string, archiveJobId: string): Promise<ArchiveState> {
    const data = await this.call<Partial<ArchiveState>>(accessToken, 'GET', `/v1/archiveJobs/${encodeURIComponent(archiveJobId)}/portabilityArchiveState`);
    return {
      name: data.name ?? '',
      state: data.state ?? 'STATE_UNSPECIFIED',
      urls: Array.isArray(data.urls) ? data.urls.filter((u): u is string => typeof u === 'string') : [],
      ...(data.startTime ? { startTime: data.startTime } : {}),
      ...(data.exportTime ? { exportTime: data.exportTime } : {}),
    };
  }

  async retry(accessToken: string, archiveJobId: string): Promise<string> {
    const data = await this.call<{ archiveJobId?: string }>(accessToken, 'POST', `/v1/archiveJobs/${encodeURIComponent(archiveJobId)}:retry`, {});
    if (!data.archiveJobId) throw new AppError('UNAVAILABLE', 'retry: response without archiveJobId');
    return data.archiveJobId;
  }

  async cancel(accessToken: string, archiveJobId: string): Promise<void> {
    await this.call(accessToken, 'POST', `/v1/archiveJobs/${encodeURIComponent(archiveJobId)}:cancel`, {});
  }

  async reset(accessToken: string): Promise<void> {
    await this.call(accessToken, 'POST', '/v1/authorization:reset', {});
  }

  async checkAccessType(accessToken: string): Promise<{ oneTime: string[]; timeBased: string[] }> {
    const data = await this.call<{ oneTimeResources?: unknown; timeBasedResources?: unknown }>(accessToken, 'POST', '/v1/accessType:check', {});
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
    return { oneTime: strings(data.oneTimeResources), timeBased: strings(data.timeBasedResources) };
  }

  private async call<T>(accessToken: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const what = `${method} ${path.replace(/archiveJobs\/[^/:]+/, 'archiveJobs/{id}')}`;
    let res;
    try {
      res = await this.http.request<unknown>({
        url: `${this.root}${path}`,
        method,
        headers: { Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { data: JSON.stringify(body) }),
        responseType: 'json',
        validateStatus: () => true,
      });
    } catch (error) {
      throw new AppError('UNAVAILABLE', `${what}: network failure`, { cause: error });
    }
    if (res.status >= 200 && res.status < 300) return (res.data ?? {}) as T;
    throw fromHttpStatus(res.status, res.data, what, retryAfterSeconds(res.headers.get('retry-after')));
  }
}
