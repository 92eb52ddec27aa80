import type { SourceName } from '../ports/export-source.js';
import type { SealedSecret } from '../token-vault.js';

/**
 * ACTIVE: exports may run. NEEDS_CREDENTIALS: upstream refused the tenant's tokens even when
 * read afresh (replaced or revoked there): exports stop until the tenant is registered again.
 * DELETED: removed by the application; its sealed tokens are gone.
 */
export const TENANT_STATUSES = ['ACTIVE', 'NEEDS_CREDENTIALS', 'DELETED'] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

/**
 * A tenant of a source whose exports are authorised by configured API keys rather than a user's
 * consent (Mews: an enterprise or portfolio). The keys are sealed together with the token vault,
 * bound to the tenant's id; they are never returned, logged or stored in plain text.
 */
export interface Tenant {
  readonly source: SourceName;
  readonly displayName: string;
  /** The source's base URL for this tenant (https and allow-listed). */
  readonly platformAddress: string;
  /** `{clientToken, accessToken}` as JSON, sealed; null once deleted. */
  readonly tokens: SealedSecret | null;
  readonly status: TenantStatus;
  /** Scheduled exports of the tenant (see tenants/schedule.ts); absent or null: none. */
  readonly schedule?: TenantSchedule | null;
  /** When the exports tick next requests the schedule's exports: `schedule.nextExportTime` unless paused or stopped. */
  readonly dueAt?: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** One export of each of `entityTypes` every `intervalHours`, the next at `nextExportTime`. */
export interface TenantSchedule {
  readonly entityTypes: readonly string[];
  readonly intervalHours: number;
  readonly paused: boolean;
  /** The next slot; null once the tenant is deleted. */
  readonly nextExportTime: Date | null;
  /** The slot the exports tick last requested; null before the first. */
  readonly lastRequestTime: Date | null;
}

export interface TenantKeys {
  readonly clientToken: string;
  readonly accessToken: string;
}

export const tenantName = (id: string) => `tenants/${id}`;
/** The record id the tenant's sealed keys are bound to (never a consent's). */
export const tenantSecretId = (id: string) => `tenant:${id}`;

/** The API representation of a tenant: never its keys, sealed or not. */
export function tenantResource(id: string, t: Tenant) {
  return {
    name: tenantName(id),
    source: t.source,
    displayName: t.displayName,
    platformAddress: t.platformAddress,
    state: t.status,
    ...(t.schedule ? { schedule: tenantScheduleResource(t.schedule) } : {}),
    createTime: t.createdAt.toISOString(),
    updateTime: t.updatedAt.toISOString(),
  };
}

/** The API representation of a tenant's schedule. */
export function tenantScheduleResource(s: TenantSchedule) {
  return {
    entityTypes: [...s.entityTypes],
    intervalHours: s.intervalHours,
    paused: s.paused,
    ...(s.nextExportTime ? { nextExportTime: s.nextExportTime.toISOString() } : {}),
    ...(s.lastRequestTime ? { lastRequestTime: s.lastRequestTime.toISOString() } : {}),
  };
}
