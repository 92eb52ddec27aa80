import { FieldPath, FieldValue, Timestamp, type DocumentData, type DocumentSnapshot, type Firestore } from '@google-cloud/firestore';
import { AppError } from '../core/errors.js';
import { decodePageToken, encodePageToken, type Decision, type DueQuery, type ListQuery, type Page, type RecordStore, type UpdateOptions } from '../core/ports/record-store.js';
import { fromGrpcError } from './grpc-errors.js';

/** Reads of one update before it gives up because the record keeps changing under it. */
const UPDATE_ATTEMPTS = 30;

/**
 * RecordStore on one Firestore collection. Documents hold the record's fields as they are; Dates
 * become Timestamps and come back as Dates. `update` runs the core's pure `mutate` on a fresh read
 * and writes the result only if the document is still as read (compare-and-set on its update
 * time; a create must find it absent), reading again when another writer came first. Unlike a
 * transaction this takes no lock: a writer that crashes mid-update holds nothing up, and writers
 * that collide retry at once instead of after the client's one-second transaction backoff.
 */
export class FirestoreRecordStore<T> implements RecordStore<T> {
  /** The document and update time behind each value handed out (for `update`'s `basis`). */
  private readonly versions = new WeakMap<object, { readonly id: string; readonly time: Timestamp }>();

  constructor(
    private readonly db: Firestore,
    private readonly collection: string,
  ) {}

  async get(id: string): Promise<T | undefined> {
    try {
      const snap = await this.ref(id).get();
      return snap.exists ? this.handOut(snap) : undefined;
    } catch (error) {
      throw fromGrpcError(error, `reading ${this.collection}`);
    }
  }

  async create(id: string, value: T): Promise<void> {
    try {
      await this.ref(id).create(value as DocumentData);
    } catch (error) {
      const mapped = fromGrpcError(error, `creating in ${this.collection}`);
      throw mapped.code === 'ALREADY_EXISTS' ? new AppError('ALREADY_EXISTS', `${this.collection}/${id} already exists`) : mapped;
    }
  }

