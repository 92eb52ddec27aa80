import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../fixtures/browser.js';
import { newConnectSession, startE2EStack, type E2EStack } from './stack.js';

/**
 * The consent flow in a real browser (headless Chromium, the one @sparticuz/chromium ships, driven
 * by playwright-core): the application's connect URL, the pipeline's redirect with its state cookie,
 * the sandbox's consent page (one group unticked, 30 days, Allow), the callback carrying the
 * browser's own cookie, and the application's return page.
 */
let stack: E2EStack;
let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
  stack = await startE2EStack('consent-browser');
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('consent in headless Chromium on the local stack', () => {
  it('connect URL → consent page (untick a group, 30 days, Allow) → callback with the browser cookie → return page shows a partial grant', async () => {
    const requested = ['chrome.history', 'myactivity.search', 'youtube.subscriptions'];
    const session = await newConnectSession(stack, 'browser-user', requested);
    const returnUrl = stack.info.returnUrls[0]!;
    const oauthUrl = stack.info.functions['oauth']!.url;
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await stack.clearCalls();
      await page.goto(session.connectUrl);
      // The pipeline redirected to the sandbox's consent page and set the state cookie in the browser.
      expect(page.url().startsWith(`${stack.info.services.sandbox.url}/o/oauth2/v2/auth?`)).toBe(true);
      const cookies = await context.cookies(`${oauthUrl}/oauth2/callback`);
      const stateCookie = cookies.find((c) => c.name === 'dp_oauth_state');
      expect(stateCookie?.httpOnly).toBe(true);
      expect(stateCookie?.sameSite).toBe('Lax');
      expect(stateCookie?.path).toBe('/oauth2/callback');
      expect(stateCookie?.value).toBe(new URL(page.url()).searchParams.get('state'));
      // Not readable by page scripts.
      expect(String(await page.evaluate('document.cookie'))).not.toContain('dp_oauth_state');

      expect(await page.locator('input[name="resource"]').count()).toBe(3);
      await page.locator('input[data-resource="youtube.subscriptions"]').uncheck();
      await page.locator('#duration-30-days').check();
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(returnUrl)), page.locator('#allow').click()]);

      expect(await page.locator('#outcome').textContent()).toBe('partial');
      const name = (await page.locator('#consent').textContent()) ?? '';
      expect(name).toMatch(/^consents\/[A-Za-z0-9]+$/);
      const landed = new URL(page.url());
      expect(`${landed.origin}${landed.pathname}`).toBe(returnUrl);
      expect([...landed.searchParams.keys()].sort()).toEqual(['code', 'consent', 'outcome', 'session']);
      // The callback cleared the state cookie.
      expect((await context.cookies(`${oauthUrl}/oauth2/callback`)).some((c) => c.name === 'dp_oauth_state')).toBe(false);
      expect((await stack.calls()).filter((c) => c.method === 'POST' && c.path === '/token')).toHaveLength(1);

      // The application, whose logged-in user came back in this browser, confirms the completion code.
      expect(await page.locator('#session').textContent()).toBe(session.name);
      const confirmed = await stack.api(`/v1/${session.name}:confirm`, { body: { code: await page.locator('#code').textContent() } });
      expect(confirmed.status).toBe(200);
      const res = await stack.api(`/v1/${name}`);
      expect(res.status).toBe(200);
      const consent = (await res.json()) as { appUserId: string; state: string; resources: { resource: string; accessType: string }[]; expireTime?: string; grantTime: string };
      expect(consent.appUserId).toBe('browser-user');
      expect(consent.state).toBe('ACTIVE');
      expect([...consent.resources].sort((a, b) => a.resource.localeCompare(b.resource))).toEqual([
        { resource: 'chrome.history', accessType: 'TIME_BASED' },
        { resource: 'myactivity.search', accessType: 'TIME_BASED' },
      ]);
      const days = (Date.parse(consent.expireTime ?? '') - Date.parse(consent.grantTime)) / 86_400_000;
      expect(days).toBeGreaterThan(29.9);
      expect(days).toBeLessThan(30.1);
    } finally {
      await context.close();
    }
  });

  it('the same callback replayed in the browser (back button, reload) is refused with a page, and no second consent', async () => {
    const session = await newConnectSession(stack, 'browser-replay', ['chrome.history']);
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(session.connectUrl);
      let callbackUrl = '';
      page.on('request', (req) => {
        if (req.url().startsWith(`${stack.info.oauthClient.redirectUri}?`)) callbackUrl = req.url();
      });
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(stack.info.returnUrls[0]!)), page.locator('#allow').click()]);
      expect(await page.locator('#outcome').textContent()).toBe('granted');
      expect(callbackUrl).not.toBe('');
      const before = await stack.count('consents');
      const replay = await page.goto(callbackUrl);
      expect(replay?.status()).toBe(400);
      expect(await replay?.headerValue('referrer-policy')).toBe('no-referrer');
      expect(await page.locator('h1').textContent()).toBe('Something went wrong');
      expect(await stack.count('consents')).toBe(before);
    } finally {
      await context.close();
    }
  });
});
