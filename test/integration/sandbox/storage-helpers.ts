// Helpers of the Cloud Storage sandbox tests: a real @google-cloud/storage client pointed at the
// sandbox, seeded generated data streamed (never held whole), and local reference digests.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CRC32C, Storage } from '@google-cloud/storage';

export const PROJECT = 'sandbox-project';
export const KiB = 1024;
export const MiB = 1024 * 1024;

/** The construction the pipeline uses: custom endpoint (no Google credentials), explicit project. */
export function storageClient(baseUrl: string): Storage {
  return new Storage({
    apiEndpoint: baseUrl,
    projectId: PROJECT,
    // Keep the client's back-off short in tests (seconds; the default is up to 64 s; async-retry needs ≥ 1).
    retryOptions: { maxRetryDelay: 1, retryDelayMultiplier: 1.1, totalTimeout: 120 },
  });
}

let counter = 0;
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${Math.floor(Math.random() * 1e9).toString(36)}`;
}

const PIECE = 64 * KiB;

/** Seeded bytes (xorshift32), produced piece by piece; the same seed gives the same bytes. */
export function* seededPieces(seed: number, total: number, from = 0): Generator<Buffer> {
  let x = seed >>> 0 || 1;
  let pos = 0;
  while (pos < total) {
    const n = Math.min(PIECE, total - pos);
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i += 1) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x >>> 0;
    }
    const buf = Buffer.from(words.buffer, 0, n);
    const end = pos + n;
    if (end > from) yield from > pos ? buf.subarray(from - pos) : buf;
    pos = end;
  }
}

export function seededStream(seed: number, total: number, from = 0): Readable {
  return Readable.from(seededPieces(seed, total, from), { objectMode: false });
}

export function seededBuffer(seed: number, total: number): Buffer {
  return Buffer.concat([...seededPieces(seed, total)]);
}

export interface Digests {
  size: number;
  crc32c: string;
  md5: string;
}

/** CRC32C (with @google-cloud/storage's own implementation) and MD5 of a byte sequence. */
export async function digestOf(source: Iterable<Buffer> | AsyncIterable<unknown>): Promise<Digests> {
  const crc = new CRC32C();
  const md5 = createHash('md5');
  let size = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    crc.update(chunk);
    md5.update(chunk);
    size += chunk.length;
  }
  return { size, crc32c: crc.toString(), md5: md5.digest('base64') };
}

/** CRC32C of the first `length` seeded bytes, as `resumeCRC32C` wants it. */
export function crc32cOfPrefix(seed: number, length: number): string {
  const crc = new CRC32C();
  for (const piece of seededPieces(seed, length)) crc.update(piece);
  return crc.toString();
}

export async function createBucket(storage: Storage, prefix = 'bkt'): Promise<string> {
  const name = uniqueName(prefix)
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 60);
  await storage.createBucket(name);
  return name;
}
