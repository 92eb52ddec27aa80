// Data Portability API v1 (and v1beta, identical) at Google's paths.
import { rfc3339 } from '../lib/clock.js';
import { ApiError, errorInfo } from '../lib/errors.js';
import { readJsonObject, sendJson } from '../lib/http.js';
import type { RequestContext, SandboxModule } from '../lib/router.js';
import type { Grant, Job } from '../lib/state.js';
import type { OAuthService } from '../oauth/grants.js';
import type { JobService } from './jobs.js';
import { accessTypeName } from './jobs.js';
import { parseEmpty, parseInitiate, parseJobId } from './requests.js';

export interface PortabilityDeps {
  oauth: OAuthService;
  jobs: JobService;
  /** Fresh signed URLs of a COMPLETE job's archive parts. */
  archiveUrls(job: Job): string[];
}

const UNAUTHENTICATED_MESSAGE =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

function bearer(ctx: RequestContext): string | undefined {
  const header = ctx.req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m?.[1] ?? '';
  }
  return ctx.query.get('access_token') ?? undefined;
}

export function portabilityModule(deps: PortabilityDeps): SandboxModule {
  const { oauth, jobs } = deps;

  function authenticate(ctx: RequestContext, method: string): { grant: Grant; owner: string } {
    const auth = oauth.authenticate(bearer(ctx));
    if (!auth.ok) {
      const reason = auth.reason === 'missing' ? 'CREDENTIALS_MISSING' : auth.reason === 'expired' ? 'ACCESS_TOKEN_EXPIRED' : 'ACCESS_TOKEN_TYPE_UNSUPPORTED';
      throw new ApiError(401, 'UNAUTHENTICATED', UNAUTHENTICATED_MESSAGE, [errorInfo(reason, { service: 'dataportability.googleapis.com', method }, 'googleapis.com')], {
        'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"',
      });
    }
    if (auth.grant.groups.length === 0) {
      throw new ApiError(403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.', [
        errorInfo('ACCESS_TOKEN_SCOPE_INSUFFICIENT', { service: 'dataportability.googleapis.com', method }, 'googleapis.com'),
      ]);
    }
    return { grant: auth.grant, owner: oauth.ownerOf(auth.grant) };
  }

  const rpc = (name: string) => `google.dataportability.v1.DataPortabilityService.${name}`;

  async function initiate(ctx: RequestContext): Promise<void> {
    const { grant, owner } = authenticate(ctx, rpc('InitiatePortabilityArchive'));
    const request = parseInitiate(await readJsonObject(ctx.req));
    const job = jobs.initiate(grant, owner, request);
    sendJson(ctx.res, 200, { archiveJobId: job.id, accessType: accessTypeName(job) });
  }

  function state(ctx: RequestContext): void {
    const { owner } = authenticate(ctx, rpc('GetPortabilityArchiveState'));
    const job = jobs.get(owner, parseJobId(ctx.params[0] ?? ''));
    const body: Record<string, unknown> = { name: `archiveJobs/${job.id}/portabilityArchiveState`, state: job.state };
    if (job.state === 'COMPLETE') body.urls = deps.archiveUrls(job);
    if (job.startTime !== undefined) body.startTime = rfc3339(job.startTime);
    body.exportTime = rfc3339(job.exportTime);
    sendJson(ctx.res, 200, body);
  }

  async function retry(ctx: RequestContext): Promise<void> {
    const { owner } = authenticate(ctx, rpc('RetryPortabilityArchive'));
    parseEmpty(await readJsonObject(ctx.req));
    const job = jobs.retry(owner, parseJobId(ctx.params[0] ?? ''));
    sendJson(ctx.res, 200, { archiveJobId: job.id });
  }

  async function cancel(ctx: RequestContext): Promise<void> {
    const { owner } = authenticate(ctx, rpc('CancelPortabilityArchive'));
    parseEmpty(await readJsonObject(ctx.req));
    jobs.cancel(owner, parseJobId(ctx.params[0] ?? ''));
    sendJson(ctx.res, 200, {});
  }

  async function reset(ctx: RequestContext): Promise<void> {
    const { grant, owner } = authenticate(ctx, rpc('ResetAuthorization'));
    parseEmpty(await readJsonObject(ctx.req));
    jobs.reset(owner);
    oauth.revokeAccount(grant.clientId, grant.user);
    sendJson(ctx.res, 200, {});
  }

  async function check(ctx: RequestContext): Promise<void> {
    const { grant } = authenticate(ctx, rpc('CheckAccessType'));
    parseEmpty(await readJsonObject(ctx.req));
    const oneTime = grant.groups.filter((g) => grant.access[g] === 'ONE_TIME').sort();
    const timeBased = grant.groups.filter((g) => grant.access[g] === 'TIME_BASED').sort();
    sendJson(ctx.res, 200, {
      ...(oneTime.length > 0 ? { oneTimeResources: oneTime } : {}),
      ...(timeBased.length > 0 ? { timeBasedResources: timeBased } : {}),
    });
  }

  const v = '\\/v1(?:beta)?';
  return {
    name: 'portability',
    routes: [
      { methods: ['POST'], path: new RegExp(`^${v}\\/portabilityArchive:initiate$`), style: 'google', handle: initiate },
      { methods: ['GET'], path: new RegExp(`^${v}\\/archiveJobs\\/([^/]*)\\/portabilityArchiveState$`), style: 'google', handle: state },
      { methods: ['POST'], path: new RegExp(`^${v}\\/archiveJobs\\/([^/]*):retry$`), style: 'google', handle: retry },
      { methods: ['POST'], path: new RegExp(`^${v}\\/archiveJobs\\/([^/]*):cancel$`), style: 'google', handle: cancel },
      { methods: ['POST'], path: new RegExp(`^${v}\\/authorization:reset$`), style: 'google', handle: reset },
      { methods: ['POST'], path: new RegExp(`^${v}\\/accessType:check$`), style: 'google', handle: check },
    ],
  };
}
