// Paces a response body to a byte rate (the `bytesPerSecond:N` fault: slow downloads).
import { Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** A pass-through that lets `bytesPerSecond` bytes through per second, in slices of about 50 ms. */
export function pace(bytesPerSecond: number): Transform {
  const slice = Math.max(1, Math.floor(bytesPerSecond / 20));
  const started = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      void (async () => {
        for (let off = 0; off < chunk.length; off += slice) {
          const part = chunk.subarray(off, off + slice);
          sent += part.length;
          const wait = started + (sent / bytesPerSecond) * 1000 - Date.now();
          if (wait > 0) await sleep(wait);
          this.push(part);
        }
      })().then(() => done(), done);
    },
  });
}
