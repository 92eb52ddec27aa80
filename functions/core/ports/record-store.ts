import { invalidArgument, isAppError } from '../errors.js';

/**
 * A collection of records of one kind, keyed by id, with atomic read-modify-write.
 *
 * Contract:
 * - `update(id, mutate)` runs `mutate` on the current record (or `undefined`) and applies the
 *   decision atomically. `mutate` must be pure: under contention it may run several times, so it
 *   performs no side effect; side effects happen after `update` resolves, keyed by its result.
 *   An error thrown by `mutate` aborts the update and is rethrown unchanged.
 * - `update(id, mutate, { basis })`: `basis` is a record value this store handed out moments ago
 *   (from `get`, `list`, `listDue`, or the value an `update` put). If the record has not changed
 *   since, `mutate` runs on it and the write needs no read first; if it has, or the store does not
 *   know the value, the update reads the record as usual (a decision to keep, which writes
 *   nothing to check the basis by, may be made again on a read). Same outcome either way.
 * - `create` fails with AppError `ALREADY_EXISTS` if the id exists.
 * - `list` pages through records whose fields equal the given values, in id order. `pageToken`
 *   is opaque; an invalid one fails with AppError `INVALID_ARGUMENT` naming `pageToken`.
 * - Record values are plain data: strings, numbers, booleans, null, Dates, arrays and objects.
 * - Transient storage failures reject with a retryable AppError.
 */
export interface RecordStore<T> {
  get(id: string): Promise<T | undefined>;
  create(id: string, value: T): Promise<void>;
  update<R>(id: string, mutate: (current: T | undefined) => Decision<T, R>, options?: UpdateOptions<T>): Promise<R>;
  delete(id: string): Promise<void>;
  list(query: ListQuery): Promise<Page<T>>;
  /**
   * Records matching `where` whose Date field `field` is at or before `before`, oldest first (ties
   * in id order); with `startAfter`, only those after that (field value, id) position: a cursor
   * to page through a due set that does not shrink as it is handled.
   */
  listDue(query: DueQuery): Promise<readonly { readonly id: string; readonly value: T }[]>;
}

/** Creates the record unless it exists: true when this call created it. */
export async function createIfAbsent<T>(store: Pick<RecordStore<T>, 'create'>, id: string, value: T): Promise<boolean> {
  try {
    await store.create(id, value);
    return true;
  } catch (error) {
    if (isAppError(error) && error.code === 'ALREADY_EXISTS') return false;
    throw error;
  }
}

export interface UpdateOptions<T> {
  /** A value of this record that the store handed out moments ago (see the contract). */
  readonly basis?: T | undefined;
}

export interface DueQuery {
  readonly where?: Readonly<Record<string, FieldValue>>;
  readonly field: string;
  readonly before: Date;
  readonly limit: number;
  readonly startAfter?: { readonly at: Date; readonly id: string };
}

export type Decision<T, R> =
  { readonly kind: 'put'; readonly value: T; readonly result: R } | { readonly kind: 'delete'; readonly result: R } | { readonly kind: 'keep'; readonly result: R };

export const put = <T, R>(value: T, result: R): Decision<T, R> => ({ kind: 'put', value, result });
export const remove = <T, R>(result: R): Decision<T, R> => ({ kind: 'delete', result });
export const keep = <T, R>(result: R): Decision<T, R> => ({ kind: 'keep', result });

export type FieldValue = string | number | boolean;

export interface ListQuery {
  readonly where?: Readonly<Record<string, FieldValue>>;
  readonly pageSize: number;
  readonly pageToken?: string;
}

export interface Page<T> {
  readonly items: readonly { readonly id: string; readonly value: T }[];
  /** Absent on the last page. */
  readonly nextPageToken?: string;
}

/** Page tokens are the last id of the page, base64url-encoded; shared by every implementation. */
export function encodePageToken(lastId: string): string {
  return Buffer.from(`p1:${lastId}`, 'utf8').toString('base64url');
}

export function decodePageToken(token: string): string {
  const text = /^[A-Za-z0-9_-]{1,2000}$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
  const id = text.slice(3);
  if (!text.startsWith('p1:') || !isRecordId(id)) {
    throw invalidArgument([{ field: 'pageToken', description: 'is not a page token returned by this API' }]);
  }
  return id;
}

/** An id every store accepts (Firestore's document-id rules): no slash, not . or .., not __x__, ≤ 1500 bytes. */
export function isRecordId(id: string): boolean {
  return id.length > 0 && Buffer.byteLength(id, 'utf8') <= 1500 && !id.includes('/') && id !== '.' && id !== '..' && !/^__.*__$/.test(id) && !/[\u0000-\u001f]/.test(id);
}
