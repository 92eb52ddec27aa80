// Transfer benchmark: an archive served by the sandbox as a signed URL, copied into the sandbox's
// Cloud Storage by the pipeline's transferFile (real adapters, Firestore emulator job store),
// against a plain streamed copy of the same URL to a file — in the same run, each copy in a child
// process of its own (test/bench/transfer-worker.ts) so that its peak RSS is measured alone.
// A third copy, fetch → the storage client's resumable upload without the pipeline, shows what the
// local Cloud Storage allows with the download; a fourth, bytes from memory → the same upload,
// what it allows by itself. Every process shares this machine's cores, the local Cloud Storage
// included (it checksums every byte with CRC32C and MD5 and writes it to disk), so the bench also
// prints each copy's CPU seconds and the ratio those allow: the baseline's wall time against the
// pipeline's CPU spread perfectly over the cores (an upper bound: the Firestore emulator's CPU is
// not counted). The archives are generated once (into a cache folder that later runs reuse) and
// read once before anything is timed.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { storageOptions } from '../../functions/platform/clients.js';
import { startFirestoreEmulator } from '../../infra/local/emulators.js';
import { REPO_ROOT } from '../../infra/local/functions.js';
import { killGroup } from '../../infra/local/processes.js';
import { startSandbox, type RunningSandbox } from '../../infra/sandbox/server.js';
import { api, connect } from '../integration/sandbox/helpers.js';
import { buildChild, profileArgs, runChild } from './child.js';
import type { TransferOutcome, TransferTask } from './transfer-worker.js';

export const TRANSFER_TARGETS = { ratio: 0.8, peakRssMB: 200, rssSpread: 0.1 } as const;
/** The production default of TRANSFER_CHUNK_BYTES (functions/platform/config.ts): one streamed request. */
export const CHUNK_BYTES = 0;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** A fixed export time makes the archives' content (and so the sandbox's cache key) the same in every run. */
const EXPORT_TIME = '2026-01-01T00:00:00Z';
const GROUPS = ['myactivity.search', 'chrome.history'] as const;
const WORKER = join(import.meta.dirname, 'transfer-worker.ts');
/** Figures of one size: speeds are medians over the rounds, peak RSS the largest of them. */
export interface SizeFigures {
  readonly label: string;
  readonly bytes: number;
  readonly pipelineMBps: number;
  readonly baselineMBps: number;
  readonly plainUploadMBps: number;
  readonly storageOnlyMBps: number;
  /** Median pipeline MB/s ÷ median baseline MB/s. */
  readonly ratio: number;
  /** Pipeline ÷ baseline within each round. */
  readonly roundRatios: readonly number[];
  /** Wall seconds of the median pipeline round (the CPU and job-update figures are of that round). */
  readonly pipelineSeconds: number;
  readonly rounds: readonly { readonly baselineMBps: number; readonly pipelineMBps: number; readonly plainUploadMBps: number; readonly storageOnlyMBps: number }[];
  readonly peakRssMB: number;
  readonly rssBeforeMB: number;
  readonly baselinePeakRssMB: number;
  readonly plainUploadPeakRssMB: number;
  readonly pipelineCpuSeconds: number;
  /** CPU seconds during the pipeline copy: this process (the sandbox serving the archive; includes the worker's start). */
  readonly sandboxCpuSeconds: number;
  /** CPU seconds during the pipeline copy of the Cloud Storage sandbox process (NaN when it shares this process). */
  readonly storageCpuSeconds: number;
  /** CPU seconds of the baseline round paired with the median pipeline round: the copy's process, and this process (serving the archive). */
  readonly baselineCpuSeconds: number;
  readonly baselineSandboxCpuSeconds: number;
  /**
   * Per round, the largest ratio this machine allows the pipeline: the baseline's wall seconds ÷
   * (the pipeline round's CPU seconds, of every process, ÷ the cores). Unknown (NaN) when the
   * storage sandbox shares this process.
   */
  readonly cpuCeilings: readonly number[];
  /** Job-record updates during the pipeline copy and the seconds the copy waited for them. */
  readonly jobUpdates: number;
  readonly jobUpdateSeconds: number;
}

