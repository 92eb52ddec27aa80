// Bundle benchmark: 8 delivered files (two jobs of four) in the sandbox's Cloud Storage packed into
// one zip and one tar.gz by the pipeline's buildBundle (real adapters: GcsArchiveStore,
// NodeRsCrc32c, yazl / tar-stream + zlib), against a copy of the same bytes object → object
// through the same ArchiveStore (what a transfer of those bytes costs in the bucket, without
// packing). Each run is a child process of its own (test/bench/bundle-worker.ts, bundled to plain
// Node with esbuild) so that its peak RSS is measured alone. The files are random bytes (as
// archives are: incompressible), written once per size before anything is timed.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Storage } from '@google-cloud/storage';
import { NodeRsCrc32c } from '../../functions/adapters/node-rs-crc32c.js';
import { storageOptions } from '../../functions/platform/clients.js';
import { REPO_ROOT } from '../../infra/local/functions.js';
import { startSandbox } from '../../infra/sandbox/server.js';
import type { BundleOutcome, BundleTask } from './bundle-worker.js';
import { buildChild, runChild } from './child.js';

export const BUNDLE_TARGETS = { peakRssMB: 200 } as const;
const MiB = 1024 * 1024;
const WORKER = join(import.meta.dirname, 'bundle-worker.ts');

export interface BundleSizeFigures {
  readonly label: string;
  readonly bytes: number;
  readonly copy: BundleOutcome;
  readonly zip: BundleOutcome;
  readonly tarGz: BundleOutcome;
}

export interface BundleBenchResult {
  readonly sizes: readonly BundleSizeFigures[];
}

const mbps = (o: BundleOutcome) => o.bytes / MiB / o.seconds;
const label = (bytes: number) => (bytes >= 1024 * MiB ? `${bytes / 1024 / MiB} GiB` : `${bytes / MiB} MiB`);

export async function runBundleBench(options: { sizesMiB: readonly number[]; log: (line: string) => void }): Promise<BundleBenchResult> {
  mkdirSync(join(REPO_ROOT, '.local', 'bench'), { recursive: true });
  const dir = mkdtempSync(join(REPO_ROOT, '.local', 'bench', 'bundle-'));
  const sandbox = await startSandbox({ port: 0, cacheDir: dir });
  try {
    const storage = new Storage(storageOptions('bench', sandbox.baseUrl));
    const bucket = `bench-bundle-${randomBytes(3).toString('hex')}`;
    await storage.createBucket(bucket);
    const worker = await buildChild(WORKER, 'bundle-worker');
    const sizes: BundleSizeFigures[] = [];
    for (const total of options.sizesMiB.map((m) => m * MiB)) {
      options.log(`bundle: writing 8 files of ${label(total / 8)}`);
      const files = await seed(storage, bucket, total / 8);
      const run = async (mode: BundleTask['mode'], format: BundleTask['format']) => {
        options.log(`bundle: ${label(total)} ${mode === 'copy' ? 'copy' : format}`);
        return runWorker(worker, { mode, format, storageUrl: sandbox.baseUrl, bucket, files }, 1_800_000);
      };
      const copy = await run('copy', 'zip');
      const zip = await run('bundle', 'zip');
      const tarGz = await run('bundle', 'tar.gz');
      sizes.push({ label: label(total), bytes: total, copy, zip, tarGz });
      await Promise.all(files.map((f) => storage.bucket(bucket).file(f.object).delete()));
    }
    return { sizes };
  } finally {
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes 8 random files of `bytes` each (streamed, 1 MiB at a time) and returns their CRC32C. */
async function seed(storage: Storage, bucket: string, bytes: number): Promise<BundleTask['files'][number][]> {
  const files: BundleTask['files'][number][] = [];
  for (let i = 0; i < 8; i++) {
    const object = `delivered/${randomUUID()}/part-${i}.zip`;
    const crc = new NodeRsCrc32c().start();
    const chunks = (function* () {
      for (let sent = 0; sent < bytes; sent += MiB) {
        const chunk = randomBytes(Math.min(MiB, bytes - sent));
        crc.update(chunk);
        yield chunk;
      }
    })();
    await pipeline(Readable.from(chunks), storage.bucket(bucket).file(object).createWriteStream({ resumable: true, validation: false, contentType: 'application/zip' }));
    files.push({ object, bytes, crc32c: crc.value() });
  }
  return files;
}

/** Runs one packing (or the copy) in a child process of its own, so its peak RSS is its own. */
const runWorker = (worker: string, task: BundleTask, timeoutMs: number) =>
  runChild<BundleOutcome>(worker, 'BENCH_BUNDLE_TASK', task, timeoutMs, `bundle worker (${task.mode} ${task.format})`);

export function bundleLines(result: BundleBenchResult): string[] {
  const lines = ['bundle: 8 files packed into one object (MB/s of bytes written; copy = the same bytes object → object, no packing)'];
  lines.push('  size      copy MB/s  zip MB/s  (÷copy)  tar.gz MB/s  (÷copy)  peak RSS MB copy / zip / tar.gz (target ≤ 200)');
  for (const s of result.sizes) {
    const c = mbps(s.copy);
    lines.push(
      `  ${s.label.padEnd(8)}  ${c.toFixed(1).padStart(9)}  ${mbps(s.zip).toFixed(1).padStart(8)}  ${(mbps(s.zip) / c).toFixed(2).padStart(7)}  ${mbps(s.tarGz).toFixed(1).padStart(11)}  ${(mbps(s.tarGz) / c).toFixed(2).padStart(7)}  ` +
        `${s.copy.peakRssMB.toFixed(0)} / ${s.zip.peakRssMB.toFixed(0)} / ${s.tarGz.peakRssMB.toFixed(0)}` +
        `${Math.max(s.zip.peakRssMB, s.tarGz.peakRssMB) <= BUNDLE_TARGETS.peakRssMB ? ' PASS' : ' MISS'}`,
    );
    lines.push(
      `            CPU s: copy ${s.copy.cpuSeconds.toFixed(1)}, zip ${s.zip.cpuSeconds.toFixed(1)}, tar.gz ${s.tarGz.cpuSeconds.toFixed(1)}; tar.gz ${(s.tarGz.bytes / s.bytes).toFixed(3)} of the input`,
    );
  }
  return lines;
}

export function bundleJson(result: BundleBenchResult) {
  return {
    sizes: result.sizes.map((s) => ({
      label: s.label,
      bytes: s.bytes,
      copyMBps: mbps(s.copy),
      zipMBps: mbps(s.zip),
      tarGzMBps: mbps(s.tarGz),
      zipRatio: mbps(s.zip) / mbps(s.copy),
      tarGzRatio: mbps(s.tarGz) / mbps(s.copy),
      peakRssMB: { copy: s.copy.peakRssMB, zip: s.zip.peakRssMB, tarGz: s.tarGz.peakRssMB },
      cpuSeconds: { copy: s.copy.cpuSeconds, zip: s.zip.cpuSeconds, tarGz: s.tarGz.cpuSeconds },
    })),
    targets: BUNDLE_TARGETS,
  };
}
