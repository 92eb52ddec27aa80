// Mews enterprises (tenants) and their exports: token checks, the one-running-export-per-entity-
// type rule, and the status of an export as a function of the sandbox clock.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../lib/clock.js';
import { MewsError } from '../lib/errors.js';
import type { FaultInjector } from '../lib/faults.js';
import type { MewsExportOutcome, MewsExportRecord, MewsTenantRecord } from '../lib/state.js';
import type { StateStore } from '../lib/store.js';
import { fileSizes, isMewsEntityType } from './content.js';
import type { MewsEntityType } from './content.js';

export type MewsExportStatus = 'Pending' | 'Processing' | 'Success' | 'Failed' | 'Expired';

/** `ExportIds` of one `exports/getAll` call at most. */
export const MAX_EXPORT_IDS = 1000;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class MewsService {
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
    private readonly faults: FaultInjector,
  ) {}

  private get state() {
    return this.store.state;
  }

  /** Registers (or updates) the enterprise reached by `accessToken`; its id stays the same on re-registration. */
  registerTenant(input: { clientToken: string; accessToken: string; enterpriseName?: string; exportsEnabled?: boolean }): MewsTenantRecord {
    const existing = Object.values(this.state.mewsTenants).find((t) => t.accessToken === input.accessToken);
    const tenant: MewsTenantRecord = existing ?? {
      enterpriseId: randomUUID(),
      enterpriseName: '',
      clientToken: input.clientToken,
      accessToken: input.accessToken,
      exportsEnabled: true,
      createdAt: this.clock.now(),
    };
    tenant.clientToken = input.clientToken;
    tenant.enterpriseName = input.enterpriseName ?? (tenant.enterpriseName || `Sandbox Hotel ${tenant.enterpriseId.slice(0, 8)}`);
    tenant.exportsEnabled = input.exportsEnabled ?? tenant.exportsEnabled;
    this.state.mewsTenants[tenant.enterpriseId] = tenant;
    this.store.changed();
    return tenant;
  }

  tenants(): MewsTenantRecord[] {
    return Object.values(this.state.mewsTenants);
  }

  /** Forgets an enterprise: its tokens answer 401 from now on (its exports stay, unreachable). */
  removeTenant(enterpriseId: string): boolean {
    if (!Object.hasOwn(this.state.mewsTenants, enterpriseId)) return false;
    delete this.state.mewsTenants[enterpriseId];
    this.store.changed();
    return true;
  }

  /**
   * Mews's checks on every Connector API call: ClientToken, then AccessToken (401 each), then
   * Client (400), then whether the export feature is enabled for the enterprise (403).
   */
  authenticate(body: Record<string, unknown>): MewsTenantRecord {
    const { ClientToken: clientToken, AccessToken: accessToken, Client: client } = body;
    const tenants = Object.values(this.state.mewsTenants);
    if (typeof clientToken !== 'string' || !tenants.some((t) => t.clientToken === clientToken)) throw new MewsError(401, 'Invalid ClientToken.');
    const tenant = tenants.find((t) => t.accessToken === accessToken && t.clientToken === clientToken);
    if (typeof accessToken !== 'string' || !tenant) throw new MewsError(401, 'Invalid AccessToken.');
    if (typeof client !== 'string' || client.trim() === '') throw new MewsError(400, 'Invalid Client.');
    if (!tenant.exportsEnabled) throw new MewsError(403, 'The export feature is not enabled for this enterprise (restricted beta feature; contact support).');
    return tenant;
  }

  status(exp: MewsExportRecord): MewsExportStatus {
    const now = this.clock.now();
    if (now < exp.processingAt) return 'Pending';
    if (now < exp.completeAt) return 'Processing';
    if (exp.outcome === 'Failed') return 'Failed';
    if (exp.outcome === 'Expired' || now >= exp.expiresAt) return 'Expired';
    return 'Success';
  }

  /** File sizes of an export (the files exist only while it reads `Success`). */
  fileSizes(exp: MewsExportRecord): number[] {
    return fileSizes(exp.bytes, exp.filePartBytes);
  }

  /**
   * `exports/add`: refused (400, with the blocking export's id as `ExportId`) while an export of
   * the same entity type is Pending or Processing for this enterprise. An `exportStatus` fault rule
   * matching `path` and the entity type decides that the new export ends Failed or Expired.
   */
  add(tenant: MewsTenantRecord, entityType: unknown, path: string): { exp: MewsExportRecord; fault?: string } {
    if (!isMewsEntityType(entityType)) throw new MewsError(400, 'Invalid EntityType.');
    const running = Object.values(this.state.mewsExports).find((e) => e.enterpriseId === tenant.enterpriseId && e.entityType === entityType && this.isRunning(e));
    if (running) {
      const status = this.status(running);
      throw new MewsError(400, `An export of entity type ${entityType} with status ${status} already exists.`, { ExportId: running.id });
    }
    const forced = this.faults.takeExportStatus(path, entityType);
    const exp = this.create(tenant.enterpriseId, entityType, forced?.status ?? 'Success', this.clock.now());
    return forced ? { exp, fault: forced.text } : { exp };
  }

  private isRunning(exp: MewsExportRecord): boolean {
    const status = this.status(exp);
    return status === 'Pending' || status === 'Processing';
  }

  private create(enterpriseId: string, entityType: MewsEntityType, outcome: MewsExportOutcome, start: number): MewsExportRecord {
    const cfg = this.state.config;
    const processingAt = start + cfg.mewsPendingSeconds * 1000;
    const completeAt = processingAt + cfg.mewsProcessingSeconds * 1000;
    const exp: MewsExportRecord = {
      id: randomUUID(),
      enterpriseId,
      entityType,
      createdAt: start,
      processingAt,
      completeAt,
      outcome,
      expiresAt: outcome === 'Expired' ? completeAt : completeAt + cfg.mewsExportRetentionSeconds * 1000,
      bytes: cfg.mewsExportBytesByEntityType[entityType] ?? cfg.mewsExportBytes,
      filePartBytes: cfg.mewsFilePartBytes,
    };
    this.state.mewsExports[exp.id] = exp;
    this.store.changed();
    return exp;
  }

  /**
   * `exports/getAll`: the exports of this enterprise among `ids`, in the order asked, each once.
   * Ids of other enterprises' exports or unknown ids are left out (Mews's getAll filters).
   */
  getAll(tenant: MewsTenantRecord, ids: unknown): MewsExportRecord[] {
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string' && GUID.test(id))) throw new MewsError(400, 'Invalid ExportIds.');
    if (ids.length > MAX_EXPORT_IDS) throw new MewsError(400, `Invalid ExportIds: at most ${MAX_EXPORT_IDS} items are allowed, ${ids.length} were given.`);
    const out: MewsExportRecord[] = [];
    for (const id of new Set((ids as string[]).map((i) => i.toLowerCase()))) {
      const exp = this.find(id);
      if (exp && exp.enterpriseId === tenant.enterpriseId) out.push(exp);
    }
    return out;
  }

  find(id: string): MewsExportRecord | undefined {
    return Object.hasOwn(this.state.mewsExports, id) ? this.state.mewsExports[id] : undefined;
  }

  /** Ends an export now (control API): `Success`, `Failed` or `Expired`. Contradicting an end already reached → 400. */
  force(id: string, target: 'Success' | 'Failed' | 'Expired'): MewsExportRecord {
    const exp = this.find(id);
    if (!exp) throw new MewsError(404, `Export ${id} not found.`);
    const status = this.status(exp);
    const now = this.clock.now();
    if (status === target) return exp;
    const running = status === 'Pending' || status === 'Processing';
    if (running) {
      exp.processingAt = Math.min(exp.processingAt, now);
      exp.completeAt = now;
      exp.outcome = target;
      exp.expiresAt = target === 'Expired' ? now : now + this.state.config.mewsExportRetentionSeconds * 1000;
    } else if (status === 'Success' && target === 'Expired') {
      exp.expiresAt = now;
    } else {
      throw new MewsError(400, `Export ${id} is already ${status}.`);
    }
    this.store.changed();
    return exp;
  }

  /**
   * Creates `count` exports at once in the given status, bypassing the one-running-export rule
   * (control API, for load tests such as thousands of exports polled by getAll).
   */
  seed(enterpriseId: string, entityType: MewsEntityType, count: number, status: MewsExportStatus): MewsExportRecord[] {
    if (!Object.hasOwn(this.state.mewsTenants, enterpriseId)) throw new MewsError(404, `Enterprise ${enterpriseId} not found.`);
    const cfg = this.state.config;
    const now = this.clock.now();
    const shift = status === 'Pending' ? 0 : status === 'Processing' ? cfg.mewsPendingSeconds * 1000 : (cfg.mewsPendingSeconds + cfg.mewsProcessingSeconds) * 1000;
    const outcome: MewsExportOutcome = status === 'Failed' ? 'Failed' : status === 'Expired' ? 'Expired' : 'Success';
    return Array.from({ length: count }, () => this.create(enterpriseId, entityType, outcome, now - shift));
  }
}
