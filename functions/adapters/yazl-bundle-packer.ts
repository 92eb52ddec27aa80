import { PassThrough, type Readable } from 'node:stream';
import type { BundleEntry, BundlePacker } from '../core/ports/bundle-packer.js';

/**
 * BundlePacker for zip with yazl: entries stored (no compression: archives are compressed
 * already, and stored entries keep the bundle step I/O-bound), streamed one after another with
 * data descriptors, ZIP64 where an entry or the archive passes 4 GiB. Deterministic for fixed
 * entries and mtime (no clock read, no random field). The library is loaded on first use.
 */
export class YazlBundlePacker implements BundlePacker {
  readonly format = 'zip' as const;
  readonly contentType = 'application/zip';
  readonly extension = 'zip';

  async pack(entries: readonly BundleEntry[], options: { readonly mtime: Date }): Promise<Readable> {
    const { ZipFile } = await import('yazl');
    const zip = new ZipFile();
    const out = new PassThrough({ highWaterMark: 256 * 1024 });
    const fail = (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error)));
    zip.on('error', fail);
    for (const entry of entries) {
      zip.addReadStreamLazy(entry.path, { mtime: options.mtime, mode: 0o100644, compress: false, size: entry.bytes }, (callback) => {
        entry.open().then(
          (stream) => {
            stream.once('error', fail);
            callback(null, stream);
          },
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), undefined as unknown as Readable),
        );
      });
    }
    zip.end();
    zip.outputStream.once('error', fail);
    zip.outputStream.pipe(out);
    return out;
  }
}
