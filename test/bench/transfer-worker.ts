// Child process of the transfer benchmark (test/bench/transfer.ts): one copy per process, so its
// peak RSS is the copy's own. Reads its task from BENCH_TRANSFER_TASK (JSON), prints one JSON
// line on stdout. Modes:
// - `pipeline`: transferFile with the ports the composition root (functions/platform/runtime.ts)
//   builds — GcsArchiveStore, HttpArchiveDownloader, NodeRsCrc32c, TokenVault + local key, a
//   Firestore emulator-backed job store — except the export source (a double naming the URL) and
//   the work queue (in memory);
// - `baseline`: fetch → fs.createWriteStream, nothing else;
// - `plainUpload`: fetch → the storage client's resumable upload (same chunk size), no pipeline:
//   what the local Cloud Storage itself allows;
// - `storageOnly`: bytes from memory → the same upload, no download: the local Cloud Storage's
//   own ingest speed on this machine.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ExportSource } from '../../functions/core/ports/export-source.js';
import type { RecordStore } from '../../functions/core/ports/record-store.js';

export interface TransferTask {
  readonly mode: 'pipeline' | 'baseline' | 'plainUpload' | 'storageOnly';
  /** The archive's signed URL (a local sandbox URL). */
  readonly url: string;
  /** The archive's file name upstream (takeout-…-001.zip). */
  readonly name: string;
  readonly bytes: number;
  /** baseline: where to write. */
  readonly file?: string;
  /** pipeline / plainUpload */
  readonly projectId?: string;
  readonly firestoreHost?: string;
  readonly storageUrl?: string;
  readonly bucket?: string;
  readonly object?: string;
  readonly chunkBytes?: number;
  readonly objectPrefix?: string;
}

export interface TransferOutcome {
  readonly mode: TransferTask['mode'];
  readonly seconds: number;
  readonly bytes: number;
  /** process.resourceUsage().maxRSS at the end, in MiB. */
  readonly peakRssMB: number;
  /** RSS once everything was loaded and set up, just before the timed copy, in MiB. */
  readonly rssBeforeMB: number;
  /** CPU seconds (user + system) this process spent in the timed copy. */
  readonly cpuSeconds: number;
  /** pipeline: what transferFile returned, the object written and the job's recorded file. */
  readonly result?: string;
  readonly object?: string;
  /** pipeline: job-record updates during the copy, and the wall seconds spent waiting for them. */
  readonly jobUpdates?: number;
  readonly jobUpdateSeconds?: number;
  readonly recorded?: { readonly state: string; readonly bytes: number | null; readonly crc32c: string | null } | null;
  /** storageOnly: the CRC32C of the bytes sent (computed before the timing). */
  readonly sentCrc32c?: string;
}

const MiB = 1024 * 1024;

async function timed(mode: TransferTask['mode'], bytes: number, copy: () => Promise<Partial<TransferOutcome>>): Promise<TransferOutcome> {
  const rssBeforeMB = process.memoryUsage().rss / MiB;
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const extra = await copy();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  return { mode, seconds, bytes, peakRssMB: process.resourceUsage().maxRSS / 1024, rssBeforeMB, cpuSeconds: (used.user + used.system) / 1e6, ...extra };
}

async function baseline(task: TransferTask): Promise<TransferOutcome> {
  if (!task.file) throw new Error('baseline needs a file');
  const file = task.file;
  return timed('baseline', task.bytes, async () => {
    const res = await fetch(task.url);
    if (res.status !== 200 || !res.body) throw new Error(`baseline download: HTTP ${res.status}`);
    await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), createWriteStream(file));
    return {};
  });
}

function need<K extends keyof TransferTask>(task: TransferTask, key: K): NonNullable<TransferTask[K]> {
  const value = task[key];
  if (value === undefined || value === null) throw new Error(`${task.mode} needs ${String(key)}`);
  return value as NonNullable<TransferTask[K]>;
}

