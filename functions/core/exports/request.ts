import { requestBundle } from '../bundles/trigger.js';
import { consentName, type Consent } from '../consent/model.js';
import { AppError, invalidArgument, type FieldViolation } from '../errors.js';
import { createIfAbsent } from '../ports/record-store.js';
import type { BundleFormat } from '../ports/bundle-packer.js';
import type { ExportDeps } from './deps.js';
import { takeLane } from './manage.js';
import { jobId, jobName, newJob, type ExportJob } from './model.js';
import { assertNameFits, consentPrefix, tenantPrefix } from './naming.js';
import { jobResource } from './views.js';
import { tenantName, type Tenant } from '../tenants/model.js';

export interface ExportRequest {
  readonly consentId: string;
  /** Defaults to every granted group. */
  readonly resources?: readonly string[];
  readonly startTime?: Date;
  /** Per resource group, a start time that replaces `startTime` (incremental scheduled exports). */
  readonly startTimes?: Readonly<Record<string, Date>>;
  readonly endTime?: Date;
  /** What makes this request distinct: a client's request id, a schedule time, `connect`… */
  readonly slot: string;
  /** Also pack every delivered file of these jobs into one archive once they have all ended. */
  readonly bundle?: BundleFormat;
}

/**
 * The slot of an API request: the client's request id when it gives one; otherwise the day and
 * the time window, so identical requests on the same day find the same jobs.
 */
export function apiSlot(now: Date, request: { requestId?: string; startTime?: Date; endTime?: Date }): string {
  if (request.requestId) return `request:${request.requestId}`;
  return `day:${now.toISOString().slice(0, 10)}:${request.startTime?.toISOString() ?? ''}/${request.endTime?.toISOString() ?? ''}`;
}

/**
 * Turns a request into one job per resource group (deterministic ids: the same request finds the
 * same jobs) and asks `initiate` to start each. Only granted groups of an ACTIVE consent, and at
 * most one running export per group: while one runs, a request with another slot gets the
 * running one back instead of a second job racing it for the same upstream job and objects.
 */
export async function requestExports(deps: ExportDeps, request: ExportRequest, known?: Consent) {
  // `known`: the consent as the caller just read it (the exports tick lists it), not read again.
  const consent = known ?? (await deps.consents.get(request.consentId));
  if (!consent) throw new AppError('NOT_FOUND', `${consentName(request.consentId)} not found`, { violations: [{ field: 'consent', description: 'does not exist' }] });
  if (consent.status !== 'ACTIVE') {
    throw new AppError('FAILED_PRECONDITION', `${consentName(request.consentId)} is ${consent.status}`, { reason: `CONSENT_${consent.status}` });
  }
  const now = deps.clock.now();
  const resources = validateResources(consent, request, now);
  return openJobs(deps, {
    grant: { consentId: request.consentId, appUserId: consent.appUserId, ...(consent.source ? { source: consent.source } : {}) },
    units: resources.map((resource) => ({ resource, startTime: request.startTimes?.[resource] ?? request.startTime ?? null })),
    endTime: request.endTime ?? null,
    slot: request.slot,
    bundle: request.bundle,
    subject: consentName(request.consentId),
    folder: consentPrefix(deps.settings.objectPrefix, consent.appUserId, request.consentId),
  });
}

export interface TenantExportRequest {
  readonly tenantId: string;
  /** The source's units to export (Mews: entity types); each becomes one job. */
  readonly entityTypes: readonly string[];
  /** What makes this request distinct (see `apiSlot`). */
  readonly slot: string;
  readonly bundle?: BundleFormat;
}

/**
 * A tenant's export request: one job per entity type, on the tenant's source, with the same
 * deterministic ids and lanes as a consent's (one running export per tenant and entity type). The
 * tenant must be ACTIVE; the entity types must be ones its source exports (the list comes with the
 * source's binding, so nothing here knows a particular source). Objects go under the tenant's
 * folder, `{prefix}/tenants/{tenantId}/`.
 */
