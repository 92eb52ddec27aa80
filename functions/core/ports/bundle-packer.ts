import type { Readable } from 'node:stream';

/** The archive formats a bundle can be written in. */
export const BUNDLE_FORMATS = ['zip', 'tar.gz'] as const;
export type BundleFormat = (typeof BUNDLE_FORMATS)[number];

/** One file of a bundle: its path inside the archive, its exact size, and how to read it. */
export interface BundleEntry {
  readonly path: string;
  readonly bytes: number;
  /** Opens the entry's bytes; called once, when the packer reaches this entry (one source open at a time). */
  readonly open: () => Promise<Readable>;
}

/**
 * Packs entries, in the order given, into one archive stream, with backpressure (nothing held
 * beyond the library's small buffers).
 *
 * Contract:
 * - Deterministic: the same entries (paths, sizes, bytes) and the same `mtime` give the same
 *   output bytes, whatever the chunking of the sources. A bundle step that crashed regenerates
 *   the stream and skips what its upload already holds.
 * - An entry whose stream errors, or whose length differs from `bytes`, destroys the output
 *   stream with that error; nothing is retried inside.
 * - Any size: entries over 4 GiB and archives over 4 GiB are encoded (ZIP64, tar base-256 sizes).
 */
export interface BundlePacker {
  readonly format: BundleFormat;
  readonly contentType: string;
  /** The bundle's file name extension, without the dot. */
  readonly extension: string;
  pack(entries: readonly BundleEntry[], options: { readonly mtime: Date }): Promise<Readable>;
}
