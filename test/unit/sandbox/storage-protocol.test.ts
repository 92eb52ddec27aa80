import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRC32C } from '@google-cloud/storage';
import { describe, expect, it } from 'vitest';
import { crc32cBase64 } from '../../../infra/sandbox/lib/crc32c.js';
import { boundaryOf, readMultipart } from '../../../infra/sandbox/storage/multipart.js';
import {
  CHUNK_QUANTUM,
  GcsError,
  bucketNameProblem,
  decodePageToken,
  encodePageToken,
  objectNameProblem,
  parseContentRange,
  parseGoogHash,
  parseObjectResource,
  parsePreconditions,
  preconditionsHold,
} from '../../../infra/sandbox/storage/protocol.js';
import { BlobWriter } from '../../../infra/sandbox/storage/store.js';
import { Md5Follower } from '../../../infra/sandbox/storage/md5-follower.js';

function status(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof GcsError ? err.httpStatus : -1;
  }
  return undefined;
}

describe('Content-Range of resumable sessions', () => {
  it('parses every form the clients send', () => {
    expect(parseContentRange(undefined)).toEqual({ kind: 'data', start: 0 });
    expect(parseContentRange('bytes */*')).toEqual({ kind: 'query' });
    expect(parseContentRange('bytes */1000')).toEqual({ kind: 'query', total: 1000 });
    expect(parseContentRange('bytes 0-262143/*')).toEqual({ kind: 'data', start: 0, end: 262143 });
    expect(parseContentRange('bytes 262144-300000/300001')).toEqual({ kind: 'data', start: 262144, end: 300000, total: 300001 });
    expect(parseContentRange('bytes 0-*/*')).toEqual({ kind: 'data', start: 0 });
    expect(parseContentRange('bytes 5-*/10')).toEqual({ kind: 'data', start: 5, total: 10 });
    // @google-cloud/storage's empty final requests: "bytes 0--1/0" and "bytes N-(N-1)/N".
    expect(parseContentRange('bytes 0--1/0')).toEqual({ kind: 'data', start: 0, end: -1, total: 0 });
    expect(parseContentRange('bytes 10-9/10')).toEqual({ kind: 'data', start: 10, end: 9, total: 10 });
  });

  it('refuses malformed and inconsistent ranges with 400', () => {
    for (const bad of [
      '',
      'bytes',
      'bytes 1-2',
      'bytes=0-1/2',
      'items 0-1/2',
      'bytes 5-3/*',
      'bytes 0-10/10',
      'bytes 11-*/10',
      'bytes -1-2/3',
      'bytes 1.5-2/3',
      `bytes 0-${'9'.repeat(20)}/*`,
    ]) {
      expect(
        status(() => parseContentRange(bad)),
        bad,
      ).toBe(400);
    }
  });
});