export interface TransferResult {
  readonly sizes: readonly SizeFigures[];
  readonly storage: 'separate-process' | 'same-process';
}

function label(bytes: number): string {
  return bytes >= GiB && bytes % GiB === 0 ? `${bytes / GiB}GiB` : `${bytes / MiB}MiB`;
}

/** Runs one copy in a child process of its own. */
const runWorker = (worker: string, task: TransferTask, timeoutMs: number) =>
  runChild<TransferOutcome>(worker, 'BENCH_TRANSFER_TASK', task, timeoutMs, `transfer worker (${task.mode}, ${label(task.bytes)})`);

/** A sandbox in a process of its own (the CLI), for the Cloud Storage side. */
async function startSandboxProcess(cacheDir: string): Promise<{ baseUrl: string; cpuSeconds(): number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [...profileArgs(), '--import', 'tsx', join(REPO_ROOT, 'infra', 'sandbox', 'main.ts')], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SANDBOX_CACHE_DIR: cacheDir, SANDBOX_HOST: '127.0.0.1' },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('storage sandbox: could not start');
  const stop = async () => {
    killGroup(pid, 'SIGTERM');
    for (let i = 0; i < 50 && child.exitCode === null && child.signalCode === null; i++) await new Promise((r) => setTimeout(r, 100));
    killGroup(pid, 'SIGKILL');
  };
  try {
    const baseUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('storage sandbox did not start within 60 s')), 60_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString('utf8');
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`storage sandbox exited with ${code}`));
      });
    });
    return { baseUrl, cpuSeconds: () => processCpuSeconds(pid), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** User + system CPU seconds of a process so far (Linux /proc; NaN elsewhere). */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

interface Archive {
  readonly bytes: number;
  readonly url: string;
  readonly name: string;
  readonly crc32c: string;
}

/** A real sandbox job per size: consent (automation), initiate, complete now, read the signed URL; then read it once. */
async function prepareArchives(sandbox: RunningSandbox, sizes: readonly number[]): Promise<Archive[]> {
  const base = sandbox.baseUrl;
  const put = await fetch(`${base}/sandbox/v1/config`, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ archiveBytesByResource: Object.fromEntries(sizes.map((s, i) => [GROUPS[i] ?? '', s])), jobDurationSeconds: 3600 }),
  });
  if (!put.ok) throw new Error(`sandbox config: HTTP ${put.status} ${await put.text()}`);
  const grant = await connect(base, GROUPS.slice(0, sizes.length), { duration: 'ONE_TIME' });
  const portability = api(base, grant.accessToken);
  const archives: Archive[] = [];
  for (const [i, bytes] of sizes.entries()) {
    const started = await portability.initiate({ resources: [GROUPS[i]], endTime: EXPORT_TIME });
    if (started.status !== 200) throw new Error(`initiate: HTTP ${started.status} ${JSON.stringify(started.body)}`);
    const jobId = String(started.body['archiveJobId']);
    const done = await fetch(`${base}/sandbox/v1/jobs/${jobId}:complete`, { method: 'POST' });
    if (!done.ok) throw new Error(`complete: HTTP ${done.status}`);
    const state = await portability.state(jobId);
    const urls = state.body['urls'];
    if (state.body['state'] !== 'COMPLETE' || !Array.isArray(urls) || urls.length !== 1) throw new Error(`archive state: ${JSON.stringify(state.body)}`);
    const url = String(urls[0]);
    // Generates the archive (or finds it in the cache) and reads it once, outside any timing.
    const res = await fetch(url);
    let read = 0;
    for await (const chunk of res.body ?? []) read += (chunk as Uint8Array).length;
    const crc32c = /crc32c=([^,]+)/.exec(res.headers.get('x-goog-hash') ?? '')?.[1];
    if (res.status !== 200 || read !== bytes || !crc32c) throw new Error(`archive download: HTTP ${res.status}, ${read} of ${bytes} bytes, hash ${res.headers.get('x-goog-hash')}`);
    archives.push({ bytes, url, crc32c, name: decodeURIComponent(new URL(url).pathname.split('/').at(-1) ?? '') });
  }
  return archives;
}

