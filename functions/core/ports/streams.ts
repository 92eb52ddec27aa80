import type { Writable } from 'node:stream';

/**
 * (A stream helper for the ports that pass streams: used by the core and by their adapters.)
 *
 * Waits until `stream` can take more (`drain`) or is gone (`close`, e.g. destroyed because the
 * other end failed). Unlike racing `once(stream, 'drain')` against a long-lived promise, nothing
 * stays attached afterwards: a race adds a reaction to that promise on every wait, which grows
 * memory with the size of the transfer.
 */
export function drainedOrClosed(stream: Writable): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
