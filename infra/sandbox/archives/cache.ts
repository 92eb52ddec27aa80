// Archive parts are generated once into the cache folder (keyed by their content spec) and then
// streamed from disk. Concurrent requests for the same part share one generation.
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { endedProcess } from '../lib/processes.js';
import type { ArchiveSpec } from './content.js';
import { partEntries } from './content.js';
import type { WrittenZip } from './zip.js';
import { writeZip } from './zip.js';

/** Part of every cache key: a new zip layout or content generator must not reuse older files. */
const GENERATOR_VERSION = 2;

export interface CachedPart extends WrittenZip {
  path: string;
}

export class ArchiveCache {
  private readonly inflight = new Map<string, Promise<CachedPart>>();
  /** Parts this process generated or found complete: later requests skip the disk check. */
  private readonly ready = new Map<string, CachedPart>();
  /** Once per process, before its first generation: temp files of sandboxes that ended mid-generation. */
  private swept: Promise<void> | undefined;

  constructor(readonly dir: string) {}

  key(spec: ArchiveSpec, index: number): string {
    const material = JSON.stringify([GENERATOR_VERSION, spec.resources, spec.startTime ?? null, spec.exportTime, spec.archiveBytes, spec.archivePartBytes, index]);
    return createHash('sha256').update(material).digest('hex').slice(0, 40);
  }

  ensure(spec: ArchiveSpec, index: number): Promise<CachedPart> {
    const key = this.key(spec, index);
    const known = this.ready.get(key);
    if (known) return Promise.resolve(known);
    const running = this.inflight.get(key);
    if (running) return running;
    const work = this.load(key, spec, index)
      .then((part) => {
        this.ready.set(key, part);
        return part;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, work);
    return work;
  }

  private async load(key: string, spec: ArchiveSpec, index: number): Promise<CachedPart> {
    const path = join(this.dir, `${key}.zip`);
    const metaPath = join(this.dir, `${key}.json`);
    try {
      const meta = JSON.parse(await readFile(metaPath, 'utf8')) as WrittenZip;
      if ((await stat(path)).size === meta.size) return { ...meta, path };
    } catch {
      // not cached yet (or damaged): generate below
    }
    await mkdir(this.dir, { recursive: true });
    await (this.swept ??= this.sweep());
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    const file = await open(tmp, 'w');
    let written: WrittenZip;
    try {
      written = await writeZip(file, partEntries(spec, index), spec.exportTime);
    } catch (err) {
      await file.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await file.close();
    await rename(tmp, path);
    await writeFile(metaPath, JSON.stringify(written));
    return { ...written, path };
  }

  /**
   * Removes `<key>.zip.<pid>.<ms>.tmp` files whose process has ended: a sandbox stopped while it
   * generated a part leaves its temp file, which no later run would use. Other live sandboxes
   * sharing the folder keep theirs.
   */
  private async sweep(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      const pid = /^[0-9a-f]+\.zip\.(\d+)\.\d+\.tmp$/.exec(name)?.[1];
      if (pid !== undefined && endedProcess(Number(pid))) await rm(join(this.dir, name), { force: true });
    }
  }
}
