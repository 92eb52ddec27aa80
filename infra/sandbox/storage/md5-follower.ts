// MD5 of stored bytes, hashed off the request thread. Cloud Storage reports `md5Hash` for every
// object; hashing it on the thread that receives the upload cost the local Cloud Storage more
// than half of its CPU time and made it the slowest step of any large local transfer. A worker
// thread follows each file as its bytes become final (read back from the page cache) and answers
// the digest of a prefix when an upload finalises, usually with little left to hash by then.
import { Worker } from 'node:worker_threads';

/**
 * The worker: per path, an MD5 state over the bytes [0, at) read so far. `advance` hashes up to a
 * length when the thread is free; `digest` answers the base64 MD5 of [0, length); `forget` drops a
 * path's state. A state ahead of what is asked, or a read that comes up short (the file was
 * trimmed meanwhile), starts again from byte 0 at the next use. Plain JS: it runs without the
 * TypeScript loader the sandbox itself may run under.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const states = new Map();
const buffer = Buffer.allocUnsafe(1024 * 1024);
function advance(path, to) {
  let state = states.get(path);
  if (!state || state.at > to) {
    state = { hash: createHash('md5'), at: 0 };
    states.set(path, state);
  }
  if (state.at === to) return state;
  const fd = openSync(path, 'r');
  try {
    while (state.at < to) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, to - state.at), state.at);
      if (n === 0) throw new Error('the file ends at byte ' + state.at + ', before ' + to);
      state.hash.update(buffer.subarray(0, n));
      state.at += n;
    }
  } catch (error) {
    states.delete(path);
    throw error;
  } finally {
    closeSync(fd);
  }
  return state;
}
parentPort.on('message', (m) => {
  if (m.op === 'forget') states.delete(m.path);
  else if (m.op === 'advance') {
    try { advance(m.path, m.to); } catch { /* hashed again from byte 0 when asked */ }
  } else if (m.op === 'digest') {
    try {
      parentPort.postMessage({ id: m.id, md5: advance(m.path, m.to).hash.copy().digest('base64') });
    } catch (error) {
      parentPort.postMessage({ id: m.id, error: String(error && error.message) });
    }
  }
});
`;

type Message = { op: 'advance' | 'digest'; path: string; to: number; id?: number } | { op: 'forget'; path: string };

export class Md5Follower {
  private worker: { thread: Worker; waiting: Map<number, Waiter> } | undefined;
  private nextId = 0;

  /** Bytes [0, length) of `path` are final (never rewritten): hash them when the thread is free. */
  advance(path: string, length: number): void {
    this.post({ op: 'advance', path, to: length });
  }

  /** Base64 MD5 of bytes [0, length) of `path`, which must hold them. */
  digest(path: string, length: number): Promise<string> {
    const id = this.nextId++;
    const { thread, waiting } = this.start();
    return new Promise<string>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      thread.postMessage({ op: 'digest', path, to: length, id } satisfies Message);
    });
  }

  /** Drops what is known of `path` (finalised, failed, cancelled, or trimmed below what was announced). */
  forget(path: string): void {
    // Without a thread nothing is known of any path.
    this.worker?.thread.postMessage({ op: 'forget', path } satisfies Message);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.thread.terminate();
  }

  private post(message: Message): void {
    this.start().thread.postMessage(message);
  }

  private start(): { thread: Worker; waiting: Map<number, Waiter> } {
    if (this.worker) return this.worker;
    const thread = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    const waiting = new Map<number, Waiter>();
    // Never what keeps the sandbox process alive.
    thread.unref();
    thread.on('message', (m: { id: number; md5?: string; error?: string }) => {
      const waiter = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.md5 !== undefined) waiter?.resolve(m.md5);
      else waiter?.reject(new Error(`MD5: ${m.error ?? 'failed'}`));
    });
    const gone = (error: Error) => {
      if (this.worker?.thread === thread) this.worker = undefined;
      for (const waiter of waiting.values()) waiter.reject(error);
      waiting.clear();
    };
    thread.on('error', gone);
    thread.on('exit', (code) => gone(new Error(`MD5: the hashing thread exited (${code})`)));
    this.worker = { thread, waiting };
    return this.worker;
  }
}

interface Waiter {
  resolve(md5: string): void;
  reject(error: Error): void;
}
