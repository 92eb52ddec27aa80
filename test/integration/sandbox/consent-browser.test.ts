// The consent page in a real browser: headless Chromium (the one @sparticuz/chromium ships, driven
// by playwright-core) unticks a group, picks 30 days, allows, and lands on the callback with a code.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPE_PREFIX } from '../../../functions/core/resource-groups.js';
import { launchChromium } from '../../fixtures/browser.js';
import { authorizeUrl, pkce, registerClient, startTestSandbox, token } from './helpers.js';
import type { Client, TestSandbox } from './helpers.js';

let sb: TestSandbox;
let receiver: Server;
let callbackUri: string;
let browser: Browser;
let client: Client;
const received: string[] = [];

beforeAll(async () => {
  sb = await startTestSandbox();
  receiver = createServer((req, res) => {
    received.push(req.url ?? '');
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>callback</title><p>callback received</p>');
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  callbackUri = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/oauth2/callback`;
  client = await registerClient(sb.baseUrl, [callbackUri]);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  await sb?.stop();
});

describe('consent page in headless Chromium', () => {
  it('untick a group + 30 days + Allow → callback with a code for the remaining groups', async () => {
    const p = pkce();
    const groups = ['chrome.history', 'youtube.music', 'myactivity.search'];
    const url = authorizeUrl(sb.baseUrl, client, groups, { pkce: p, state: 'browser-state', redirectUri: callbackUri });
    const page = await browser.newPage();
    try {
      await page.goto(url);
      expect(await page.locator('input[name="resource"]').count()).toBe(3);
      await page.locator('input[data-resource="youtube.music"]').uncheck();
      await page.locator('#duration-30-days').check();
      await page.locator('#user').fill('browser-user@example.com');
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(callbackUri)), page.locator('#allow').click()]);
      const landed = new URL(page.url());
      expect(await page.textContent('p')).toBe('callback received');
      expect(landed.searchParams.get('state')).toBe('browser-state');
      const code = landed.searchParams.get('code') ?? '';
      expect(code).not.toBe('');
      expect(received.some((r) => r.includes(`code=${encodeURIComponent(code)}`))).toBe(true);

      const exchanged = await token(sb.baseUrl, client, { grant_type: 'authorization_code', code, redirect_uri: callbackUri, code_verifier: p.verifier });
      expect(exchanged.status).toBe(200);
      expect(String(exchanged.body.scope).split(' ').sort()).toEqual([`${SCOPE_PREFIX}chrome.history`, `${SCOPE_PREFIX}myactivity.search`]);
      expect(Number(exchanged.body.refresh_token_expires_in)).toBeGreaterThan(29 * 86400);
    } finally {
      await page.close();
    }
  });

  it('Deny → callback with error=access_denied', async () => {
    const url = authorizeUrl(sb.baseUrl, client, ['play.library'], { pkce: pkce(), state: 'deny-state', redirectUri: callbackUri });
    const page = await browser.newPage();
    try {
      await page.goto(url);
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(callbackUri)), page.locator('#deny').click()]);
      const landed = new URL(page.url());
      expect(landed.searchParams.get('error')).toBe('access_denied');
      expect(landed.searchParams.get('state')).toBe('deny-state');
    } finally {
      await page.close();
    }
  });
});
