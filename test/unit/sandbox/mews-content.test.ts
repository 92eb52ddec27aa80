// The Mews export files: exact sizes, whole JSON lines in every block, Range slices equal to the
// whole file, determinism, and the split of an export into files.
import { describe, expect, it } from 'vitest';
import { MEWS_ENTITY_TYPES, MIN_FILE_BYTES, fileBytes, fileSizes } from '../../../infra/sandbox/mews/content.js';
import type { MewsEntityType, MewsFileSpec } from '../../../infra/sandbox/mews/content.js';
import { prng } from '../../fixtures/prng.js';

const spec = (entityType: MewsEntityType, size: number, index = 0): MewsFileSpec => ({
  exportId: '3fa85f64-5717-4562-b3fd-2c963f66afa6',
  enterpriseId: '4d0201db-36f5-428b-8d11-4f0a65e960cc',
  entityType,
  createdAt: Date.UTC(2026, 0, 15),
  index,
  size,
});

const whole = (s: MewsFileSpec): Buffer => Buffer.concat([...fileBytes(s, 0, s.size - 1)]);

describe('Mews export files', () => {
  it('are exactly their size and made of valid JSON lines, for every entity type and many sizes', () => {
    const sizes = [MIN_FILE_BYTES, 1025, 4000, 65_535, 65_537, 131_071];
    for (const type of MEWS_ENTITY_TYPES) {
      for (const size of sizes) {
        const bytes = whole(spec(type, size));
        expect(bytes.length).toBe(size);
        const text = bytes.toString('utf8');
        expect(text.endsWith('\n')).toBe(true);
        const lines = text.slice(0, -1).split('\n');
        const withoutId = lines.filter((l) => typeof (JSON.parse(l) as { Id?: unknown }).Id !== 'string');
        expect(withoutId).toEqual([]);
      }
    }
  });

  it('a byte range equals the same slice of the whole file; the content is deterministic', () => {
    const r = prng(7);
    const s = spec('Reservation', 200_000, 2);
    const all = whole(s);
    expect(whole(s).equals(all)).toBe(true);
    for (let i = 0; i < 12; i += 1) {
      const start = r.int(0, s.size - 1);
      const end = r.int(start, s.size - 1);
      expect(Buffer.concat([...fileBytes(s, start, end)]).equals(all.subarray(start, end + 1))).toBe(true);
    }
    expect(whole({ ...s, index: 3 }).equals(all)).toBe(false);
    expect(whole({ ...s, exportId: '706dc6d5-9511-4751-825e-538ce99da2ce' }).equals(all)).toBe(false);
  });

  it('records carry the enterprise and non-ASCII text (byte sizes, not characters)', () => {
    const lines = whole(spec('Customer', 200_000)).toString('utf8').trim().split('\n');
    const text = lines.join('\n');
    expect(Buffer.byteLength(text)).toBeGreaterThan(text.length);
    const orders = whole(spec('OrderItem', 20_000)).toString('utf8').trim().split('\n');
    expect(JSON.parse(orders[0] ?? '{}')).toMatchObject({ EnterpriseId: '4d0201db-36f5-428b-8d11-4f0a65e960cc' });
  });

  it('an export is spread evenly over ceil(total / part) files', () => {
    expect(fileSizes(150_000, 65_536)).toEqual([50_000, 50_000, 50_000]);
    expect(fileSizes(65_536, 65_536)).toEqual([65_536]);
    expect(fileSizes(100_001, 50_000)).toEqual([33_334, 33_334, 33_333]);
    expect(fileSizes(5000, 1_000_000)).toEqual([5000]);
  });
});