describe('names, preconditions, tokens, resources', () => {
  it('object and bucket naming rules', () => {
    for (const ok of ['a', 'dir/sub/file.zip', 'ünïcödé 😀', 'a'.repeat(1024), 'with space', '#?%&+']) expect(objectNameProblem(ok), ok).toBeUndefined();
    for (const bad of ['', '.', '..', 'a\nb', 'a\rb', 'a'.repeat(1025), 'é'.repeat(513), '\ud800x', '.well-known/acme-challenge/x'])
      expect(objectNameProblem(bad), bad).toBeDefined();
    for (const ok of ['abc', 'my-bucket_1.x', 'a'.repeat(63)]) expect(bucketNameProblem(ok), ok).toBeUndefined();
    for (const bad of ['ab', 'A-bucket', '-abc', 'abc-', 'a'.repeat(64), 'goog-x', 'a..b', 'a/b']) expect(bucketNameProblem(bad), bad).toBeDefined();
  });

  it('preconditions: 0 means "must not exist"; malformed or repeated values are 400', () => {
    const p = parsePreconditions(new URLSearchParams('ifGenerationMatch=0'));
    expect(preconditionsHold(p, undefined)).toBe(true);
    expect(preconditionsHold(p, { generation: '1700000000000000', metageneration: 1 })).toBe(false);
    const exact = parsePreconditions(new URLSearchParams('ifGenerationMatch=1700000000000000&ifMetagenerationMatch=2'));
    expect(preconditionsHold(exact, { generation: '1700000000000000', metageneration: 2 })).toBe(true);
    expect(preconditionsHold(exact, { generation: '1700000000000000', metageneration: 1 })).toBe(false);
    const not = parsePreconditions(new URLSearchParams('ifGenerationNotMatch=5'));
    expect(preconditionsHold(not, { generation: '5', metageneration: 1 })).toBe(false);
    expect(preconditionsHold(not, undefined)).toBe(true);
    for (const bad of ['ifGenerationMatch=x', 'ifGenerationMatch=1&ifGenerationMatch=2', 'ifMetagenerationMatch=', `ifGenerationMatch=${'9'.repeat(25)}`]) {
      expect(
        status(() => parsePreconditions(new URLSearchParams(bad))),
        bad,
      ).toBe(400);
    }
  });

  it('page tokens round-trip; garbage is 400', () => {
    for (const t of [
      { after: 'a/b', prefix: false },
      { after: 'ü/😀/', prefix: true },
    ])
      expect(decodePageToken(encodePageToken(t))).toEqual(t);
    for (const bad of ['', '!!!', Buffer.from('{"a":1}').toString('base64url'), Buffer.from('["x",2]').toString('base64url')])
      expect(
        status(() => decodePageToken(bad)),
        bad,
      ).toBe(400);
  });

  it('object resources: writable fields typed, read-only and unknown ignored, null clears', () => {
    const parsed = parseObjectResource({ contentType: 'a/b', metadata: { k: 'v', n: 1, gone: null }, size: '5', kind: 'x', name: 'n', crc32c: 'AAAAAA==', cacheControl: null });
    expect(parsed).toEqual({ fields: { contentType: 'a/b', metadata: { k: 'v', n: '1' } }, cleared: ['cacheControl'], name: 'n', crc32c: 'AAAAAA==' });
    for (const bad of [{ contentType: 1 }, { metadata: [] }, { metadata: { k: {} } }, { name: 5 }])
      expect(
        status(() => parseObjectResource(bad)),
        JSON.stringify(bad),
      ).toBe(400);
  });

  it('x-goog-hash parsing', () => {
    expect(parseGoogHash('crc32c=AAAAAA==,md5=1B2M2Y8AsgTpgAmY7PhCfg==')).toEqual({ crc32c: 'AAAAAA==', md5: '1B2M2Y8AsgTpgAmY7PhCfg==' });
    expect(parseGoogHash(['crc32c=x', 'md5=y'])).toEqual({ crc32c: 'x', md5: 'y' });
    expect(parseGoogHash(undefined)).toEqual({});
  });
});

