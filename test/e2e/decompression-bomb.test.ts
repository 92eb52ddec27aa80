import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { developmentEnv } from '../fixtures/env.js';

/**
 * Issue 13, item 1: a gzip bomb (1 GiB of zeros, about 1 MB on the wire) sent to the real HTTP
 * functions, each served by the Functions Framework in its own process exactly as
 * infra/local/functions.ts serves them. The bomb must be refused with a 4xx without being inflated:
 * the serving process's peak resident memory (VmHWM) stays under 300 MB. Before the fix the
 * framework's body parser inflated it into memory before our code ran.
 */
const require = createRequire(import.meta.url);
const FRAMEWORK_MAIN = join(dirname(require.resolve('@google-cloud/functions-framework')), 'main.js');
const REPO_ROOT = join(import.meta.dirname, '..', '..');
const INFLATED = 1024 ** 3;
const PEAK_LIMIT_BYTES = 300 * 1024 * 1024;

let bomb: Buffer;
const served = new Map<string, { child: ChildProcess; port: number }>();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function gzipOfZeros(bytes: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gzip.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve, reject) => gzip.on('end', resolve).on('error', reject));
  const zeros = Buffer.alloc(1 << 20);
  for (let left = bytes; left > 0; left -= zeros.length) {
    if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end();
  await done;
  return Buffer.concat(chunks);
}

async function serve(target: string): Promise<void> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', FRAMEWORK_MAIN, `--target=${target}`, '--signature-type=http', `--source=${join(REPO_ROOT, 'functions', 'index.ts')}`, `--port=${port}`],
    { cwd: REPO_ROOT, env: { ...process.env, ...developmentEnv(), NODE_ENV: 'production', PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  served.set(target, { child, port });
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`function ${target} exited: ${stderr}`);
    const up = await send(port, 'GET', '/healthz', {}).then(
      () => true,
      () => false,
    );
    if (up) return;
    if (i > 600) throw new Error(`function ${target} did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function send(port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Peak resident set size of a process, from /proc (Linux). */
function peakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match?.[1]) throw new Error('no VmHWM in /proc status');
  return Number(match[1]) * 1024;
}

beforeAll(async () => {
  const [zipped] = await Promise.all([gzipOfZeros(INFLATED), serve('oauth'), serve('api'), serve('scheduler')]);
  bomb = zipped;
}, 120_000);

afterAll(() => {
  for (const { child } of served.values()) child.kill('SIGTERM');
});

describe('a gzip bomb to an HTTP function (1 GiB inflated) is refused without being inflated', () => {
  const cases: [string, string, string, Record<string, string>][] = [
    ['oauth', 'POST', '/oauth2/callback', {}],
    ['oauth', 'GET', '/connect/abc', {}],
    ['api', 'POST', '/v1/connectSessions', { Authorization: 'Bearer not-a-token' }],
    ['scheduler', 'POST', '/ticks/poll-sweep', { Authorization: 'Bearer not-a-token' }],
  ];
  it.each(cases)(
    '%s %s %s → 4xx, peak memory < 300 MB',
    async (target, method, path, headers) => {
      const { child, port } = served.get(target)!;
      expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
      const answer = await send(port, method, path, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Content-Length': String(bomb.length), ...headers }, bomb);
      expect(answer.status, answer.text.slice(0, 300)).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      const peak = peakRss(child.pid!);
      console.info(`decompression bomb → ${target} ${method} ${path}: ${answer.status}; peak RSS ${Math.round(peak / 2 ** 20)} MiB`);
      expect(peak, `peak RSS ${Math.round(peak / 2 ** 20)} MiB`).toBeLessThan(PEAK_LIMIT_BYTES);
      // Still serving.
      expect((await send(port, 'GET', '/healthz', {})).status).toBeLessThan(500);
    },
    120_000,
  );
});
