import { AppError } from '../errors.js';
import type { SourceCredential } from '../ports/export-source.js';
import { keep, put, type RecordStore } from '../ports/record-store.js';
import type { Clock } from '../ports/clock.js';
import type { CredentialPurpose, GrantCredentials } from '../sources/credentials.js';
import type { TokenVault } from '../token-vault.js';
import { tenantSecretId, type Tenant, type TenantKeys } from './model.js';

/**
 * The credentials of tenants: the tenant is read and must be ACTIVE on every call; its sealed
 * keys are opened (and kept in this instance's memory until upstream refuses them, so a call
 * does not unwrap a key each time). A refusal of freshly opened keys parks the tenant as
 * NEEDS_CREDENTIALS, once.
 */
export class TenantCredentials implements GrantCredentials {
  private readonly cache = new Map<string, TenantKeys>();

  constructor(private readonly deps: { readonly tenants: RecordStore<Tenant>; readonly vault: TokenVault; readonly clock: Clock }) {}

  async get(id: string, _purpose: CredentialPurpose): Promise<SourceCredential> {
    const tenant = await this.deps.tenants.get(id);
    if (!tenant || tenant.status !== 'ACTIVE' || !tenant.tokens) {
      const status = tenant?.status ?? 'GONE';
      throw new AppError('FAILED_PRECONDITION', `tenant is ${tenant?.status ?? 'gone'}`, { reason: `CONSENT_TENANT_${status}` });
    }
    let keys = this.cache.get(id);
    if (!keys) {
      keys = parseKeys(await this.deps.vault.open(tenant.tokens, tenantSecretId(id)));
      this.cache.set(id, keys);
    }
    return { kind: 'api_keys', platformAddress: tenant.platformAddress, clientToken: keys.clientToken, accessToken: keys.accessToken };
  }

  forget(id: string): void {
    this.cache.delete(id);
  }

  async refused(id: string): Promise<void> {
    this.cache.delete(id);
    const now = this.deps.clock.now();
    await this.deps.tenants.update(id, (t) => (t && t.status === 'ACTIVE' ? put({ ...t, status: 'NEEDS_CREDENTIALS' as const, updatedAt: now }, null) : keep(null)));
  }
}

function parseKeys(json: string): TenantKeys {
  const value: unknown = JSON.parse(json);
  const keys = value as Partial<TenantKeys>;
  if (typeof keys.clientToken !== 'string' || typeof keys.accessToken !== 'string') throw new AppError('INTERNAL', 'sealed tenant keys are malformed');
  return { clientToken: keys.clientToken, accessToken: keys.accessToken };
}
