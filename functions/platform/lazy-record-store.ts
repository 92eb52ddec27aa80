import type { DueQuery, Decision, ListQuery, Page, RecordStore, UpdateOptions } from '../core/ports/record-store.js';

/**
 * A record store built on its first call: the Firestore client library (about 30 MB and most of a
 * cold start) is loaded when a request first reads or writes a record, not when the function
 * starts (a health check, a refused request never load it).
 */
export class LazyRecordStore<T> implements RecordStore<T> {
  private store: Promise<RecordStore<T>> | undefined;

  constructor(private readonly build: () => Promise<RecordStore<T>>) {}

  private real(): Promise<RecordStore<T>> {
    this.store ??= this.build().catch((error: unknown) => {
      this.store = undefined; // a failed load is tried again by the next call
      throw error;
    });
    return this.store;
  }

  async get(id: string): Promise<T | undefined> {
    return (await this.real()).get(id);
  }

  async create(id: string, value: T): Promise<void> {
    return (await this.real()).create(id, value);
  }

  async update<R>(id: string, mutate: (current: T | undefined) => Decision<T, R>, options?: UpdateOptions<T>): Promise<R> {
    return (await this.real()).update(id, mutate, options);
  }

  async delete(id: string): Promise<void> {
    return (await this.real()).delete(id);
  }

  async list(query: ListQuery): Promise<Page<T>> {
    return (await this.real()).list(query);
  }

  async listDue(query: DueQuery): Promise<readonly { readonly id: string; readonly value: T }[]> {
    return (await this.real()).listDue(query);
  }
}