/** The storage client's resumable upload of the task's object, as both plain copies make it. */
async function uploadStream(task: TransferTask) {
  const { Storage } = await import('@google-cloud/storage');
  const { storageOptions } = await import('../../functions/platform/clients.js');
  const storage = new Storage(storageOptions(need(task, 'projectId'), need(task, 'storageUrl')));
  const file = storage.bucket(need(task, 'bucket')).file(need(task, 'object'));
  const open = () =>
    file.createWriteStream({
      resumable: true,
      validation: false,
      ...(need(task, 'chunkBytes') > 0 ? { chunkSize: need(task, 'chunkBytes') } : {}),
      preconditionOpts: { ifGenerationMatch: 0 },
    });
  return { name: file.name, open };
}

async function plainUpload(task: TransferTask): Promise<TransferOutcome> {
  const upload = await uploadStream(task);
  return timed('plainUpload', task.bytes, async () => {
    const res = await fetch(task.url);
    if (res.status !== 200 || !res.body) throw new Error(`plain upload download: HTTP ${res.status}`);
    await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>, { highWaterMark: MiB }), upload.open());
    return { object: upload.name };
  });
}

/** `bytes` bytes of one 1 MiB pattern, repeated: a source that costs nothing per byte. */
function* pattern(block: Buffer, bytes: number): Generator<Buffer> {
  for (let at = 0; at < bytes; at += block.length) yield block.subarray(0, Math.min(block.length, bytes - at));
}

async function storageOnly(task: TransferTask): Promise<TransferOutcome> {
  const upload = await uploadStream(task);
  const { crc32c } = await import('@node-rs/crc32');
  const block = randomBytes(MiB);
  let crc = 0;
  for (const piece of pattern(block, task.bytes)) crc = crc32c(piece, crc);
  const sent = Buffer.alloc(4);
  sent.writeUInt32BE(crc >>> 0);
  return timed('storageOnly', task.bytes, async () => {
    await pipeline(Readable.from(pattern(block, task.bytes)), upload.open());
    return { object: upload.name, sentCrc32c: sent.toString('base64') };
  });
}

