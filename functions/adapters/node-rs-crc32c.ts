import { createRequire } from 'node:module';
import type * as NodeRsCrc32 from '@node-rs/crc32';
import type { Crc32cFactory, RunningCrc32c } from '../core/ports/checksum.js';

/**
 * CRC32C with @node-rs/crc32 (SIMD, several GB/s): the pipeline's and the storage client's
 * checksum. Its native module (about 4 MB of memory) is loaded on the first checksum, so the
 * functions that never compute one (api, oauth, scheduler) do not carry it.
 */
export class NodeRsCrc32c implements Crc32cFactory {
  private native: typeof NodeRsCrc32.crc32c | undefined;

  start(prefixValue?: string): RunningCrc32c {
    const crc32c = (this.native ??= (createRequire(import.meta.url)('@node-rs/crc32') as typeof NodeRsCrc32).crc32c);
    let state = prefixValue ? Buffer.from(prefixValue, 'base64').readUInt32BE(0) : 0;
    return {
      update(bytes: Uint8Array) {
        state = crc32c(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), state);
      },
      value() {
        const out = Buffer.alloc(4);
        out.writeUInt32BE(state >>> 0);
        return out.toString('base64');
      },
    };
  }
}