async function verifyObject(storage: Storage, bucket: string, object: string, archive: Archive, what: string): Promise<void> {
  const [meta] = await storage.bucket(bucket).file(object).getMetadata();
  if (Number(meta.size) !== archive.bytes || meta.crc32c !== archive.crc32c) {
    throw new Error(`${what}: the stored object does not match the source (size ${meta.size} vs ${archive.bytes}, crc32c ${meta.crc32c} vs ${archive.crc32c})`);
  }
}

export async function runTransferBench(options: { quick: boolean; log: (line: string) => void; storage?: 'separate-process' | 'same-process' }): Promise<TransferResult> {
  const sizes = options.quick ? [16 * MiB, 64 * MiB] : [256 * MiB, 2 * GiB];
  const storageMode = options.storage ?? 'separate-process';
  const root = join(REPO_ROOT, '.local', 'bench');
  const cacheDir = join(root, 'archive-cache');
  mkdirSync(root, { recursive: true });
  const work = mkdtempSync(join(root, 'transfer-'));
  const projectId = 'bench-transfer';
  const bucket = 'bench-transfer-archives';
  const stops: (() => Promise<void>)[] = [];
  try {
    options.log(`transfer: starting the Firestore emulator and the sandbox (archives cached in ${cacheDir})`);
    const firestore = await startFirestoreEmulator({ projectId, logDir: work });
    stops.push(() => firestore.stop());
    const sandbox = await startSandbox({ port: 0, cacheDir });
    stops.push(() => sandbox.close());
    let storageUrl = sandbox.baseUrl;
    let storageCpu = () => Number.NaN;
    if (storageMode === 'separate-process') {
      const storageSandbox = await startSandboxProcess(join(work, 'storage-cache'));
      stops.push(() => storageSandbox.stop());
      storageUrl = storageSandbox.baseUrl;
      storageCpu = () => storageSandbox.cpuSeconds();
    }
    const created = await fetch(`${storageUrl}/storage/v1/b?project=${projectId}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: bucket }),
    });
    if (!created.ok) throw new Error(`bucket: HTTP ${created.status} ${await created.text()}`);
    const storage = new Storage(storageOptions(projectId, storageUrl));

    const worker = await buildChild(WORKER, 'transfer-worker');
    options.log(`transfer: preparing archives of ${sizes.map(label).join(' and ')} (generated once, then read once)`);
    const archives = await prepareArchives(sandbox, sizes);
    const figures: SizeFigures[] = [];
    const repeats = options.quick ? 1 : 3;
    for (const archive of archives) {
      const timeoutMs = 600_000;
      const common = { url: archive.url, name: archive.name, bytes: archive.bytes, projectId, firestoreHost: firestore.host, storageUrl, bucket, chunkBytes: CHUNK_BYTES };
      const rounds: Round[] = [];
      // Rounds interleave the three copies, so a busy spell of the (shared) machine hits all of them.
      for (let round = 1; round <= repeats; round++) {
        const tag = `transfer ${label(archive.bytes)} round ${round}/${repeats}`;
        const file = join(work, 'baseline.zip');
        options.log(`${tag}: baseline (fetch → file)`);
        const baselineCpu = process.cpuUsage();
        const baseline = await runWorker(worker, { mode: 'baseline', url: archive.url, name: archive.name, bytes: archive.bytes, file }, timeoutMs);
        if (statSync(file).size !== archive.bytes) throw new Error(`baseline: wrote ${statSync(file).size} of ${archive.bytes} bytes`);
        const baselineSandboxCpu = process.cpuUsage(baselineCpu);
        rmSync(file, { force: true });

        options.log(`${tag}: pipeline (transferFile → sandbox Cloud Storage)`);
        const cpu = process.cpuUsage();
        const storageCpuBefore = storageCpu();
        const pipeline = await runWorker(worker, { ...common, mode: 'pipeline', objectPrefix: `bench-${label(archive.bytes)}-${round}` }, timeoutMs);
        const sandboxCpu = process.cpuUsage(cpu);
        const storageCpuSeconds = storageCpu() - storageCpuBefore;
        if (pipeline.result !== 'delivered' || !pipeline.object) throw new Error(`pipeline: transferFile returned ${pipeline.result}`);
        if (pipeline.recorded?.state !== 'DELIVERED' || pipeline.recorded.bytes !== archive.bytes || pipeline.recorded.crc32c !== archive.crc32c) {
          throw new Error(`pipeline: the job records ${JSON.stringify(pipeline.recorded)}, the source is ${archive.bytes} bytes crc32c ${archive.crc32c}`);
        }
        await verifyObject(storage, bucket, pipeline.object, archive, 'pipeline');
        await storage.bucket(bucket).file(pipeline.object).delete();

        options.log(`${tag}: plain upload (fetch → storage client, no pipeline)`);
        const plain = await runWorker(worker, { ...common, mode: 'plainUpload', object: `plain/${label(archive.bytes)}-${round}.zip` }, timeoutMs);
        if (!plain.object) throw new Error('plain upload: no object');
        await verifyObject(storage, bucket, plain.object, archive, 'plain upload');
        await storage.bucket(bucket).file(plain.object).delete();

        options.log(`${tag}: storage only (memory → storage client, no download)`);
        const alone = await runWorker(worker, { ...common, mode: 'storageOnly', object: `alone/${label(archive.bytes)}-${round}.bin` }, timeoutMs);
        if (!alone.object || !alone.sentCrc32c) throw new Error('storage only: no object');
        await verifyObject(storage, bucket, alone.object, { ...archive, crc32c: alone.sentCrc32c }, 'storage only');
        await storage.bucket(bucket).file(alone.object).delete();
        rounds.push({
          baseline,
          pipeline,
          plain,
          alone,
          baselineSandboxCpuSeconds: seconds(baselineSandboxCpu),
          sandboxCpuSeconds: seconds(sandboxCpu),
          storageCpuSeconds,
        });
      }
      figures.push(summarise(archive.bytes, rounds));
    }
    return { sizes: figures, storage: storageMode };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

interface Round {
  readonly baseline: TransferOutcome;
  readonly pipeline: TransferOutcome;
  readonly plain: TransferOutcome;
  readonly alone: TransferOutcome;
  readonly baselineSandboxCpuSeconds: number;
  readonly sandboxCpuSeconds: number;
  readonly storageCpuSeconds: number;
}

const mbps = (o: TransferOutcome) => o.bytes / 1e6 / o.seconds;
const seconds = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1e6;
/** The pipeline round's CPU seconds over every process (NaN when the storage sandbox's are not known apart). */
const pipelineRoundCpu = (r: Round) => r.pipeline.cpuSeconds + r.sandboxCpuSeconds + r.storageCpuSeconds;
/** The largest ratio the pipeline round's CPU allows against its baseline: perfect use of every core. */
const cpuCeiling = (r: Round) => r.baseline.seconds / (pipelineRoundCpu(r) / availableParallelism());

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Medians over the rounds for speeds; the largest peak RSS; the CPU breakdown of the median pipeline round. */
function summarise(bytes: number, rounds: readonly Round[]): SizeFigures {
  const pipelineMBps = median(rounds.map((r) => mbps(r.pipeline)));
  const baselineMBps = median(rounds.map((r) => mbps(r.baseline)));
  const typical = [...rounds].sort((a, b) => a.pipeline.seconds - b.pipeline.seconds)[rounds.length >> 1] ?? rounds[0];
  if (!typical) throw new Error('no rounds');
  return {
    label: label(bytes),
    bytes,
    pipelineMBps,
    baselineMBps,
    plainUploadMBps: median(rounds.map((r) => mbps(r.plain))),
    storageOnlyMBps: median(rounds.map((r) => mbps(r.alone))),
    ratio: pipelineMBps / baselineMBps,
    roundRatios: rounds.map((r) => mbps(r.pipeline) / mbps(r.baseline)),
    pipelineSeconds: typical.pipeline.seconds,
    peakRssMB: Math.max(...rounds.map((r) => r.pipeline.peakRssMB)),
    rssBeforeMB: Math.max(...rounds.map((r) => r.pipeline.rssBeforeMB)),
    baselinePeakRssMB: Math.max(...rounds.map((r) => r.baseline.peakRssMB)),
    plainUploadPeakRssMB: Math.max(...rounds.map((r) => r.plain.peakRssMB)),
    pipelineCpuSeconds: typical.pipeline.cpuSeconds,
    sandboxCpuSeconds: typical.sandboxCpuSeconds,
    storageCpuSeconds: typical.storageCpuSeconds,
    baselineCpuSeconds: typical.baseline.cpuSeconds,
    baselineSandboxCpuSeconds: typical.baselineSandboxCpuSeconds,
    cpuCeilings: rounds.map(cpuCeiling),
    jobUpdates: typical.pipeline.jobUpdates ?? 0,
    jobUpdateSeconds: typical.pipeline.jobUpdateSeconds ?? 0,
    rounds: rounds.map((r) => ({ baselineMBps: mbps(r.baseline), pipelineMBps: mbps(r.pipeline), plainUploadMBps: mbps(r.plain), storageOnlyMBps: mbps(r.alone) })),
  };
}

const r1 = (n: number) => Number(n.toFixed(1));
const r3 = (n: number) => Number(n.toFixed(3));

function spread(result: TransferResult): number {
  const rss = result.sizes.map((s) => s.peakRssMB);
  return (Math.max(...rss) - Math.min(...rss)) / Math.min(...rss);
}

/** JSON: MB/s of the largest size at the top, every size under `bySize`. */
export function transferJson(result: TransferResult) {
  const largest = result.sizes.at(-1);
  if (!largest) throw new Error('no transfer figures');
  return {
    pipelineMBps: r1(largest.pipelineMBps),
    baselineMBps: r1(largest.baselineMBps),
    ratio: r3(largest.ratio),
    peakRssMB: Object.fromEntries(result.sizes.map((s) => [s.label, r1(s.peakRssMB)])),
    size: largest.label,
    peakRssSpread: r3(spread(result)),
    storage: result.storage,
    bySize: Object.fromEntries(
      result.sizes.map((s) => [
        s.label,
        {
          pipelineMBps: r1(s.pipelineMBps),
          baselineMBps: r1(s.baselineMBps),
          plainUploadMBps: r1(s.plainUploadMBps),
          storageOnlyMBps: r1(s.storageOnlyMBps),
          ratio: r3(s.ratio),
          roundRatios: s.roundRatios.map(r3),
          cpuCeilingRatios: s.cpuCeilings.map((c) => (Number.isNaN(c) ? null : r3(c))),
          rounds: s.rounds.map((r) => ({
            baselineMBps: r1(r.baselineMBps),
            pipelineMBps: r1(r.pipelineMBps),
            plainUploadMBps: r1(r.plainUploadMBps),
            storageOnlyMBps: r1(r.storageOnlyMBps),
          })),
          medianPipelineRoundSeconds: r3(s.pipelineSeconds),
          peakRssMB: r1(s.peakRssMB),
          rssBeforeCopyMB: r1(s.rssBeforeMB),
          baselinePeakRssMB: r1(s.baselinePeakRssMB),
          plainUploadPeakRssMB: r1(s.plainUploadPeakRssMB),
          pipelineCpuSeconds: r3(s.pipelineCpuSeconds),
          archiveSandboxCpuSeconds: r3(s.sandboxCpuSeconds),
          storageSandboxCpuSeconds: Number.isNaN(s.storageCpuSeconds) ? null : r3(s.storageCpuSeconds),
          baselineCpuSeconds: r3(s.baselineCpuSeconds),
          baselineArchiveSandboxCpuSeconds: r3(s.baselineSandboxCpuSeconds),
          jobUpdates: s.jobUpdates,
          jobUpdateSeconds: r3(s.jobUpdateSeconds),
        },
      ]),
    ),
  };
}

export function transferLines(result: TransferResult): string[] {
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const n = result.sizes[0]?.rounds.length ?? 0;
  const lines = [
    `transfer: ${CHUNK_BYTES === 0 ? 'one streamed upload request per copy' : `upload requests of ${CHUNK_BYTES / MiB} MiB`}; Cloud Storage sandbox in a ${result.storage}; medians of ${n} interleaved round(s); MB = 10^6 bytes, RSS in MiB (largest round)`,
  ];
  lines.push('  size     pipeline MB/s  baseline MB/s  ratio   plain upload MB/s  storage only MB/s  pipeline peak RSS  (before copy)  baseline peak RSS  plain upload peak RSS');
  for (const s of result.sizes) {
    lines.push(
      `  ${s.label.padEnd(7)}  ${s.pipelineMBps.toFixed(1).padStart(13)}  ${s.baselineMBps.toFixed(1).padStart(13)}  ${s.ratio.toFixed(3)}  ${s.plainUploadMBps.toFixed(1).padStart(17)}  ${s.storageOnlyMBps.toFixed(1).padStart(17)}  ${s.peakRssMB.toFixed(1).padStart(17)}  ${s.rssBeforeMB.toFixed(1).padStart(13)}  ${s.baselinePeakRssMB.toFixed(1).padStart(17)}  ${s.plainUploadPeakRssMB.toFixed(1).padStart(21)}`,
    );
  }
  for (const s of result.sizes) lines.push(`  ${s.label.padEnd(7)}  ratio per round: ${s.roundRatios.map((r) => r.toFixed(3)).join(', ')}`);
  lines.push('  where the pipeline copy spends its wall time: CPU s of worker · archive sandbox (this process) · storage sandbox; job-record updates (count, wall s)');
  for (const s of result.sizes) {
    const storageCpu = Number.isNaN(s.storageCpuSeconds) ? 'shared' : s.storageCpuSeconds.toFixed(2);
    lines.push(
      `  ${s.label.padEnd(7)}  ${s.pipelineSeconds.toFixed(2)} s wall: CPU ${s.pipelineCpuSeconds.toFixed(2)} · ${s.sandboxCpuSeconds.toFixed(2)} · ${storageCpu}; ${s.jobUpdates} job updates waited ${s.jobUpdateSeconds.toFixed(2)} s`,
    );
  }
  lines.push(
    `  the baseline copy of that round: CPU s of its process · archive sandbox; and the ratio the pipeline's CPU allows per round (its CPU spread over ${availableParallelism()} cores)`,
  );
  for (const s of result.sizes) {
    const ceilings = s.cpuCeilings.map((c) => (Number.isNaN(c) ? 'unknown' : c.toFixed(3))).join(', ');
    lines.push(`  ${s.label.padEnd(7)}  CPU ${s.baselineCpuSeconds.toFixed(2)} · ${s.baselineSandboxCpuSeconds.toFixed(2)}; ratio allowed by CPU: ${ceilings}`);
  }
  const largest = result.sizes.at(-1);
  if (largest)
    lines.push(
      `  ratio pipeline / baseline (${largest.label}): ${largest.ratio.toFixed(3)}  target ≥ ${TRANSFER_TARGETS.ratio}  ${verdict(largest.ratio >= TRANSFER_TARGETS.ratio)}`,
    );
  const peak = Math.max(...result.sizes.map((s) => s.peakRssMB));
  lines.push(`  peak RSS (largest of the sizes): ${peak.toFixed(1)} MiB  target ≤ ${TRANSFER_TARGETS.peakRssMB}  ${verdict(peak <= TRANSFER_TARGETS.peakRssMB)}`);
  const sp = spread(result);
  lines.push(`  peak RSS spread between sizes: ${(sp * 100).toFixed(1)} %  target ≤ ${TRANSFER_TARGETS.rssSpread * 100} %  ${verdict(sp <= TRANSFER_TARGETS.rssSpread)}`);
  return lines;
}
