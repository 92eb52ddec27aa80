/**
 * CRC32C (Castagnoli), as Cloud Storage reports it: base64 of the big-endian 32-bit value. A
 * running checksum can start from a known prefix's value, so an interrupted transfer resumes
 * without reading the prefix again.
 */
export interface Crc32cFactory {
  start(prefixValue?: string): RunningCrc32c;
}

export interface RunningCrc32c {
  update(bytes: Uint8Array): void;
  /** base64 of the big-endian value of everything so far. */
  value(): string;
}
