import type { Bucket, Storage } from '@google-cloud/storage';
import { AppError } from '../core/errors.js';
import type { ArchiveReader, OpenedObject } from '../core/ports/archive-reader.js';

/**
 * ArchiveReader on Cloud Storage with `@google-cloud/storage`: the object's metadata, then a
 * stream of its bytes checked against its CRC32C by the client (a corrupt read fails the stream).
 * The bucket stays private: bytes reach the caller only through the authenticated API.
 */
export class GcsArchiveReader implements ArchiveReader {
  private bucket: Promise<Bucket> | undefined;

  constructor(
    private readonly storage: () => Promise<Storage>,
    private readonly bucketName: string,
  ) {}

  async open(object: string): Promise<OpenedObject | undefined> {
    this.bucket ??= this.storage().then((s) => s.bucket(this.bucketName));
    const file = (await this.bucket).file(object);
    let metadata;
    try {
      [metadata] = await file.getMetadata();
    } catch (error) {
      const code = Number((error as { code?: unknown }).code);
      if (code === 404) return undefined;
      throw new AppError(code === 429 || code >= 500 || Number.isNaN(code) ? 'UNAVAILABLE' : 'INTERNAL', `reading ${object}: HTTP ${code}`, { cause: error });
    }
    return {
      bytes: Number(metadata.size ?? 0),
      contentType: metadata.contentType ?? 'application/octet-stream',
      stream: file.createReadStream({ validation: 'crc32c' }),
    };
  }
}
