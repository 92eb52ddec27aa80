import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, chromiumExecutable, launchChromium } from '../fixtures/browser.js';

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
      let paths: string[];
      try {
        paths = await Promise.all([chromiumExecutable(), chromiumExecutable()]);
      } finally {
        if (saved === undefined) delete process.env['TMPDIR'];
        else process.env['TMPDIR'] = saved;
      }
      expect(paths).toEqual([join(dir, 'chromium'), join(dir, 'chromium')]);
      // Unpacked once and whole: it starts and serves a page.
      const other = await chromium.launch({ executablePath: paths[0]!, args: [...CHROMIUM_ARGS] });
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
});