async function pipelineCopy(task: TransferTask): Promise<TransferOutcome> {
  // Loaded here so the baseline process does not carry these modules.
  const [{ Firestore }, clients, store, runtime, transfer, model, naming, fakes, fixtures] = await Promise.all([
    import('@google-cloud/firestore'),
    import('../../functions/platform/clients.js'),
    import('../../functions/adapters/firestore-record-store.js'),
    import('../../functions/platform/runtime.js'),
    import('../../functions/core/exports/transfer.js'),
    import('../../functions/core/exports/model.js'),
    import('../../functions/core/exports/naming.js'),
    import('../fakes/memory-work-queue.js'),
    import('../fixtures/env.js'),
  ]);

  const projectId = need(task, 'projectId');
  const firestore = new Firestore(clients.firestoreOptions(projectId, '(default)', need(task, 'firestoreHost')));
  // Time spent in job-record updates (the lease, a checkpoint every chunk, the completion).
  const storeTime = { updates: 0, seconds: 0 };
  const timedStore = <T>(inner: RecordStore<T>): RecordStore<T> => ({
    get: (id) => inner.get(id),
    create: (id, value) => inner.create(id, value),
    delete: (id) => inner.delete(id),
    list: (query) => inner.list(query),
    listDue: (query) => inner.listDue(query),
    async update(id, mutate, options) {
      const started = process.hrtime.bigint();
      try {
        return await inner.update(id, mutate, options);
      } finally {
        storeTime.updates += 1;
        storeTime.seconds += Number(process.hrtime.bigint() - started) / 1e9;
      }
    },
  });
  // The source is not what is measured: a double that names the sandbox archive's signed URL.
  const source: ExportSource = {
    start: () => Promise.reject(new Error('not used by the benchmark')),
    state: async () => ({ state: 'COMPLETE', files: [{ name: task.name, url: task.url }], exportTime: null, startTime: null }),
    retry: () => Promise.reject(new Error('not used by the benchmark')),
    cancel: async () => undefined,
    release: async () => undefined,
  };
  // The composition root builds every other port as in production: GcsArchiveStore on a Storage
  // client from storageOptions (the sandbox endpoint), HttpArchiveDownloader, NodeRsCrc32c,
  // TokenVault with the local key wrapper, TRANSFER_CHUNK_BYTES' production default.
  const rt = runtime.createRuntime(
    fixtures.developmentEnv({
      GOOGLE_CLOUD_PROJECT: projectId,
      FIRESTORE_EMULATOR_HOST: need(task, 'firestoreHost'),
      STORAGE_EMULATOR_HOST: need(task, 'storageUrl'),
      ARCHIVE_BUCKET: need(task, 'bucket'),
      ARCHIVE_PREFIX: task.objectPrefix ?? 'bench',
      TRANSFER_CHUNK_BYTES: String(need(task, 'chunkBytes')),
      // Long enough that the bench never hands over mid-file.
      TRANSFER_BUDGET_SECONDS: '540',
      LEASE_SECONDS: '900',
    }),
    {
      source,
      queue: new fakes.MemoryWorkQueue(),
      store: <T>(collection: string) => {
        const inner = new store.FirestoreRecordStore<T>(firestore, collection);
        return collection === 'jobs' ? timedStore(inner) : inner;
      },
    },
  );
  const deps = rt.exportDeps();

  const now = new Date();
  const consentId = `bench-consent-${randomBytes(6).toString('hex')}`;
  const appUserId = `bench-user-${randomBytes(4).toString('hex')}`;
  const resource = 'myactivity.search';
  await deps.consents.create(consentId, {
    appUserId,
    groups: [{ resource: 'myactivity.search', accessType: 'ONE_TIME' }],
    grantedAt: now,
    expiresAt: null,
    status: 'ACTIVE',
    updatedAt: now,
    token: null,
  });
  const fresh = model.newJob({ consentId, appUserId, resource, slot: 'bench', startTime: null, endTime: null }, now);
  const object = naming.objectName(deps.settings.objectPrefix, fresh, now, task.name);
  const id = model.jobId(consentId, resource, 'bench');
  await deps.jobs.create(id, {
    ...fresh,
    state: 'TRANSFERRING',
    accessType: 'ONE_TIME',
    upstreamId: 'bench-upstream-job',
    upstreamStartedAt: now,
    exportTime: now,
    files: [{ index: 0, name: task.name, object, state: 'PENDING', bytes: null, crc32c: null, md5: null, lease: null, checkpoint: null, attempts: 0 }],
  });
  // Warm the Firestore channel and the Storage client outside the timing (first use opens/loads them).
  await deps.jobs.get(id);
  await deps.archive.stat(`${object}.warm-up`);
  storeTime.updates = 0;
  storeTime.seconds = 0;

  const outcome = await timed('pipeline', task.bytes, async () => ({ result: await transfer.transferFile(deps, id, 0) }));
  const after = await deps.jobs.get(id);
  const file = after?.files[0];
  await rt.close();
  await firestore.terminate();
  return {
    ...outcome,
    object,
    jobUpdates: storeTime.updates,
    jobUpdateSeconds: storeTime.seconds,
    recorded: file && after ? { state: after.state, bytes: file.bytes, crc32c: file.crc32c } : null,
  };
}

async function main(): Promise<void> {
  const task = JSON.parse(process.env['BENCH_TRANSFER_TASK'] ?? 'null') as TransferTask | null;
  if (!task) throw new Error('BENCH_TRANSFER_TASK is not set');
  const copies = { baseline, plainUpload, storageOnly, pipeline: pipelineCopy } as const;
  const outcome = await copies[task.mode](task);
  process.stdout.write(JSON.stringify(outcome) + '\n');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`transfer worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