  async update<R>(id: string, mutate: (current: T | undefined) => Decision<T, R>, options?: UpdateOptions<T>): Promise<R> {
    const ref = this.ref(id);
    const given = options?.basis;
    const known = typeof given === 'object' && given !== null ? this.versions.get(given) : undefined;
    // A basis this store handed out for this record: the first attempt writes without a read.
    let basis = known?.id === id ? { value: given as T, time: known.time } : undefined;
    for (let attempt = 1; ; attempt++) {
      let current: T | undefined;
      let time: Timestamp | undefined;
      const onBasis = basis !== undefined;
      if (basis) {
        ({ value: current, time } = basis);
        basis = undefined;
      } else {
        let snap: DocumentSnapshot;
        try {
          snap = await ref.get();
        } catch (error) {
          throw fromGrpcError(error, `reading ${this.collection}`);
        }
        current = snap.exists ? this.handOut(snap) : undefined;
        time = snap.exists ? snap.updateTime : undefined;
      }
      const decision = mutate(current);
      // A keep writes nothing, so nothing checks the basis: decide again on a read.
      if (decision.kind === 'keep') {
        if (onBasis) continue;
        return decision.result;
      }
      try {
        if (current === undefined || !time) {
          // Nothing to delete; a put creates, and loses to a concurrent create.
          if (decision.kind === 'put') this.remember(id, decision.value, (await ref.create(decision.value as DocumentData)).writeTime);
        } else if (decision.kind === 'delete') {
          await ref.delete({ lastUpdateTime: time });
        } else {
          const [first, ...rest] = replacement(current as DocumentData, decision.value as DocumentData);
          if (first) this.remember(id, decision.value, (await ref.update(first[0], first[1], ...rest.flat(), { lastUpdateTime: time })).writeTime);
        }
        return decision.result;
      } catch (error) {
        if (!lostRace(error)) throw fromGrpcError(error, `updating ${this.collection}`);
        if (attempt >= UPDATE_ATTEMPTS) throw new AppError('ABORTED', `${this.collection}/${id} kept changing under ${attempt} updates; try again`);
        // Someone else wrote it since our read: read again after a short, jittered pause (none
        // after a basis that was out of date).
        if (attempt > 1 || !known) await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(200, 5 * 2 ** attempt)));
      }
    }
  }

  async delete(id: string): Promise<void> {
    try {
      await this.ref(id).delete();
    } catch (error) {
      throw fromGrpcError(error, `deleting from ${this.collection}`);
    }
  }

  async list(query: ListQuery): Promise<Page<T>> {
    const after = query.pageToken === undefined ? undefined : decodePageToken(query.pageToken);
    let q = this.db.collection(this.collection).orderBy(FieldPath.documentId());
    for (const [field, value] of Object.entries(query.where ?? {})) q = q.where(field, '==', value);
    if (after !== undefined) q = q.startAfter(after);
    try {
      const snap = await q.limit(query.pageSize + 1).get();
      const docs = snap.docs.slice(0, query.pageSize);
      const items = docs.map((d) => ({ id: d.id, value: this.handOut(d) }));
      const last = docs.at(-1);
      return snap.docs.length > query.pageSize && last ? { items, nextPageToken: encodePageToken(last.id) } : { items };
    } catch (error) {
      throw fromGrpcError(error, `listing ${this.collection}`);
    }
  }

  async listDue(query: DueQuery): Promise<readonly { id: string; value: T }[]> {
    let q = this.db.collection(this.collection).where(query.field, '<=', query.before);
    for (const [field, value] of Object.entries(query.where ?? {})) q = q.where(field, '==', value);
    try {
      let ordered = q.orderBy(query.field).orderBy(FieldPath.documentId());
      if (query.startAfter) ordered = ordered.startAfter(query.startAfter.at, query.startAfter.id);
      const snap = await ordered.limit(query.limit).get();
      return snap.docs.map((d) => ({ id: d.id, value: this.handOut(d) }));
    } catch (error) {
      throw fromGrpcError(error, `listing due ${this.collection}`);
    }
  }

  private ref(id: string) {
    return this.db.collection(this.collection).doc(id);
  }

  /** The record of a snapshot, remembered with its update time. */
  private handOut(snap: DocumentSnapshot): T {
    const value = fromDocument<T>(snap.data() as DocumentData);
    if (snap.updateTime) this.remember(snap.id, value, snap.updateTime);
    return value;
  }

  private remember(id: string, value: T, time: Timestamp): void {
    if (typeof value === 'object' && value !== null) this.versions.set(value, { id, time });
  }
}

/** A write that lost to another writer: not as read, already created, or deleted meanwhile. */
function lostRace(error: unknown): boolean {
  return ['FAILED_PRECONDITION', 'ALREADY_EXISTS', 'NOT_FOUND'].includes(fromGrpcError(error, 'a write').code);
}

/**
 * The field/value pairs of an `update` that turns `before` into exactly `after`: every top-level
 * field of `after` (a map value replaces the whole map), and a delete for each field it no longer
 * has. Field names are paths of one segment, so a name with a dot stays one field.
 */
function replacement(before: DocumentData, after: DocumentData): [FieldPath, unknown][] {
  const pairs: [FieldPath, unknown][] = [];
  for (const [key, value] of Object.entries(after)) pairs.push([new FieldPath(key), value === undefined ? FieldValue.delete() : value]);
  for (const key of Object.keys(before)) if (!Object.hasOwn(after, key)) pairs.push([new FieldPath(key), FieldValue.delete()]);
  return pairs;
}

function fromDocument<T>(data: DocumentData): T {
  return convert(data) as T;
}

function convert(value: unknown): unknown {
  if (value instanceof Timestamp) return value.toDate();
  if (Array.isArray(value)) return value.map(convert);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v)]));
  }
  return value;
}
