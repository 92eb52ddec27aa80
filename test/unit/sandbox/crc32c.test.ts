import { randomBytes } from 'node:crypto';
import { CRC32C } from '@google-cloud/storage';
import { describe, expect, it } from 'vitest';
import { crc32cBase64, crc32cUpdate } from '../../../infra/sandbox/lib/crc32c.js';

describe('crc32c (slicing-by-8)', () => {
  it('matches @google-cloud/storage CRC32C for many lengths, also when fed in pieces', () => {
    for (const len of [0, 1, 7, 8, 9, 63, 64, 1000, 65_537]) {
      const data = randomBytes(len);
      const reference = new CRC32C();
      reference.update(data);
      expect(crc32cBase64(crc32cUpdate(0, data))).toBe(reference.toString());
      const cut = Math.floor(len / 3);
      const pieces = crc32cUpdate(crc32cUpdate(0, data.subarray(0, cut)), data.subarray(cut));
      expect(crc32cBase64(pieces)).toBe(reference.toString());
    }
  });

  it('known vector: "123456789" → 0xE3069283', () => {
    expect(crc32cUpdate(0, Buffer.from('123456789'))).toBe(0xe3069283);
  });
});
