// Uncompressed ("stored") zip archives of exact, precomputable sizes, written with yazl. Every
// entry is streamed once (yazl checksums it on the way and writes a data descriptor after it).
// Parts are at most 4,000,000,000 bytes, below every ZIP64 threshold, so the size of the zip is
// the entries' bytes plus a fixed overhead per entry and per archive (writeZip checks the result).
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import { crc32cBase64, crc32cUpdate } from '../lib/crc32c.js';

export interface ZipEntry {
  name: string;
  size: number;
  /** Yields exactly `size` bytes; each yielded buffer must stay unchanged after it is yielded. */
  chunks(): Iterable<Buffer>;
}

export interface WrittenZip {
  size: number;
  /** Base64 CRC32C and MD5 of the whole file, as Cloud Storage reports them in `x-goog-hash`. */
  crc32c: string;
  md5: string;
}

/** Local header 30, data descriptor 16, central directory record 46 (DOS timestamps only); the name twice. */
export function entryOverhead(name: string): number {
  return 30 + 16 + 46 + 2 * Buffer.byteLength(name);
}

/** The end-of-central-directory record, without a comment. */
export const END_OVERHEAD = 22;

/** Writes the entries as a zip to an open file and returns its size and hashes. */
export async function writeZip(file: FileHandle, entries: readonly ZipEntry[], modifiedMs: number): Promise<WrittenZip> {
  const zip = new ZipFile();
  // yazl's output is a PassThrough (typed as the older NodeJS.ReadableStream).
  const output = zip.outputStream as Readable;
  // Zip times are DOS local date-times; dates before 1980 cannot be written.
  const mtime = new Date(Math.max(modifiedMs, Date.UTC(1980, 0, 1)));
  const failed = (error: Error) => output.destroy(error);
  // An entry that yields more or fewer bytes than its size fails the zip (yazl emits it here).
  zip.on('error', failed);
  for (const entry of entries) {
    // yazl pipes the entry's stream without watching it: a failing one fails the zip here.
    const bytes = Readable.from(entry.chunks(), { objectMode: false }).on('error', failed);
    zip.addReadStream(bytes, entry.name, {
      size: entry.size,
      compress: false,
      mtime,
      mode: 0o100644,
      forceDosTimestamp: true,
    });
  }
  const expected = entries.reduce((n, e) => n + e.size + entryOverhead(e.name), END_OVERHEAD);
  zip.end();
  const md5 = createHash('md5');
  let crc32c = 0;
  let size = 0;
  for await (const chunk of output as AsyncIterable<Buffer>) {
    md5.update(chunk);
    crc32c = crc32cUpdate(crc32c, chunk);
    for (let done = 0; done < chunk.length;) done += (await file.write(chunk, done, chunk.length - done)).bytesWritten;
    size += chunk.length;
  }
  if (size !== expected) throw new Error(`zip layout: wrote ${size} bytes, expected ${expected}`);
  return { size, crc32c: crc32cBase64(crc32c), md5: md5.digest('base64') };
}
