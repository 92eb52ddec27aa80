import type { Readable } from 'node:stream';

/** One stored object opened for reading. */
export interface OpenedObject {
  readonly bytes: number;
  readonly contentType: string;
  /** The object's bytes; destroy it to stop reading early. */
  readonly stream: Readable;
}

/**
 * Reads objects of the application's archive bucket (downloads for the console). Reads only:
 * nothing is written or made public. `open` resolves undefined when the object does not exist
 * (erased, or never delivered); transient failures are retryable AppErrors.
 */
export interface ArchiveReader {
  open(object: string): Promise<OpenedObject | undefined>;
}
