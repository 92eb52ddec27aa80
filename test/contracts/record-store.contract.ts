import { describe, expect, it } from 'vitest';
import { AppError } from '../../functions/core/errors.js';
import { keep, put, remove, type Decision, type RecordStore } from '../../functions/core/ports/record-store.js';

interface Doc {
  readonly owner: string;
  readonly count: number;
  readonly at: Date;
  readonly tags: readonly string[];
  readonly nested?: { readonly flag: boolean; readonly when?: Date };
  readonly note?: string;
}

const doc = (owner: string, count = 0): Doc => ({ owner, count, at: new Date('2026-01-02T03:04:05.678Z'), tags: ['a', 'b'] });

/**
 * The RecordStore contract, run against every implementation (the in-memory fake and the
 * Firestore adapter on the emulator) so the fake stays honest.
 */
export function recordStoreContract(name: string, makeStore: () => RecordStore<Doc>): void {
  describe(`RecordStore contract: ${name}`, () => {
    it('returns undefined for a missing id and the stored value, with Dates, after create', async () => {
      const store = makeStore();
      expect(await store.get('missing')).toBeUndefined();
      const value = { ...doc('ann'), nested: { flag: true, when: new Date('2030-05-06T00:00:00Z') } };
      await store.create('r1', value);
      const got = await store.get('r1');
      expect(got).toEqual(value);
      expect(got?.at).toBeInstanceOf(Date);
      expect(got?.nested?.when).toBeInstanceOf(Date);
    });

    it('drops undefined fields instead of failing', async () => {
      const store = makeStore();
      await store.create('u1', { ...doc('ann'), note: undefined });
      const got = await store.get('u1');
      expect(got).toBeDefined();
      expect(Object.keys(got ?? {})).not.toContain('note');
    });

    it('refuses to create an id twice with ALREADY_EXISTS and keeps the first value', async () => {
      const store = makeStore();
      await store.create('r2', doc('ann', 1));
      const error = await store.create('r2', doc('bob', 2)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('ALREADY_EXISTS');
      expect((await store.get('r2'))?.owner).toBe('ann');
    });

    it('update puts, keeps and deletes, returning the decision result', async () => {
      const store = makeStore();
      expect(await store.update('r3', (cur) => put(doc('ann', cur ? 99 : 1), 'created'))).toBe('created');
      expect(await store.update('r3', (cur) => put({ ...cur!, count: cur!.count + 1 }, cur!.count + 1))).toBe(2);
      expect(await store.update('r3', (cur) => keep(cur?.count))).toBe(2);
      expect((await store.get('r3'))?.count).toBe(2);
      expect(await store.update('r3', () => remove('gone'))).toBe('gone');
      expect(await store.get('r3')).toBeUndefined();
    });

    it('an error thrown by mutate aborts the update unchanged and is rethrown as is', async () => {
      const store = makeStore();
      await store.create('r4', doc('ann', 5));
      const refusal = new AppError('FAILED_PRECONDITION', 'not allowed now');
      await expect(
        store.update('r4', () => {
          throw refusal;
        }),
      ).rejects.toBe(refusal);
      expect((await store.get('r4'))?.count).toBe(5);
    });

    it('concurrent updates of one record lose no increment', async () => {
      const store = makeStore();
      await store.create('r5', doc('ann', 0));
      await Promise.all(Array.from({ length: 10 }, () => store.update('r5', (cur) => put({ ...cur!, count: cur!.count + 1 }, null))));
      expect((await store.get('r5'))?.count).toBe(10);
    });

    it('an update replaces the whole record: fields left out, at the top or inside a map, are gone', async () => {
      const store = makeStore();
      await store.create('w1', { ...doc('ann', 1), note: 'first', nested: { flag: true, when: new Date('2030-01-01T00:00:00Z') } });
      await store.update('w1', (cur) => {
        const { note: _dropped, ...rest } = cur!;
        return put({ ...rest, count: 2, nested: { flag: false } }, null);
      });
      const got = await store.get('w1');
      expect(got).toEqual({ ...doc('ann', 2), nested: { flag: false } });
      expect(Object.keys(got ?? {})).not.toContain('note');
      await store.update('w1', (cur) => put({ ...cur!, note: undefined, tags: [] }, null));
      expect(await store.get('w1')).toEqual({ ...doc('ann', 2), tags: [], nested: { flag: false } });
    });

    it('concurrent updates of a missing record create it once and lose no increment', async () => {
      const store = makeStore();
      await Promise.all(Array.from({ length: 8 }, () => store.update('c1', (cur) => put(cur ? { ...cur, count: cur.count + 1 } : doc('ann', 1), null))));
      expect((await store.get('c1'))?.count).toBe(8);
    });

    it('an update racing a delete never brings the record back', async () => {
      const store = makeStore();
      await store.create('x1', doc('ann', 1));
      let deleting: Promise<void> | undefined;
      const seen: (number | undefined)[] = [];
      await store.update('x1', (cur) => {
        // The delete is sent between this read and its write: the write must not land on the gone record.
        deleting ??= store.delete('x1');
        seen.push(cur?.count);
        return cur ? put({ ...cur, count: cur.count + 1 }, null) : keep(null);
      });
      await deleting;
      expect(seen[0]).toBe(1);
      expect(await store.get('x1')).toBeUndefined();
    });

    it('an update on a basis writes what a read would have; a stale, foreign or unknown basis is read again', async () => {
      const store = makeStore();
      const inc = (cur: Doc | undefined): Decision<Doc, number> => (cur ? put({ ...cur, count: cur.count + 1 }, cur.count + 1) : keep(-1));
      await store.create('b1', doc('ann', 0));
      await store.create('b2', doc('bob', 100));
      const read = (await store.get('b1'))!;
      expect(await store.update('b1', inc, { basis: read })).toBe(1);
      // `read` is stale now: writing on it would lose the increment above.
      expect(await store.update('b1', inc, { basis: read })).toBe(2);
      // The value an update put is a basis too, and a basis from a list.
      const written = await store.update('b1', (cur) => put({ ...cur!, note: 'put' }, { ...cur!, note: 'put' }));
      expect(written.note).toBe('put');
      const listed = (await store.list({ where: { owner: 'ann' }, pageSize: 10 })).items[0]!.value;
      expect(await store.update('b1', inc, { basis: listed })).toBe(3);
      // Another record's value, or a value the store never handed out, is not a basis for b1.
      expect(await store.update('b1', inc, { basis: (await store.get('b2'))! })).toBe(4);
      expect(await store.update('b1', inc, { basis: doc('ann', 50) })).toBe(5);
      expect(await store.get('b1')).toEqual({ ...doc('ann', 5), note: 'put' });
      expect((await store.get('b2'))?.count).toBe(100);
      // A basis of a record deleted since does not bring it back.
      const before = (await store.get('b1'))!;
      await store.delete('b1');
      expect(await store.update('b1', inc, { basis: before })).toBe(-1);
      expect(await store.get('b1')).toBeUndefined();
    });

    it('a decision to keep, made on a basis that is out of date, is made again on the record as it is', async () => {
      const store = makeStore();
      await store.create('k1', doc('ann', 0));
      const stale = (await store.get('k1'))!;
      await store.update('k1', (cur) => put({ ...cur!, count: 1 }, null));
      // Only a record with count 1 is worth writing: the stale basis (count 0) says keep, the record says put.
      const bump = (cur: Doc | undefined): Decision<Doc, string> => (cur?.count === 1 ? put({ ...cur, count: 2 }, 'written') : keep('kept'));
      expect(await store.update('k1', bump, { basis: stale })).toBe('written');
      expect((await store.get('k1'))?.count).toBe(2);
    });

    it('lists by field equality in id order, page by page, and rejects a forged page token', async () => {
      const store = makeStore();
      for (let i = 0; i < 7; i++) await store.create(`p${i}`, doc(i % 2 === 0 ? 'even' : 'odd', i));
      const seen: string[] = [];
      let pageToken: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ where: { owner: 'even' }, pageSize: 2, ...(pageToken ? { pageToken } : {}) });
        seen.push(...page.items.map((i) => i.id));
        expect(page.items.every((i) => i.value.owner === 'even')).toBe(true);
        pageToken = page.nextPageToken;
        pages += 1;
      } while (pageToken && pages < 10);
      expect(seen).toEqual(['p0', 'p2', 'p4', 'p6']);
      expect(pages).toBe(2);
      const error = await store.list({ pageSize: 2, pageToken: 'not-a-token' }).catch((e: unknown) => e);
      expect((error as AppError).code).toBe('INVALID_ARGUMENT');
      expect((error as AppError).violations[0]?.field).toBe('pageToken');
    });

    it('lists records due by a Date field, oldest first, within the limit', async () => {
      const store = makeStore();
      const base = Date.parse('2026-03-01T00:00:00Z');
      for (let i = 0; i < 6; i++) {
        await store.create(`d${i}`, { ...doc(i < 4 ? 'due' : 'other', i), at: new Date(base + (5 - i) * 60_000) });
      }
      const due = await store.listDue({ where: { owner: 'due' }, field: 'at', before: new Date(base + 3 * 60_000), limit: 10 });
      expect(due.map((d) => d.id)).toEqual(['d3', 'd2']);
      expect(due[0]?.value.at).toBeInstanceOf(Date);
      const limited = await store.listDue({ field: 'at', before: new Date(base + 10 * 60_000), limit: 2 });
      expect(limited.map((d) => d.id)).toEqual(['d5', 'd4']);
    });

    it('pages through a due set with a cursor: ties in id order, each record once', async () => {
      const store = makeStore();
      const base = Date.parse('2026-03-01T00:00:00Z');
      // Three share a due time: the cursor must not skip or repeat one of them.
      const times = [2, 1, 1, 1, 0, 3];
      for (const [i, t] of times.entries()) await store.create(`c${i}`, { ...doc('due', i), at: new Date(base + t * 60_000) });
      const seen: string[] = [];
      let after: { at: Date; id: string } | undefined;
      for (let page = 0; page < 10; page++) {
        const due = await store.listDue({ where: { owner: 'due' }, field: 'at', before: new Date(base + 2 * 60_000), limit: 2, ...(after ? { startAfter: after } : {}) });
        seen.push(...due.map((d) => d.id));
        const last = due.at(-1);
        if (!last || due.length < 2) break;
        after = { at: last.value.at as Date, id: last.id };
      }
      expect(seen).toEqual(['c4', 'c1', 'c2', 'c3', 'c0']);
    });

    it('delete of a missing id is harmless', async () => {
      const store = makeStore();
      await expect(store.delete('never-there')).resolves.toBeUndefined();
    });
  });
}
