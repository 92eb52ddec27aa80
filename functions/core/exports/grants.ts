import { transfersContinue } from '../consent/model.js';
import type { ExportDeps } from './deps.js';
import { grantKindOf, type ExportJob, type GrantKind } from './model.js';

/**
 * A job's grant as the workers need it, whichever kind it is: its status, whether copies of files
 * already handed to the transfer may go on, and whether a job whose files are all in may be
 * delivered. A consent: copies go on while ACTIVE or EXPIRED (the signed URLs need no token), and
 * a consent CLOSED by the release after the last job still delivers. A tenant: only while ACTIVE
 * (a tenant parked or deleted stops everything; a deleted tenant's objects must not appear later).
 */
export interface JobGrant {
  readonly kind: GrantKind;
  readonly status: string;
  readonly transfers: boolean;
  readonly delivers: boolean;
}

/** The grant of `job` as it is now, or null when its record is gone. */
export async function readJobGrant(deps: Pick<ExportDeps, 'consents' | 'tenants'>, job: Pick<ExportJob, 'grantKind' | 'consentId'>): Promise<JobGrant | null> {
  if (grantKindOf(job) === 'tenant') {
    const tenant = await deps.tenants.get(job.consentId);
    if (!tenant) return null;
    const active = tenant.status === 'ACTIVE';
    return { kind: 'tenant', status: tenant.status, transfers: active, delivers: active };
  }
  const consent = await deps.consents.get(job.consentId);
  if (!consent) return null;
  const transfers = transfersContinue(consent);
  return { kind: 'consent', status: consent.status, transfers, delivers: transfers || consent.status === 'CLOSED' };
}

/** Why a job stopped because of its grant, for its `detail`: "consent is REVOKED", "tenant is gone". */
export function grantStopped(job: Pick<ExportJob, 'grantKind'>, grant: JobGrant | null): string {
  return `${grantKindOf(job)} is ${grant?.status ?? 'gone'}`;
}

/** The reason of the error a worker raises when the grant stops a copy (`CONSENT_*`, a tenant's `CONSENT_TENANT_*`). */
export function grantStoppedReason(job: Pick<ExportJob, 'grantKind'>, grant: JobGrant | null): string {
  return `CONSENT_${grantKindOf(job) === 'tenant' ? 'TENANT_' : ''}${grant?.status ?? 'GONE'}`;
}
