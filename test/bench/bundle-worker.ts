// Child process of the bundle benchmark (test/bench/bundle.ts): one run per process, so its peak
// RSS is its own. Reads its task from BENCH_BUNDLE_TASK (JSON), prints one JSON line on stdout.
// Modes:
// - `bundle`: buildBundle with the adapters the composition root builds (GcsArchiveStore on the
//   sandbox's Cloud Storage, NodeRsCrc32c, the zip or tar.gz packer, TokenVault + local key);
//   records in memory (the bench measures the bytes, not Firestore);
// - `copy`: the same objects streamed one after another into new objects through the same
//   ArchiveStore (read → resumable upload, CRC32C computed and checked): what moving those bytes
//   through the bucket costs, as a transfer of them does, without packing.
import { randomBytes, randomUUID } from 'node:crypto';
import { Storage } from '@google-cloud/storage';
import { GcsArchiveStore } from '../../functions/adapters/gcs-archive-store.js';
import { LocalKeyWrapper } from '../../functions/adapters/local-key-wrapper.js';
import { NodeRsCrc32c } from '../../functions/adapters/node-rs-crc32c.js';
import { TarStreamBundlePacker } from '../../functions/adapters/tar-stream-bundle-packer.js';
import { YazlBundlePacker } from '../../functions/adapters/yazl-bundle-packer.js';
import { buildBundle } from '../../functions/core/bundles/build.js';
import type { Bundle, BundleMember } from '../../functions/core/bundles/model.js';
import { requestBundle } from '../../functions/core/bundles/trigger.js';
import type { Consent } from '../../functions/core/consent/model.js';
import type { ExportDeps } from '../../functions/core/exports/deps.js';
import { newJob, type ExportJob, type ExportLane } from '../../functions/core/exports/model.js';
import { systemClock } from '../../functions/core/ports/clock.js';
import { TokenVault } from '../../functions/core/token-vault.js';
import { storageOptions } from '../../functions/platform/clients.js';
import { MemoryRecordStore } from '../fakes/memory-record-store.js';
import { MemoryWorkQueue } from '../fakes/memory-work-queue.js';

export interface BundleTask {
  readonly mode: 'bundle' | 'copy';
  readonly format: 'zip' | 'tar.gz';
  readonly storageUrl: string;
  readonly bucket: string;
  /** The delivered files: two jobs of four files each. */
  readonly files: readonly { readonly object: string; readonly bytes: number; readonly crc32c: string }[];
}

export interface BundleOutcome {
  readonly mode: string;
  readonly seconds: number;
  /** Bytes written (the bundle object, or the copies). */
  readonly bytes: number;
  readonly peakRssMB: number;
  readonly cpuSeconds: number;
}

async function main(): Promise<void> {
  const task = JSON.parse(process.env['BENCH_BUNDLE_TASK'] ?? '{}') as BundleTask;
  const storage = new Storage(storageOptions('bench', task.storageUrl));
  const archive = new GcsArchiveStore(async () => storage, task.bucket, undefined, false);
  const crc32c = new NodeRsCrc32c();
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  let bytes = 0;
  if (task.mode === 'copy') {
    for (const f of task.files) {
      const target = `copies/${randomUUID()}`;
      const session = await archive.beginUpload(target, 'application/zip');
      const sink = archive.continueUpload({ session, object: target, offset: 0, totalBytes: f.bytes });
      const crc = crc32c.start();
      for await (const chunk of await archive.read(f.object)) {
        crc.update(chunk as Buffer);
        if (!sink.stream.write(chunk)) await new Promise((r) => sink.stream.once('drain', r));
      }
      sink.stream.end();
      const stored = await sink.done;
      if (stored.crc32c !== crc.value() || stored.crc32c !== f.crc32c) throw new Error(`copy of ${f.object} does not verify`);
      bytes += stored.bytes;
    }
  } else {
    const deps = depsFor(archive, crc32c);
    const jobs: string[] = [];
    for (let j = 0; j < 2; j++) {
      const id = randomBytes(16).toString('hex');
      const files = task.files.slice(j * 4, j * 4 + 4);
      const job: ExportJob = {
        ...newJob({ consentId: 'bench', appUserId: 'bench', resource: `group-${j}`, slot: 'bench', startTime: null, endTime: null }, new Date()),
        state: 'DELIVERED',
        exportTime: new Date('2026-01-01T00:00:00Z'),
        files: files.map((f, i) => ({
          index: i,
          name: `part-${i}.zip`,
          object: f.object,
          state: 'DONE',
          bytes: f.bytes,
          crc32c: f.crc32c,
          md5: null,
          lease: null,
          checkpoint: null,
          attempts: 0,
        })),
      };
      await deps.jobs.create(id, job);
      jobs.push(id);
    }
    const requested = await requestBundle(deps, { format: task.format, subject: 'consents/bench', appUserId: 'bench', folder: `bench-${randomUUID()}/`, jobs });
    const id = requested.name.slice('bundles/'.length);
    let result = await buildBundle(deps, id);
    while (result === 'continued') result = await buildBundle(deps, id);
    if (result !== 'delivered') throw new Error(`bundle ended ${result}: ${(await deps.bundles.get(id))?.detail ?? ''}`);
    bytes = (await deps.bundles.get(id))!.bytes ?? 0;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  const outcome: BundleOutcome = { mode: task.mode, seconds, bytes, peakRssMB: process.resourceUsage().maxRSS / 1024, cpuSeconds: (used.user + used.system) / 1e6 };
  process.stdout.write(JSON.stringify(outcome) + '\n');
}

function depsFor(archive: GcsArchiveStore, crc32c: NodeRsCrc32c): ExportDeps {
  const unused = new MemoryRecordStore<never>();
  return {
    clock: systemClock,
    jobs: new MemoryRecordStore<ExportJob>(),
    lanes: new MemoryRecordStore<ExportLane>(),
    consents: new MemoryRecordStore<Consent>(),
    tenants: unused,
    upstream: unused as never,
    queue: new MemoryWorkQueue(),
    archive,
    downloader: unused as never,
    crc32c,
    vault: new TokenVault(new LocalKeyWrapper(randomBytes(32))),
    settings: { objectPrefix: '', leaseSeconds: 600, transferBudgetSeconds: 420, checkpointBytes: 64 * 1024 * 1024, sweepLimit: 100, tickBatch: 100, expiringLeadSeconds: 0 },
    oauth: unused as never,
    bundles: new MemoryRecordStore<Bundle>(),
    bundleMembers: new MemoryRecordStore<BundleMember>(),
    packers: { zip: new YazlBundlePacker(), 'tar.gz': new TarStreamBundlePacker() },
    newOwner: () => randomUUID(),
  };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