describe('multipart/related reader', () => {
  const boundary = 'b0und4ry-1234';
  const media = randomBytes(1500);
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n{"name":"x","contentType":"text/csv"}\r\n--${boundary}\r\nContent-Type: image/png\r\n\r\n`),
    media,
    Buffer.from(`\r\n--${boundary}--`),
  ]);

  async function read(pieces: Buffer[]): Promise<{ head: unknown; media: Buffer }> {
    const out: Buffer[] = [];
    const head = await readMultipart(
      (async function* () {
        yield* pieces;
      })(),
      boundary,
      async (b) => {
        out.push(Buffer.from(b));
      },
    );
    return { head, media: Buffer.concat(out) };
  }

  it('gives the same result however the body is cut into pieces', async () => {
    const head = { metadata: { name: 'x', contentType: 'text/csv' }, mediaType: 'image/png' };
    // Compared as one summary per cut (a deep toEqual of 1,500-byte buffers 230 times took over
    // 5 s on a loaded machine).
    const summary = (got: { head: unknown; media: Buffer }) => ({ head: got.head, mediaEqual: got.media.equals(media) });
    const cuts: number[] = [];
    for (let cut = 0; cut <= body.length; cut += 7) cuts.push(cut);
    const got = await Promise.all(cuts.map(async (cut) => summary(await read([body.subarray(0, cut), body.subarray(cut)]))));
    expect(got).toEqual(cuts.map(() => ({ head, mediaEqual: true })));
    const bytes = Array.from({ length: body.length }, (_, i) => body.subarray(i, i + 1));
    expect(summary(await read(bytes))).toEqual({ head, mediaEqual: true });
  });

  it('boundaries from the Content-Type; malformed bodies are 400', async () => {
    expect(boundaryOf(`multipart/related; boundary=${boundary}`)).toBe(boundary);
    expect(boundaryOf('multipart/related; boundary="a b"')).toBe('a b');
    for (const bad of [undefined, 'application/json', 'multipart/related', 'multipart/form-data; boundary=x'])
      expect(
        status(() => boundaryOf(bad)),
        String(bad),
      ).toBe(400);
    for (const broken of [body.subarray(0, body.length - 4), Buffer.from('nothing'), Buffer.from(`--${boundary}\r\n\r\n{bad json\r\n--${boundary}\r\n\r\nx\r\n--${boundary}--`)]) {
      await expect(read([broken])).rejects.toBeInstanceOf(GcsError);
    }
  });
});

describe('BlobWriter', () => {
  it('checksums what it writes, remembers the CRC32C at the last 256 KiB boundary, and reports what is on disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'blob-writer-'));
    try {
      const path = join(dir, 'part');
      const file = await open(path, 'w+');
      const data = randomBytes(CHUNK_QUANTUM * 2 + 1234);
      const reported: number[] = [];
      const writer = new BlobWriter(file, { at: 0, crc: 0 }, (n) => reported.push(n));
      for (let off = 0; off < data.length; off += 70_001) await writer.write(data.subarray(off, off + 70_001));
      // Writes go out in batches: the file is complete once flush() settles.
      await writer.flush();
      await file.close();
      expect(readFileSync(path).equals(data)).toBe(true);
      // One report per batch written, growing, the last one the whole file.
      expect(reported.length).toBeGreaterThan(0);
      expect(reported).toEqual([...reported].sort((a, b) => a - b));
      expect(reported.at(-1)).toBe(data.length);
      for (const at of [data.length, CHUNK_QUANTUM * 2]) {
        const d = writer.digestAt(at);
        const want = new CRC32C();
        want.update(data.subarray(0, at));
        expect(crc32cBase64(d?.crc ?? 0)).toBe(want.toString());
      }
      expect(writer.digestAt(CHUNK_QUANTUM)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Md5Follower', () => {
  const md5 = (b: Buffer) => createHash('md5').update(b).digest('base64');

  it('hashes prefixes of a growing file off-thread; a shorter prefix, a rewritten file after forget, and a missing file are handled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'md5-follower-'));
    const follower = new Md5Follower();
    try {
      const path = join(dir, 'part');
      const data = randomBytes(3 * 1024 * 1024 + 777);
      writeFileSync(path, data.subarray(0, 1024 * 1024));
      follower.advance(path, 1024 * 1024);
      appendFileSync(path, data.subarray(1024 * 1024));
      follower.advance(path, 2 * 1024 * 1024);
      expect(await follower.digest(path, data.length)).toBe(md5(data));
      // Behind what was hashed: hashed again from byte 0.
      expect(await follower.digest(path, 1000)).toBe(md5(data.subarray(0, 1000)));
      expect(await follower.digest(path, 0)).toBe(md5(Buffer.alloc(0)));
      // The same bytes rewritten with other content: forget, and the next digest reads them again.
      const other = randomBytes(data.length);
      follower.advance(path, data.length);
      writeFileSync(path, other);
      follower.forget(path);
      expect(await follower.digest(path, other.length)).toBe(md5(other));
      // Past the end of the file, or no file: a rejection naming the reason, and the thread goes on.
      await expect(follower.digest(path, other.length + 1)).rejects.toThrow(/ends at byte/);
      await expect(follower.digest(join(dir, 'missing'), 10)).rejects.toThrow(/ENOENT/);
      expect(await follower.digest(path, 5)).toBe(md5(other.subarray(0, 5)));
    } finally {
      await follower.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