export async function requestTenantExports(deps: ExportDeps, request: TenantExportRequest, listed?: Tenant) {
  // `listed`: the tenant as the caller just read it (the exports tick lists it), not read again.
  const tenant = listed ?? (await deps.tenants.get(request.tenantId));
  if (!tenant) throw new AppError('NOT_FOUND', `${tenantName(request.tenantId)} not found`, { violations: [{ field: 'tenant', description: 'does not exist' }] });
  if (tenant.status !== 'ACTIVE') {
    throw new AppError('FAILED_PRECONDITION', `${tenantName(request.tenantId)} is ${tenant.status}`, { reason: `TENANT_${tenant.status}` });
  }
  const known = new Set(deps.upstream.units(tenant.source));
  const violations: FieldViolation[] = [];
  if (request.entityTypes.length === 0) violations.push({ field: 'entityTypes', description: 'must name at least one entity type' });
  request.entityTypes.forEach((t, i) => {
    if (!known.has(t)) violations.push({ field: `entityTypes[${i}]`, description: `${JSON.stringify(t)} is not an entity type this tenant's source exports` });
  });
  if (violations.length > 0) throw invalidArgument(violations);
  const units = [...new Set(request.entityTypes)];
  return openJobs(deps, {
    grant: { consentId: request.tenantId, grantKind: 'tenant', appUserId: '', source: tenant.source },
    units: units.map((resource) => ({ resource, startTime: null })),
    endTime: null,
    slot: request.slot,
    bundle: request.bundle,
    subject: tenantName(request.tenantId),
    folder: tenantPrefix(deps.settings.objectPrefix, request.tenantId),
  });
}

interface JobsToOpen {
  /** The fields every job of the request shares: its grant (id, kind, source) and app user. */
  readonly grant: Pick<ExportJob, 'consentId' | 'grantKind' | 'appUserId' | 'source'>;
  readonly units: readonly { readonly resource: string; readonly startTime: Date | null }[];
  readonly endTime: Date | null;
  readonly slot: string;
  readonly bundle: BundleFormat | undefined;
  /** The grant's name and folder, for the bundle. */
  readonly subject: string;
  readonly folder: string;
}

/** The jobs of one request, created once (deterministic ids, one lane per grant and unit) and asked to start. */
async function openJobs(deps: ExportDeps, request: JobsToOpen) {
  const { grant } = request;
  for (const { resource } of request.units) assertNameFits(deps.settings.objectPrefix, { ...grant, resource });
  const jobs: { id: string; job: ExportJob; created: boolean }[] = [];
  for (const { resource, startTime } of request.units) {
    const id = jobId(grant.consentId, resource, request.slot);
    // The lane first (no read of the job: a slot asked for again finds its job when the create
    // below loses); only when another job holds the lane is this slot's own job looked up.
    const running = await takeLane(deps, grant.consentId, resource, id);
    if (running) {
      const same = await deps.jobs.get(id);
      jobs.push(same ? { id, job: same, created: false } : { ...running, created: false });
      continue;
    }
    const fresh = newJob({ ...grant, resource, slot: request.slot, startTime, endTime: request.endTime }, deps.clock.now());
    // Create-only (one write, no read); a concurrent request with the same slot created it first.
    const created = await createIfAbsent(deps.jobs, id, fresh);
    const job = created ? fresh : await deps.jobs.get(id);
    if (!job) throw new AppError('ABORTED', `${jobName(id)} was deleted while it was being requested; try again`);
    jobs.push({ id, job, created });
  }
  for (const { id, created, job } of jobs) {
    if (created || job.state === 'PENDING') await deps.queue.publish('export-requested', { job: id });
  }
  const exports = jobs.map(({ id, job }) => jobResource(id, job));
  if (!request.bundle) return { exports };
  const bundle = await requestBundle(deps, {
    format: request.bundle,
    subject: request.subject,
    appUserId: grant.appUserId,
    folder: request.folder,
    jobs: jobs.map(({ id }) => id),
  });
  return { exports, bundle };
}

function validateResources(consent: Consent, request: ExportRequest, now: Date): string[] {
  const granted = new Set<string>(consent.groups.map((g) => g.resource));
  const violations: FieldViolation[] = [];
  const asked = request.resources ?? [...granted];
  asked.forEach((r, i) => {
    if (!granted.has(r)) violations.push({ field: `resources[${i}]`, description: `${JSON.stringify(r)} is not granted by this consent` });
  });
  if (asked.length === 0) violations.push({ field: 'resources', description: 'must name at least one resource group' });
  // Nothing after now has been exported yet: a window that reaches into the future is an error, not an empty export.
  if (request.endTime && request.endTime.getTime() > now.getTime()) violations.push({ field: 'endTime', description: `must not be in the future (now is ${now.toISOString()})` });
  if (request.startTime && request.endTime && request.startTime.getTime() >= request.endTime.getTime()) {
    violations.push({ field: 'startTime', description: 'must be before endTime' });
  } else if (request.startTime && request.startTime.getTime() >= now.getTime()) {
    violations.push({ field: 'startTime', description: `must be in the past (now is ${now.toISOString()})` });
  }
  if (violations.length > 0) throw invalidArgument(violations);
  return [...new Set(asked)];
}
