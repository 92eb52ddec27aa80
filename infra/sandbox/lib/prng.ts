// Seeded randomness for generated content: the same seed gives the same bytes on every request,
// so a download can be resumed at any offset and checked against its checksum.
import { createHash } from 'node:crypto';

export type Rand = () => number;

/** Seeded xorshift32 PRNG in [0, 1), its state taken from the SHA-256 of the seed. */
export function prng(seed: string): Rand {
  const h = createHash('sha256').update(seed).digest();
  let x = h.readUInt32LE(0) || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}
