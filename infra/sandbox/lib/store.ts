import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxState } from './state.js';

/** Changes are written at most this often (the whole state is one JSON file). */
const FLUSH_INTERVAL_MS = 200;

/**
 * Holds the state in memory and, when given a data folder, saves it as JSON after changes
 * (coalesced to one write per 200 ms, so a busy sandbox does not serialise its whole state on
 * every request; temp file + rename so a crash never leaves a half-written file; closing the
 * server writes what is pending) and reloads it at start.
 */
export class StateStore {
  private pending: NodeJS.Timeout | undefined;

  private constructor(
    readonly state: SandboxState,
    private readonly file: string | undefined,
  ) {}

  static open(dataDir: string | undefined, fresh: () => SandboxState): StateStore {
    if (!dataDir) return new StateStore(fresh(), undefined);
    mkdirSync(dataDir, { recursive: true });
    const file = join(dataDir, 'state.json');
    let state: SandboxState;
    try {
      const loaded = JSON.parse(readFileSync(file, 'utf8')) as SandboxState;
      const base = fresh();
      state = loaded.version === 1 ? { ...base, ...loaded, config: { ...base.config, ...loaded.config } } : base;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`sandbox: cannot read ${file}: ${(err as Error).message}`);
      }
      state = fresh();
    }
    const store = new StateStore(state, file);
    store.flush();
    return store;
  }

  get persistent(): boolean {
    return this.file !== undefined;
  }

  /** Marks the state changed; it is written within `FLUSH_INTERVAL_MS`. */
  changed(): void {
    if (!this.file || this.pending) return;
    this.pending = setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
    this.pending.unref();
  }

  flush(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    if (!this.file) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.file);
  }
}
