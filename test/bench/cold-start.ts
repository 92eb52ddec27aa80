// Cold-start benchmark: each function served from the built `dist/` (`npm run build`) by the
// Functions Framework, as Cloud Functions starts an instance, with only its own configuration
// (`variablesFor`, development values, the Firestore emulator). Measured: from the process's
// spawn until its first request is answered (Node's start, loading the framework and the
// function's module, building its runtime, the request), and the process's RSS right after, with
// the Google Cloud client libraries it has loaded. First requests: `GET /healthz` (api,
// scheduler), `GET /connect/{unknown session}` (oauth: a Firestore read and the error page), a
// Pub/Sub push of a malformed message (workers: recorded in Firestore, acked) or of a
// dead-lettered one (deadletter). Median of 3 starts per function (--quick 1).
//
// BENCH_COLD_START_DIST=<dir> measures another build (a directory with functions/index.js,
// next to a package.json and node_modules); BENCH_COLD_START_ENV=all gives every function every
// variable (a build that needs the whole configuration).
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FUNCTION_NAMES, variablesFor, type FunctionName } from '../../functions/platform/config.js';
import { startFirestoreEmulator } from '../../infra/local/emulators.js';
import { freePort } from '../../infra/local/processes.js';
import { productionEnv } from '../fixtures/env.js';

export const COLD_START_TARGETS: Readonly<Partial<Record<FunctionName, { ms: number; rssMB: number }>>> = {
  api: { ms: 250, rssMB: 80 },
  oauth: { ms: 250, rssMB: 80 },
};
const PROJECT = 'bench-cold-start';
const REPO_ROOT = join(import.meta.dirname, '..', '..');
const FRAMEWORK_MAIN = join(dirname(createRequire(import.meta.url).resolve('@google-cloud/functions-framework')), 'main.js');

export interface ColdStart {
  readonly ms: number;
  readonly rssMB: number;
  readonly request: string;
  readonly status: number;
  /** The Google Cloud client libraries (and google-auth-library) loaded after the first request. */
  readonly libraries: readonly string[];
}

export type ColdStartResult = Readonly<Record<FunctionName, ColdStart>>;

