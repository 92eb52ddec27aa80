// A minimal streaming writer of uncompressed ("stored") zip archives with exact, precomputable
// sizes. Parts are at most 4,000,000,000 bytes, so no ZIP64 records are ever needed.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { crc32cBase64, crc32cUpdate } from '../lib/crc32c.js';

export interface ZipEntry {
  name: string;
  size: number;
  /** Yields exactly `size` bytes; called twice (once for the CRC, once to write), same bytes each time. */
  chunks(): Iterable<Buffer>;
}

export interface WrittenZip {
  size: number;
  /** Base64 CRC32C and MD5 of the whole file, as Cloud Storage reports them in `x-goog-hash`. */
  crc32c: string;
  md5: string;
}

const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;
const END_RECORD = 22;
const UTF8_FLAG = 0x0800;

export function entryOverhead(name: string): number {
  return LOCAL_HEADER + CENTRAL_HEADER + 2 * Buffer.byteLength(name);
}

export const END_OVERHEAD = END_RECORD;

function dosDateTime(ms: number): { time: number; date: number } {
  const d = new Date(Math.max(ms, Date.UTC(1980, 0, 1)));
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | Math.floor(d.getUTCSeconds() / 2),
    date: ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

/** Writes the entries as a zip to an open file and returns its size and hashes. */
export async function writeZip(file: FileHandle, entries: readonly ZipEntry[], modifiedMs: number): Promise<WrittenZip> {
  const md5 = createHash('md5');
  let crc32c = 0;
  let offset = 0;
  const write = async (buf: Buffer): Promise<void> => {
    md5.update(buf);
    crc32c = crc32cUpdate(crc32c, buf);
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await file.write(buf, done, buf.length - done);
      done += bytesWritten;
    }
    offset += buf.length;
  };
  const { time, date } = dosDateTime(modifiedMs);
  const central: Buffer[] = [];
  for (const entry of entries) {
    let crc = 0;
    let counted = 0;
    let n = 0;
    for (const chunk of entry.chunks()) {
      crc = crc32(chunk, crc);
      counted += chunk.length;
      // Let the server answer other requests while a multi-GB entry is checksummed.
      if (++n % 16 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (counted !== entry.size) throw new Error(`zip entry ${entry.name}: ${counted} bytes, expected ${entry.size}`);
    const name = Buffer.from(entry.name, 'utf8');
    const local = Buffer.alloc(LOCAL_HEADER);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(10, 4); // version needed
    local.writeUInt16LE(UTF8_FLAG, 6);
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(entry.size, 18);
    local.writeUInt32LE(entry.size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const headerOffset = offset;
    await write(Buffer.concat([local, name]));
    for (const chunk of entry.chunks()) await write(chunk);
    const cd = Buffer.alloc(CENTRAL_HEADER);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(0x0314, 4); // made by: UNIX, 2.0
    cd.writeUInt16LE(10, 6);
    cd.writeUInt16LE(UTF8_FLAG, 8);
    cd.writeUInt16LE(0, 10);
    cd.writeUInt16LE(time, 12);
    cd.writeUInt16LE(date, 14);
    cd.writeUInt32LE(crc >>> 0, 16);
    cd.writeUInt32LE(entry.size, 20);
    cd.writeUInt32LE(entry.size, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes: regular file 0644
    cd.writeUInt32LE(headerOffset, 42);
    central.push(cd, name);
  }
  const cdOffset = offset;
  const cdBytes = Buffer.concat(central);
  await write(cdBytes);
  const end = Buffer.alloc(END_RECORD);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBytes.length, 12);
  end.writeUInt32LE(cdOffset, 16);
  await write(end);
  return { size: offset, crc32c: crc32cBase64(crc32c), md5: md5.digest('base64') };
}
