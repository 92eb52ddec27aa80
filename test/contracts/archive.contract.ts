import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NodeRsCrc32c } from '../../functions/adapters/node-rs-crc32c.js';
import { AppError } from '../../functions/core/errors.js';
import type { ArchiveDownloader } from '../../functions/core/ports/archive-download.js';
import type { ArchiveStore } from '../../functions/core/ports/archive-store.js';

const crc = (data: Buffer) => {
  const c = new NodeRsCrc32c().start();
  c.update(data);
  return c.value();
};

async function write(store: ArchiveStore, session: string, object: string, offset: number, data: Buffer) {
  const sink = store.continueUpload({ session, object, offset, totalBytes: offset + data.length });
  sink.stream.end(data);
  return sink.done;
}

/** The ArchiveStore contract, run against the in-memory fake and the Cloud Storage adapter. */
export function archiveStoreContract(name: string, make: () => Promise<ArchiveStore>): void {
  describe(`ArchiveStore contract: ${name}`, () => {
    it('uploads through a session and reports size and CRC32C of the finalised object', async () => {
      const store = await make();
      const data = randomBytes(700_000);
      const session = await store.beginUpload('a/b/file.zip', 'application/zip');
      expect(await store.persisted(session, 'a/b/file.zip')).toEqual({ kind: 'partial', offset: 0 });
      const stored = await write(store, session, 'a/b/file.zip', 0, data);
      expect(stored).toMatchObject({ name: 'a/b/file.zip', bytes: data.length, crc32c: crc(data) });
      expect(await store.stat('a/b/file.zip')).toMatchObject({ bytes: data.length, crc32c: crc(data) });
      const again = await store.persisted(session, 'a/b/file.zip');
      expect(again.kind).toBe('complete');
    });

    it('keeps what an abandoned upload persisted; continuing from the reported offset finalises the whole object', async () => {
      const store = await make();
      const data = randomBytes(3 * 262_144 + 1000);
      const object = 'r/resumed.zip';
      const session = await store.beginUpload(object, 'application/zip');
      const first = store.continueUpload({ session, object, offset: 0, totalBytes: data.length });
      const written = 2 * 262_144 + 500;
      await new Promise<void>((resolve, reject) => first.stream.write(data.subarray(0, written), (e) => (e ? reject(e) : resolve())));
      // Give the bytes time to reach the store, then break the upload off unfinalised.
      await new Promise((r) => setTimeout(r, 300));
      first.stream.destroy();
      await expect(first.done).rejects.toBeDefined();
      const persisted = await store.persisted(session, object);
      if (persisted.kind !== 'partial') throw new Error(`an abandoned upload must stay partial, got ${persisted.kind}`);
      // The store kept some of it (at least its first 256 KiB), and never more than was written.
      expect(persisted.offset).toBeGreaterThan(0);
      expect(persisted.offset).toBeLessThanOrEqual(written);
      expect(await store.stat(object)).toBeUndefined();
      const stored = await write(store, session, object, persisted.offset, data.subarray(persisted.offset));
      expect(stored).toMatchObject({ name: object, bytes: data.length, crc32c: crc(data) });
    });

    it('is create-only: a second upload or manifest of the same name fails with ALREADY_EXISTS', async () => {
      const store = await make();
      await store.writeJson('m/manifest.json', { a: 1 });
      await expect(store.writeJson('m/manifest.json', { a: 2 })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      const error = await store
        .beginUpload('m/manifest.json', 'application/json')
        .then(async (session) => write(store, session, 'm/manifest.json', 0, Buffer.from('x')))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('ALREADY_EXISTS');
    });

    it('cancels an abandoned session: it can no longer be continued, and cancelling again or a finalised one is harmless', async () => {
      const store = await make();
      const object = 'c/cancelled.zip';
      const session = await store.beginUpload(object, 'application/zip');
      const first = store.continueUpload({ session, object, offset: 0, totalBytes: 600_000 });
      await new Promise<void>((resolve, reject) => first.stream.write(randomBytes(300_000), (e) => (e ? reject(e) : resolve())));
      await new Promise((r) => setTimeout(r, 200));
      first.stream.destroy();
      await first.done.catch(() => undefined);
      await store.abandonUpload(session);
      await expect(store.persisted(session, object)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'UPLOAD_SESSION_GONE' });
      await store.abandonUpload(session);
      expect(await store.stat(object)).toBeUndefined();
      const done = await store.beginUpload('c/done.zip', 'application/zip');
      await write(store, done, 'c/done.zip', 0, Buffer.from('kept'));
      await store.abandonUpload(done);
      expect(await store.stat('c/done.zip')).toMatchObject({ bytes: 4 });
    });

    it('reads an object back byte for byte; a missing one is NOT_FOUND', async () => {
      const store = await make();
      const data = randomBytes(900_000);
      const session = await store.beginUpload('read/me.zip', 'application/zip');
      await write(store, session, 'read/me.zip', 0, data);
      const parts: Buffer[] = [];
      for await (const chunk of await store.read('read/me.zip')) parts.push(chunk as Buffer);
      expect(Buffer.concat(parts).equals(data)).toBe(true);
      await expect(store.read('read/absent.zip')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('copies an object create-only, of the given generation only', async () => {
      const store = await make();
      const data = randomBytes(400_000);
      const session = await store.beginUpload('copy/source.zip', 'application/zip');
      const source = await write(store, session, 'copy/source.zip', 0, data);
      const copied = await store.copy('copy/source.zip', 'copy/target.zip', source.generation);
      expect(copied).toMatchObject({ name: 'copy/target.zip', bytes: data.length, crc32c: crc(data) });
      expect(await store.stat('copy/target.zip')).toMatchObject({ bytes: data.length, crc32c: crc(data) });
      await expect(store.copy('copy/source.zip', 'copy/target.zip', source.generation)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await expect(store.copy('copy/source.zip', 'copy/other.zip', String(Number(source.generation) + 1000))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(store.copy('copy/absent.zip', 'copy/other.zip', '1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await store.stat('copy/other.zip')).toBeUndefined();
    });

    it('deletes one object and everything under a prefix', async () => {
      const store = await make();
      for (const n of ['p/1', 'p/2', 'q/1']) await store.writeJson(n, {});
      await store.delete('q/1');
      await store.delete('q/never');
      expect(await store.stat('q/1')).toBeUndefined();
      expect(await store.deletePrefix('p/')).toBe(2);
      expect(await store.stat('p/1')).toBeUndefined();
    });
  });
}

/** The ArchiveDownloader contract: ranged reads, total size, checksums, refused URLs. */
export function archiveDownloaderContract(name: string, make: () => Promise<{ downloader: ArchiveDownloader; serve(data: Buffer): Promise<string>; refused: string }>): void {
  describe(`ArchiveDownloader contract: ${name}`, () => {
    it("reads from an offset with the whole size and the whole archive's CRC32C", async () => {
      const { downloader, serve } = await make();
      const data = randomBytes(300_000);
      const url = await serve(data);
      for (const offset of [0, 1, 123_456]) {
        const got = await downloader.open(url, offset);
        const chunks: Buffer[] = [];
        for await (const c of got.body) chunks.push(c as Buffer);
        expect(Buffer.concat(chunks).equals(data.subarray(offset))).toBe(true);
        expect(got.totalBytes).toBe(data.length);
        expect(got.crc32c).toBe(crc(data));
      }
    });

    it('refuses a URL that no longer works with URL_EXPIRED', async () => {
      const { downloader, refused } = await make();
      await expect(downloader.open(refused, 0)).rejects.toMatchObject({ code: 'PERMISSION_DENIED', reason: 'URL_EXPIRED' });
    });
  });
}
