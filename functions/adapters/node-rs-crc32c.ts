import { crc32c } from '@node-rs/crc32';
import type { Crc32cFactory, RunningCrc32c } from '../core/ports/checksum.js';

/** CRC32C with @node-rs/crc32 (SIMD, several GB/s): the pipeline's and the storage client's checksum. */
export class NodeRsCrc32c implements Crc32cFactory {
  start(prefixValue?: string): RunningCrc32c {
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
