// CRC32C (Castagnoli) with @node-rs/crc32 (SIMD; the same library the pipeline uses), in the
// form the sandbox needs: a running value (start with 0) and its base64 as in `x-goog-hash`.
import { crc32c } from '@node-rs/crc32';

/** Continues a CRC32C over `buf` (start with 0). */
export function crc32cUpdate(crc: number, buf: Uint8Array): number {
  return crc32c(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength), crc) >>> 0;
}

/** Base64 of the big-endian CRC, as in `x-goog-hash: crc32c=…`. */
export function crc32cBase64(crc: number): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc >>> 0, 0);
  return out.toString('base64');
}
