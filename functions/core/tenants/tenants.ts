import { randomBytes } from 'node:crypto';
import type { AuditEntry } from '../consent/model.js';
import { AppError, invalidArgument, type FieldViolation } from '../errors.js';
import { abandonSessions, jobsOfConsent } from '../exports/finish.js';
import type { ExportDeps } from '../exports/deps.js';
import { endedJob, grantOf, isTerminalJob, jobId, type ExportJob } from '../exports/model.js';
import type { Clock } from '../ports/clock.js';
import type { SourceName } from '../ports/export-source.js';
import { keep, put, type RecordStore } from '../ports/record-store.js';
import type { TokenVault } from '../token-vault.js';
import { tenantName, tenantResource, tenantSecretId, type Tenant } from './model.js';
import { dueAtOf, newTenantSchedule, stoppedSchedule, type TenantScheduleInput } from './schedule.js';

export interface TenantSettings {
  /** Base URLs a tenant's platform address must be (or lie under); empty: no tenant can be registered. */
  readonly platformAllowlist: readonly string[];
  /** Production: platform addresses must be https. */
  readonly requireHttps: boolean;
}

export interface TenantDeps {
  readonly clock: Clock;
  readonly tenants: RecordStore<Tenant>;
  readonly audit: RecordStore<AuditEntry>;
  readonly vault: TokenVault;
  readonly settings: TenantSettings;
  /** The units (entity types) a tenant of a source exports: what a schedule may name. */
  readonly units: (source: SourceName) => readonly string[];
}

export interface NewTenant {
  readonly source: SourceName;
  readonly displayName: string;
  readonly platformAddress: string;
  readonly clientToken: string;
  readonly accessToken: string;
  /** Scheduled exports (see schedule.ts); absent: none. */
  readonly schedule?: TenantScheduleInput | undefined;
}

/**
 * Registers a tenant: its platform address must be allow-listed (and https in production); its
 * keys are sealed at once, bound to the new id, and never handed back. Audited (no secrets).
 */
export async function createTenant(deps: TenantDeps, input: NewTenant, actor: string) {
  const platformAddress = checkPlatformAddress(deps.settings, input.platformAddress);
  const schedule = input.schedule ? newTenantSchedule(deps, input.source, input.schedule) : null;
  const id = randomBytes(16).toString('hex');
  const now = deps.clock.now();
  const tokens = await deps.vault.seal(JSON.stringify({ clientToken: input.clientToken, accessToken: input.accessToken }), tenantSecretId(id));
  const tenant: Tenant = {
    source: input.source,
    displayName: input.displayName,
    platformAddress,
    tokens,
    status: 'ACTIVE',
    schedule,
    dueAt: dueAtOf('ACTIVE', schedule),
    createdAt: now,
    updatedAt: now,
  };
  await deps.tenants.create(id, tenant);
  await audit(deps, 'tenant.created', id, actor);
  return tenantResource(id, tenant);
}

export async function getTenant(deps: Pick<TenantDeps, 'tenants'>, id: string) {
  const tenant = await deps.tenants.get(id);
  if (!tenant) throw new AppError('NOT_FOUND', `${tenantName(id)} not found`);
  return tenantResource(id, tenant);
}

export async function listTenants(deps: Pick<TenantDeps, 'tenants'>, query: { pageSize: number; pageToken?: string }) {
  const page = await deps.tenants.list({ pageSize: query.pageSize, ...(query.pageToken ? { pageToken: query.pageToken } : {}) });
  return { tenants: page.items.map((i) => tenantResource(i.id, i.value)), ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) };
}

/**
 * Deletes a tenant: its running exports are cancelled upstream (best effort, while its keys still
 * work) and ended here, then its sealed keys are deleted (the record stays, DELETED, so late
 * workers see it is gone) and the deletion audited. Delivered exports stay in the bucket.
 * Deleting again is harmless.
 */
export async function deleteTenant(deps: { tenant: TenantDeps; exports: ExportDeps }, id: string, actor: string) {
  const tenant = await deps.tenant.tenants.get(id);
  if (!tenant) throw new AppError('NOT_FOUND', `${tenantName(id)} not found`);
  const jobs = await jobsOfConsent(deps.exports, id);
  for (const job of jobs.filter((j) => !isTerminalJob(j.state))) {
    if (job.state === 'IN_PROGRESS' && job.upstreamId) await deps.exports.upstream.cancel(grantOf(job), job.upstreamId).catch(() => undefined);
    const jid = jobId(job.consentId, job.resource, job.slot);
    const ended = await deps.exports.jobs.update(jid, (j) => {
      if (!j || isTerminalJob(j.state)) return keep(null);
      const next = endedJob(j, 'ABORTED', 'CONSENT_ENDED', 'tenant deleted', deps.exports.clock.now());
      return put<ExportJob, typeof next | null>(next.job, next);
    });
    if (ended) await abandonSessions(deps.exports, jid, ended.openSessions);
  }
  const now = deps.tenant.clock.now();
  const after = await deps.tenant.tenants.update(id, (t) => {
    if (!t) throw new AppError('NOT_FOUND', `${tenantName(id)} not found`);
    const deleted: Tenant = { ...t, status: 'DELETED', tokens: null, schedule: stoppedSchedule(t.schedule), dueAt: null, updatedAt: now };
    return t.status === 'DELETED' ? keep(t) : put(deleted, deleted);
  });
  await audit(deps.tenant, 'tenant.deleted', id, actor);
  return tenantResource(id, after);
}

async function audit(deps: Pick<TenantDeps, 'audit' | 'clock'>, action: 'tenant.created' | 'tenant.deleted', id: string, actor: string) {
  const entry: AuditEntry = { action, subject: tenantName(id), actor, at: deps.clock.now() };
  await deps.audit.update(`${action}~${id}`, (a) => (a ? keep(null) : put(entry, null)));
}

/** The platform address as a normalised base URL (no trailing slash), or INVALID_ARGUMENT naming `platformAddress`. */
export function checkPlatformAddress(settings: TenantSettings, value: string): string {
  const bad = (description: string): never => {
    const violation: FieldViolation = { field: 'platformAddress', description };
    throw invalidArgument([violation]);
  };
  const url = URL.canParse(value) ? new URL(value) : bad('must be a URL');
  if (url.protocol !== 'https:' && (settings.requireHttps || url.protocol !== 'http:')) bad(settings.requireHttps ? 'must be an https URL' : 'must be an http(s) URL');
  if (url.username || url.password || url.search || url.hash) bad('must not carry credentials, a query or a fragment');
  const base = url.href.replace(/\/+$/, '');
  const allowed = settings.platformAllowlist.some((entry) => base === entry || base.startsWith(`${entry}/`));
  if (!allowed) bad('is not on the allow-list of platform addresses');
  return base;
}
