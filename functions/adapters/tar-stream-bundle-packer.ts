import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { BundleEntry, BundlePacker } from '../core/ports/bundle-packer.js';

/**
 * BundlePacker for tar.gz with tar-stream (POSIX ustar headers; PAX headers for long paths;
 * base-256 sizes past 8 GiB, as GNU tar and bsdtar read them) and Node's zlib (level 1: the
 * archives inside are compressed already, so higher levels cost CPU for next to nothing).
 * Entries are written one after another with backpressure. Deterministic for fixed entries and
 * mtime: zlib's output does not depend on how its input is chunked. Loaded on first use.
 */
export class TarStreamBundlePacker implements BundlePacker {
  readonly format = 'tar.gz' as const;
  readonly contentType = 'application/gzip';
  readonly extension = 'tar.gz';

  async pack(entries: readonly BundleEntry[], options: { readonly mtime: Date }): Promise<Readable> {
    const tar = await import('tar-stream');
    const pack = tar.pack();
    const gzip = createGzip({ level: 1 });
    const out = new PassThrough({ highWaterMark: 256 * 1024 });
    const fail = (error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error));
      pack.destroy(e);
      gzip.destroy(e);
      out.destroy(e);
    };
    pack.on('error', fail);
    gzip.on('error', fail);
    pack.pipe(gzip).pipe(out);
    const feed = async () => {
      for (const entry of entries) {
        if (out.destroyed) return;
        const source = await entry.open();
        let entryError: Error | null = null;
        const sink = pack.entry({ name: entry.path, size: entry.bytes, mtime: options.mtime, mode: 0o644, type: 'file', uid: 0, gid: 0, uname: '', gname: '' }, (error) => {
          entryError = error ?? null;
        });
        const ended = new Promise<void>((resolve, reject) => {
          sink.once('close', () => (entryError ? reject(entryError) : resolve()));
          sink.once('error', reject);
        });
        ended.catch(() => undefined);
        try {
          for await (const chunk of source) {
            if (!sink.write(chunk as Buffer)) await once(sink, 'drain');
          }
        } catch (error) {
          sink.destroy(error instanceof Error ? error : new Error(String(error)));
          throw error;
        }
        (sink as unknown as NodeJS.WritableStream).end();
        await ended;
      }
      pack.finalize();
      await once(out, 'end').catch(() => undefined);
    };
    feed().catch(fail);
    return out;
  }
}