/** Reports the process's RSS and loaded packages when its parent asks (loaded with --import). */
const REPORTER = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
process.on('message', (m) => {
  if (m !== 'report') return;
  const packages = new Set();
  for (const file of Object.keys(require.cache)) {
    const match = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file);
    if (match) packages.add(match[1]);
  }
  process.send({ rss: process.memoryUsage().rss, packages: [...packages] });
});
`;

export async function runColdStartBench(options: { rounds: number; log: (line: string) => void }): Promise<ColdStartResult> {
  const dist = process.env['BENCH_COLD_START_DIST'] ?? join(REPO_ROOT, 'dist');
  const entry = join(dist, 'functions', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const dir = mkdtempSync(join(tmpdir(), 'dp-bench-cold-'));
  const reporter = join(dir, 'reporter.mjs');
  writeFileSync(reporter, REPORTER);
  const firestore = await startFirestoreEmulator({ projectId: PROJECT, logDir: dir });
  try {
    const result: Partial<Record<FunctionName, ColdStart>> = {};
    for (const fn of FUNCTION_NAMES) {
      const runs: ColdStart[] = [];
      for (let round = 0; round < options.rounds; round++) runs.push(await coldStart(fn, entry, reporter, firestore.host));
      runs.sort((a, b) => a.ms - b.ms);
      const median = runs[Math.floor(runs.length / 2)];
      if (!median) throw new Error(`no run of ${fn}`);
      result[fn] = median;
      options.log(`coldStart ${fn}: ${median.ms} ms, ${median.rssMB} MB`);
    }
    return result as ColdStartResult;
  } finally {
    await firestore.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Development values for every variable a function may need (its required ones, and the emulator). */
function environment(fn: FunctionName, firestoreHost: string): Record<string, string> {
  const values: Record<string, string> = {
    ...productionEnv(),
    GOOGLE_CLOUD_PROJECT: PROJECT,
    APP_ENV: 'development',
    LOG_LEVEL: 'warn',
    RESOURCE_PREFIX: `c${randomBytes(3).toString('hex')}`,
    FIRESTORE_EMULATOR_HOST: firestoreHost,
    TOKEN_KEY_PROVIDER: 'local',
    LOCAL_TOKEN_KEY: randomBytes(32).toString('base64'),
    OAUTH_PUBLIC_URL: 'http://127.0.0.1:1',
  };
  const all = process.env['BENCH_COLD_START_ENV'] === 'all';
  const names = all ? Object.keys(values) : [...variablesFor(fn).required, ...variablesFor(fn).optional];
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', NODE_ENV: 'production', FUNCTION_TARGET: fn };
  for (const name of names) {
    const value = values[name];
    if (value !== undefined && name !== 'KMS_KEY_NAME') env[name] = value;
  }
  return env;
}

function firstRequest(fn: FunctionName): { method: string; path: string; body?: string } {
  if (fn === 'api' || fn === 'scheduler') return { method: 'GET', path: '/healthz' };
  if (fn === 'oauth') return { method: 'GET', path: `/connect/${randomBytes(16).toString('base64url')}` };
  const messageId = String(Date.now()) + String(Math.floor(Math.random() * 1e6));
  const attributes = fn === 'deadletter' ? { CloudPubSubDeadLetterSourceSubscription: 'projects/p/subscriptions/job-poll' } : {};
  const message = { data: Buffer.from('{}').toString('base64'), messageId, publishTime: new Date().toISOString(), attributes };
  return { method: 'POST', path: '/', body: JSON.stringify({ message, subscription: `projects/${PROJECT}/subscriptions/${fn}` }) };
}

async function coldStart(fn: FunctionName, entry: string, reporter: string, firestoreHost: string): Promise<ColdStart> {
  const port = await freePort();
  const request = firstRequest(fn);
  const started = performance.now();
  const child = fork(FRAMEWORK_MAIN, [`--target=${fn}`, '--signature-type=http', `--source=${entry}`, `--port=${port}`], {
    env: environment(fn, firestoreHost),
    execArgv: ['--import', pathToFileURL(reporter).href],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<never>((_resolve, reject) => child.once('exit', (code) => reject(new Error(`${fn} exited with ${code}: ${stderr.slice(-2000)}`))));
  exited.catch(() => undefined);
  try {
    await Promise.race([listening(port), exited]);
    const answer = await Promise.race([
      fetch(`http://127.0.0.1:${port}${request.path}`, {
        method: request.method,
        ...(request.body === undefined ? {} : { body: request.body, headers: { 'Content-Type': 'application/json' } }),
        redirect: 'manual',
      }).then(async (res) => (await res.arrayBuffer(), res.status)),
      exited,
    ]);
    const ms = Math.round(performance.now() - started);
    if (answer >= 500) throw new Error(`${fn} answered its first request with ${answer}: ${stderr.slice(-2000)}`);
    const report = await new Promise<{ rss: number; packages: string[] }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { rss: number; packages: string[] }));
      exited.catch(reject);
      child.send('report');
    });
    const libraries = report.packages.filter((p) => p.startsWith('@google-cloud/') || p === 'google-auth-library' || p === 'google-gax' || p === '@grpc/grpc-js').sort();
    return {
      ms,
      rssMB: Math.round(report.rss / 1048576),
      request: `${request.method} ${request.path.startsWith('/connect/') ? '/connect/{session}' : request.path}`,
      status: answer,
      libraries,
    };
  } finally {
    child.kill('SIGKILL');
  }
}

/** Resolves once the port accepts a connection (tried every 2 ms). */
async function listening(port: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

export function coldStartJson(result: ColdStartResult): Record<string, { ms: number; rssMB: number }> {
  return Object.fromEntries(Object.entries(result).map(([fn, r]) => [fn, { ms: r.ms, rssMB: r.rssMB }]));
}

export function coldStartLines(result: ColdStartResult): string[] {
  const lines = ['coldStart (from spawn to the first answer, RSS after it; from dist/ with only its own configuration)'];
  for (const [fn, r] of Object.entries(result) as [FunctionName, ColdStart][]) {
    const target = COLD_START_TARGETS[fn];
    const verdict = target ? ` [target ≤ ${target.ms} ms, ≤ ${target.rssMB} MB: ${r.ms <= target.ms && r.rssMB <= target.rssMB ? 'PASS' : 'MISS'}]` : '';
    lines.push(
      `  ${fn.padEnd(10)} ${String(r.ms).padStart(5)} ms ${String(r.rssMB).padStart(4)} MB  ${r.request} → ${r.status}; loaded: ${r.libraries.join(', ') || 'none'}${verdict}`,
    );
  }
  return lines;
}
