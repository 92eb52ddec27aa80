// Benchmark child processes: a bench step that must be measured alone (its own peak RSS, its own
// CPU) runs in a process of its own, built into one plain ES module so the child runs on plain
// Node as the functions do in production (under tsx its RSS would carry tsx's loader thread,
// about 45 MiB here, which is not the step's). The task goes in as JSON in an environment
// variable; the child prints its outcome as the last line of its stdout.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../infra/local/functions.js';
import { killGroup } from '../../infra/local/processes.js';

/**
 * BENCH_CPU_PROF_DIR=<dir> writes a V8 CPU profile of every child process into <dir>, to see where
 * a step spends its CPU (NODE_OPTIONS cannot carry --cpu-prof). BENCH_CHILD_HEAP_MB=<n> caps the
 * children's V8 old space (not the parent's, which seeds the data): whether a step's memory is
 * held, or only not yet collected, shows in whether it still runs under the cap.
 */
export function profileArgs(): string[] {
  const dir = process.env['BENCH_CPU_PROF_DIR'];
  const heap = Number(process.env['BENCH_CHILD_HEAP_MB'] ?? 0);
  return [...(dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []), ...(heap > 0 ? [`--max-old-space-size=${heap}`] : [])];
}

/**
 * Bundles `entry` (a .ts file) with esbuild, the compiler tsx itself uses, into .local/bench/ of
 * the repository: npm packages stay external and resolve from its node_modules.
 */
export async function buildChild(entry: string, name: string): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = join(REPO_ROOT, '.local', 'bench', 'children', `${name}.mjs`);
  await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile, logLevel: 'warning' });
  return outfile;
}

/** Runs a built child (its own process group) with `task` in `taskVariable`, bounded by `timeoutMs`. */
export async function runChild<T>(file: string, taskVariable: string, task: unknown, timeoutMs: number, what: string): Promise<T> {
  const child = spawn(process.execPath, [...profileArgs(), file], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, [taskVariable]: JSON.stringify(task) },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${what}: could not start`);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), timeoutMs);
  try {
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    if (code !== 0) throw new Error(`${what} exited with ${code}: ${stderr.trim().slice(-2000)}`);
    const line = stdout.trim().split('\n').at(-1) ?? '';
    return JSON.parse(line) as T;
  } finally {
    clearTimeout(timer);
    killGroup(pid, 'SIGKILL');
  }
}
