import { CRC32C } from '@google-cloud/storage';
import { describe, expect, it } from 'vitest';
import { NodeRsCrc32c } from '../../functions/adapters/node-rs-crc32c.js';

describe('CRC32C adapter', () => {
  const crc = new NodeRsCrc32c();

  it("matches the known check value and Cloud Storage's own implementation", () => {
    const check = crc.start();
    check.update(Buffer.from('123456789'));
    const be = Buffer.from(check.value(), 'base64').readUInt32BE(0);
    expect(be).toBe(0xe3069283);
    const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31) & 0xff));
    const ours = crc.start();
    ours.update(data);
    const theirs = new CRC32C();
    theirs.update(data);
    expect(ours.value()).toBe(theirs.toString());
  });

  it('resumes from the value of a prefix', () => {
    const data = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7) & 0xff));
    const whole = crc.start();
    whole.update(data);
    const prefix = crc.start();
    prefix.update(data.subarray(0, 12_345));
    const rest = crc.start(prefix.value());
    rest.update(data.subarray(12_345));
    expect(rest.value()).toBe(whole.value());
  });
});
