import { AppError } from '../../functions/core/errors.js';
import {
  decodePageToken,
  encodePageToken,
  type Decision,
  type DueQuery,
  type ListQuery,
  type Page,
  type RecordStore,
  type UpdateOptions,
} from '../../functions/core/ports/record-store.js';

/**
 * In-memory RecordStore for fast unit tests. Stores copies (as Firestore does), drops undefined
 * fields (as the Firestore adapter does), and passes the same contract suite as the adapter.
 */
export class MemoryRecordStore<T> implements RecordStore<T> {
  private readonly records = new Map<string, T>();
  /** The stored object behind each value handed out (every write stores a new one): `basis` versions. */
  private readonly versions = new WeakMap<object, { id: string; stored: T }>();
  /** How many updates ran `mutate` on a basis without reading; tests use it to see the basis taken. */
  basisHits = 0;
  /** How many times `mutate` ran; tests use it to check that mutations stay pure. */
  mutateCalls = 0;

  async get(id: string): Promise<T | undefined> {
    const value = this.records.get(id);
    return value === undefined ? undefined : this.handOut(id, value);
  }

  async create(id: string, value: T): Promise<void> {
    if (this.records.has(id)) throw new AppError('ALREADY_EXISTS', `${id} already exists`);
    this.records.set(id, copy(value));
  }

  async update<R>(id: string, mutate: (current: T | undefined) => Decision<T, R>, options?: UpdateOptions<T>): Promise<R> {
    const given = options?.basis;
    const known = typeof given === 'object' && given !== null ? this.versions.get(given) : undefined;
    let basis = known?.id === id ? { value: given as T, stored: known.stored } : undefined;
    for (;;) {
      this.mutateCalls += 1;
      // As the Firestore adapter: a known basis is used as it is, else the record is read.
      const current = basis ? basis.stored : this.records.get(id);
      const decision = mutate(basis ? basis.value : current === undefined ? undefined : copy(current));
      if (basis && this.records.get(id) === basis.stored) this.basisHits += 1;
      basis = undefined;
      // Compare-and-set like the Firestore adapter: a write that came in between (every write
      // stores a new object) sends it back to read again.
      if (this.records.get(id) !== current) continue;
      if (decision.kind === 'put') {
        const stored = copy(decision.value);
        this.records.set(id, stored);
        this.remember(id, decision.value, stored);
      } else if (decision.kind === 'delete') this.records.delete(id);
      return decision.result;
    }
  }

  async delete(id: string): Promise<void> {
    this.records.delete(id);
  }

  async list(query: ListQuery): Promise<Page<T>> {
    const after = query.pageToken === undefined ? undefined : decodePageToken(query.pageToken);
    const matching = [...this.records.entries()]
      .filter(([id]) => after === undefined || id > after)
      .filter(([, value]) => Object.entries(query.where ?? {}).every(([field, expected]) => (value as Record<string, unknown>)[field] === expected))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const items = matching.slice(0, query.pageSize).map(([id, value]) => ({ id, value: this.handOut(id, value) }));
    const last = items.at(-1);
    return matching.length > query.pageSize && last ? { items, nextPageToken: encodePageToken(last.id) } : { items };
  }

  async listDue(query: DueQuery): Promise<readonly { id: string; value: T }[]> {
    const at = (value: T) => (value as Record<string, unknown>)[query.field];
    return [...this.records.entries()]
      .filter(([, value]) => {
        const when = at(value);
        return when instanceof Date && when.getTime() <= query.before.getTime();
      })
      .filter(([, value]) => Object.entries(query.where ?? {}).every(([f, v]) => (value as Record<string, unknown>)[f] === v))
      .sort(([ia, a], [ib, b]) => (at(a) as Date).getTime() - (at(b) as Date).getTime() || (ia < ib ? -1 : ia > ib ? 1 : 0))
      .filter(([id, value]) => {
        const from = query.startAfter;
        if (!from) return true;
        const t = (at(value) as Date).getTime();
        return t > from.at.getTime() || (t === from.at.getTime() && id > from.id);
      })
      .slice(0, query.limit)
      .map(([id, value]) => ({ id, value: this.handOut(id, value) }));
  }

  private handOut(id: string, stored: T): T {
    const value = copy(stored);
    this.remember(id, value, stored);
    return value;
  }

  private remember(id: string, value: T, stored: T): void {
    if (typeof value === 'object' && value !== null) this.versions.set(value, { id, stored });
  }

  /** Every record, for assertions. */
  all(): { id: string; value: T }[] {
    return [...this.records.entries()].map(([id, value]) => ({ id, value: copy(value) }));
  }

  size(): number {
    return this.records.size;
  }
}

function copy<T>(value: T): T {
  return dropUndefined(structuredClone(value)) as T;
}

function dropUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropUndefined);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, dropUndefined(v)]),
    );
  }
  return value;
}
