import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledLibraries, CHROMIUM_ARGS, chromiumExecutable, launchChromium, type ChromiumExecutable } from '../fixtures/browser.js';

/**
 * The browser tests' Chromium needs nothing beyond `npm install`: the one @sparticuz/chromium
 * ships loads a page and submits a form, in one browser context after another (what its own
 * `--single-process` flag breaks), and test files unpacking it at the same time get one working
 * binary.
 */
let server: Server;
let base: string;
let browser: Browser;
beforeAll(async () => {
  server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    if (req.url?.startsWith('/done')) res.end(`<!doctype html><title>done</title><p id="got">${new URL(req.url, 'http://x').searchParams.get('who')}</p>`);
    else res.end('<!doctype html><title>form</title><form action="/done" method="get"><input id="who" name="who"><button id="go">Go</button></form>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

describe('headless Chromium from the npm registry', () => {
  it('loads a page and submits a form, in three browser contexts one after another', async () => {
    for (const who of ['first', 'second', 'third']) {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${base}/`);
        await page.locator('#who').fill(who);
        await Promise.all([page.waitForURL((u) => u.pathname === '/done'), page.locator('#go').click()]);
        expect(await page.locator('#got').textContent()).toBe(who);
      } finally {
        await context.close();
      }
    }
  });

  it('two callers unpacking into an empty temp folder at once get the same working binary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dp-chromium-'));
    try {
      const saved = process.env['TMPDIR'];
      process.env['TMPDIR'] = dir;
      let found: ChromiumExecutable[];
      try {
        found = await Promise.all([chromiumExecutable(), chromiumExecutable()]);
      } finally {
        if (saved === undefined) delete process.env['TMPDIR'];
        else process.env['TMPDIR'] = saved;
      }
      expect(found.map((f) => f.path)).toEqual([join(dir, 'chromium'), join(dir, 'chromium')]);
      // Unpacked once and whole: it starts and serves a page.
      const other = await chromium.launch({ executablePath: found[0]!.path, args: [...CHROMIUM_ARGS], env: { ...process.env, ...found[0]!.env } });
      try {
        const page = await other.newPage();
        await page.goto(`${base}/done?who=unpacked`);
        expect(await page.locator('#got').textContent()).toBe('unpacked');
      } finally {
        await other.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('where the system has no NSS/NSPR, the libraries the package carries load instead and the browser works', async () => {
    const { path } = await chromiumExecutable();
    const dir = mkdtempSync(join(tmpdir(), 'dp-chromium-libs-'));
    const saved = process.env['TMPDIR'];
    try {
      process.env['TMPDIR'] = dir;
      let libs: string;
      try {
        libs = bundledLibraries();
      } finally {
        if (saved === undefined) delete process.env['TMPDIR'];
        else process.env['TMPDIR'] = saved;
      }
      expect(libs).toBe(join(dir, 'al2023', 'lib'));
      const env = { ...process.env, LD_LIBRARY_PATH: libs };
      // The dynamic loader takes libnss3/libnspr4 from the package's folder, not the system's.
      const resolved = execFileSync('ldd', [path], { encoding: 'utf8', env });
      for (const lib of ['libnss3.so', 'libnssutil3.so', 'libnspr4.so', 'libplc4.so', 'libplds4.so']) expect(resolved).toContain(`${lib} => ${join(libs, lib)}`);
      const other = await chromium.launch({ executablePath: path, args: [...CHROMIUM_ARGS], env });
      try {
        const page = await other.newPage();
        await page.goto(`${base}/done?who=bundled-libs`);
        expect(await page.locator('#got').textContent()).toBe('bundled-libs');
      } finally {
        await other.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
