import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';

/**
 * Child processes of the local stack. Each runs in its own process group (`detached`), so that
 * stopping it also stops what it started (the emulators' Java child outlives its `gcloud` wrapper
 * otherwise). Every group started here is also killed when this process exits.
 */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
  /**
   * Sends `signal` to the whole group (a crash when it is SIGKILL) and waits until the group is
   * gone (SIGKILL after 5 s if it lingers).
   */
  kill(signal: NodeJS.Signals): Promise<void>;
}

const live = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of live) killGroup(pid, 'SIGKILL');
  });
}

export function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** True while any process of the group still exists. */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface StartOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Output goes to this file (created with its folder); otherwise it is discarded. */
  readonly logFile?: string;
  readonly cwd?: string;
}

export function startProcess(options: StartOptions): ManagedProcess {
  installExitHook();
  const child = spawn(options.command, [...options.args], {
    detached: true,
    stdio: ['ignore', options.logFile ? 'pipe' : 'ignore', options.logFile ? 'pipe' : 'ignore'],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  if (options.logFile) {
    mkdirSync(dirname(options.logFile), { recursive: true });
    const stream = createWriteStream(options.logFile, { flags: 'a' });
    child.stdout?.pipe(stream);
    child.stderr?.pipe(stream);
  }
  return manage(options.name, child);
}

function manage(name: string, child: ChildProcess): ManagedProcess {
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not start process`);
  live.add(pid);
  child.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async (signal: NodeJS.Signals) => {
    killGroup(pid, signal);
    const deadline = Date.now() + 5_000;
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, signal === 'SIGKILL' ? 10 : 100));
    if (groupAlive(pid)) killGroup(pid, 'SIGKILL');
    while (groupAlive(pid) && Date.now() < deadline + 5_000) await new Promise((r) => setTimeout(r, 10));
    live.delete(pid);
  };
  return { name, pid, child, stop: () => kill('SIGTERM'), kill };
}

/**
 * A port that is free now, for a listener started a little later (a function's port must be known
 * before the functions start: they name each other's URLs). It is taken below the kernel's
 * ephemeral range: a port the kernel hands out (to `listen(0)` or to any outgoing connection of
 * the emulators, the sandbox or the functions) never collides with it in the meantime, nor while a
 * killed function is served again on the same port. A port from `listen(0)` could, and did
 * (EADDRINUSE in a CI run).
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  const floor = 10_000;
  if (low - floor >= 1_000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = floor + Math.floor(Math.random() * (low - floor));
      if (await canListen(port)) return port;
    }
  }
  return listenAnywhere();
}

/** The kernel's ephemeral port range (Linux), or the IANA default elsewhere. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // Not Linux: the IANA range.
  }
  return [49_152, 65_535];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function listenAnywhere(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers (any HTTP status) or the process dies or time runs out. */
export async function waitForHttp(url: string, proc: ManagedProcess, timeoutMs: number, describeFailure: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc.child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited || proc.child.exitCode !== null) throw new Error(`${proc.name} exited before it was ready. ${describeFailure()}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(1_000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${proc.name} did not answer on ${url} within ${timeoutMs} ms. ${describeFailure()}`);
}

export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}
