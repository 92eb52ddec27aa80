import { FieldPath, Timestamp, type DocumentData, type Firestore } from '@google-cloud/firestore';
import { AppError } from '../core/errors.js';
import {
  decodePageToken,
  encodePageToken,
  type Decision,
  type DueQuery,
  type ListQuery,
  type Page,
  type RecordStore,
} from '../core/ports/record-store.js';
import { fromGrpcError } from './grpc-errors.js';

/**
 * RecordStore on one Firestore collection. Documents hold the record's fields as they are; Dates
 * become Timestamps and come back as Dates. `update` runs the core's pure `mutate` inside
 * `runTransaction` (which may call it several times under contention).
 */
export class FirestoreRecordStore<T> implements RecordStore<T> {
  constructor(
    private readonly db: Firestore,
    private readonly collection: string,
  ) {}

  async get(id: string): Promise<T | undefined> {
    try {
      const snap = await this.ref(id).get();
      return snap.exists ? fromDocument<T>(snap.data() as DocumentData) : undefined;
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

  async update<R>(id: string, mutate: (current: T | undefined) => Decision<T, R>): Promise<R> {
    const ref = this.ref(id);
    try {
      return await this.db.runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        const decision = mutate(snap.exists ? fromDocument<T>(snap.data() as DocumentData) : undefined);
        if (decision.kind === 'put') tx.set(ref, decision.value as DocumentData);
        else if (decision.kind === 'delete') tx.delete(ref);
        return decision.result;
      });
    } catch (error) {
      throw fromGrpcError(error, `updating ${this.collection}`);
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
      const items = docs.map((d) => ({ id: d.id, value: fromDocument<T>(d.data()) }));
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
      const snap = await q.orderBy(query.field).limit(query.limit).get();
      return snap.docs.map((d) => ({ id: d.id, value: fromDocument<T>(d.data()) }));
    } catch (error) {
      throw fromGrpcError(error, `listing due ${this.collection}`);
    }
  }

  private ref(id: string) {
    return this.db.collection(this.collection).doc(id);
  }
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
