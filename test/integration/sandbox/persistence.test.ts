// State survives a restart when the sandbox has a data folder, and the CLI starts and stops cleanly.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { startSandbox } from '../../../infra/sandbox/server.js';
import { advance, api, call, connect, token } from './helpers.js';

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('persistence', () => {
  it('clients, grants, tokens, jobs, clock offset, config, keys and URL secret survive a restart', async () => {
    const dataDir = tempDir('sandbox-data-');
    const cacheDir = tempDir('sandbox-cache-');
    const first = await startSandbox({ port: 0, dataDir, cacheDir, config: { jobDurationSeconds: 100 } });
    const c = await connect(first.baseUrl, ['chrome.history', 'play.library'], { duration: 'DAYS_30' });
    const dp = api(first.baseUrl, c.accessToken);
    const id = String((await dp.initiate({ resources: ['chrome.history'] })).body.archiveJobId);
    await advance(first.baseUrl, 101);
    await call(first.baseUrl, 'PUT', '/sandbox/v1/config', { urlTtlSeconds: 777 });
    const urls = (await dp.state(id)).body.urls as string[];
    const kid = ((await call(first.baseUrl, 'GET', '/oauth2/v3/certs')).body.keys as Array<{ kid: string }>)[0]?.kid;
    const clockBefore = Date.parse(String((await call(first.baseUrl, 'GET', '/sandbox/v1/clock')).body.now));
    await first.close();
    const saved = JSON.parse(readFileSync(join(dataDir, 'state.json'), 'utf8')) as { version: number; jobs: Record<string, unknown> };
    expect(saved.version).toBe(1);
    expect(Object.keys(saved.jobs)).toContain(id);

    const second = await startSandbox({ port: 0, dataDir, cacheDir });
    try {
      const dp2 = api(second.baseUrl, c.accessToken);
      const state = await dp2.state(id);
      expect(state.status).toBe(200);
      expect(state.body.state).toBe('COMPLETE');
      const clockAfter = Date.parse(String((await call(second.baseUrl, 'GET', '/sandbox/v1/clock')).body.now));
      expect(clockAfter).toBeGreaterThanOrEqual(clockBefore);
      expect((await call(second.baseUrl, 'GET', '/sandbox/v1/config')).body).toMatchObject({ urlTtlSeconds: 777, jobDurationSeconds: 100 });
      expect(((await call(second.baseUrl, 'GET', '/oauth2/v3/certs')).body.keys as Array<{ kid: string }>)[0]?.kid).toBe(kid);
      const oldUrl = new URL(urls[0] ?? '');
      const moved = `${second.baseUrl}${oldUrl.pathname}${oldUrl.search}`;
      expect((await fetch(moved)).status).toBe(200);
      const again = await dp2.initiate({ resources: ['chrome.history'] });
      expect(again.status).toBe(429);
      const refreshed = await token(second.baseUrl, c.client, { grant_type: 'refresh_token', refresh_token: c.refreshToken ?? '' });
      expect(refreshed.status).toBe(200);
    } finally {
      await second.close();
    }
  });

  it('without a data folder the state is in memory only', async () => {
    const cacheDir = tempDir('sandbox-cache-');
    const first = await startSandbox({ port: 0, cacheDir });
    const c = await connect(first.baseUrl, ['chrome.history']);
    await first.close();
    const second = await startSandbox({ port: 0, cacheDir });
    try {
      expect((await api(second.baseUrl, c.accessToken).check()).status).toBe(401);
      expect((await token(second.baseUrl, c.client, { grant_type: 'refresh_token', refresh_token: c.refreshToken ?? '' })).status).toBe(401);
    } finally {
      await second.close();
    }
  });
});

describe('CLI (npm run sandbox)', () => {
  it('prints one line `sandbox listening on <url>`, serves, and exits 0 on SIGTERM', async () => {
    const dataDir = tempDir('sandbox-cli-');
    const child = spawn(process.execPath, ['--import', 'tsx', 'infra/sandbox/main.ts'], {
      env: { ...process.env, SANDBOX_PORT: '0', SANDBOX_DATA_DIR: dataDir, SANDBOX_CACHE_DIR: join(dataDir, 'cache') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const lines = createInterface({ input: child.stdout });
      const first = await new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`sandbox exited early with ${String(code)}`)));
      });
      const m = /^sandbox listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(first);
      expect(m).not.toBeNull();
      const res = await fetch(`${m?.[1] ?? ''}/.well-known/openid-configuration`);
      expect(res.status).toBe(200);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses a bad SANDBOX_PORT with a message naming the variable', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'infra/sandbox/main.ts'], {
      env: { ...process.env, SANDBOX_PORT: 'eighty' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(stderr).toContain('SANDBOX_PORT');
  });
});
