import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import axe from 'axe-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/local/functions.js';
import { launchChromium } from '../fixtures/browser.js';
import { bucketObjects, crc32cBase64, downloadDigest, getConsent } from './exports.js';
import { startE2EStack, type E2EStack } from './stack.js';

/**
 * The web console in headless Chromium (playwright-core), opened as an operator opens it: through
 * the local console proxy that adds the allowed caller's ID token. It connects a sandbox user
 * (connect demo → sandbox consent page → back to the console, which confirms the code), watches
 * the export reach DELIVERED with each file's progress, downloads the archive through the console
 * and checks its bytes against the bucket, pauses the schedule, then revokes and erases the
 * consent. Every page is checked with axe-core (no critical violation) under the console's own
 * Content-Security-Policy (axe is evaluated through the DevTools protocol, not as a page script).
 * Screenshots: `.local/screenshots/console/` in the repository.
 */
const SCREENSHOTS = join(REPO_ROOT, '.local', 'screenshots', 'console');
const AXE_SOURCE = axe.source;

let stack: E2EStack;
let browser: Browser;
beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  browser = await launchChromium();
  // An 8 MiB archive copied with a checkpoint every MiB, so a transfer has progress to show.
  stack = await startE2EStack('console-browser', { archiveBytes: 8 * 1024 * 1024 }, { functionEnv: { TRANSFER_CHECKPOINT_BYTES: String(1024 * 1024) }, sweepIntervalMs: 1_000 });
}, 240_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: readonly unknown[];
}

/** axe-core on the page as it is now: the violations, printed; critical ones fail the test. */
async function accessibility(page: Page, label: string): Promise<AxeViolation[]> {
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(
    'axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target) })))',
  )) as AxeViolation[];
  for (const v of violations) console.log(`axe ${label}: ${v.impact} ${v.id} (${v.help}) at ${JSON.stringify(v.nodes)}`);
  return violations;
}
/** Waits for `selector`; an error the console shows instead fails at once, with its words. */
async function rendered(page: Page, selector: string, timeout = 30_000): Promise<void> {
  await page.locator(`${selector}, #alert:not(:empty)`).first().waitFor({ timeout });
  const alert = (await page.locator('#alert').textContent()) ?? '';
  if (alert) throw new Error(`the console shows an error: ${alert}`);
}
const critical = (violations: readonly AxeViolation[]) => violations.filter((v) => v.impact === 'critical').map((v) => v.id);

describe('the web console in headless Chromium on the local stack', () => {
  it('connects a user, shows the export delivered with progress, downloads it, pauses the schedule, revokes and erases', async () => {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
    try {
      // Without the proxy the console is behind the API's authentication like every route.
      expect((await fetch(`${stack.info.functions['api']!.url}/console/`)).status).toBe(401);

      // 1. The consents page, opened through the proxy, with its own strict CSP.
      const opened = await page.goto(stack.info.console.url);
      expect(opened?.status()).toBe(200);
      const csp = (await opened?.headerValue('content-security-policy')) ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toContain('unsafe-inline');
      await expect.poll(() => page.locator('h1').textContent()).toBe('Consents');
      await rendered(page, '#consents tbody tr');
      expect(await page.locator('#consents tbody').textContent()).toContain('No consents yet');
      expect(critical(await accessibility(page, 'consents (empty)'))).toEqual([]);
      await shot('1-consents-empty');

      // 2. The connect demo: pick a group from the catalogue (or name it where there is none yet).
      await page.getByRole('link', { name: 'Connect a user' }).click();
      await expect.poll(() => page.locator('h1').textContent()).toBe('Connect a user');
      await rendered(page, '#connect');
      await page.getByLabel('App user id').fill('console-user');
      const box = page.locator('input[name="resource"][value="myactivity.search"]');
      if ((await box.count()) > 0) await box.check();
      else await page.locator('#resources').fill('myactivity.search');
      expect(critical(await accessibility(page, 'connect'))).toEqual([]);
      await shot('2-connect');
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(`${stack.info.services.sandbox.url}/o/oauth2/v2/auth?`)), page.locator('#connect').click()]);

      // 3. The sandbox's consent page: 30 days, Allow; back in the console, which confirms the code.
      await page.locator('#duration-30-days').check();
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(`${stack.info.console.proxy}/console/connected`)), page.locator('#allow').click()]);
      await rendered(page, '#confirmed');
      expect(await page.locator('#confirmed').textContent()).toContain('Active');
      // The completion code is gone from the address bar.
      expect(page.url()).toBe(`${stack.info.console.proxy}/console/connected`);
      expect(critical(await accessibility(page, 'connected'))).toEqual([]);
      await shot('3-connected');
      const consentName = (await page.locator('#consent-link').textContent()) ?? '';
      expect(consentName).toMatch(/^consents\/[A-Za-z0-9]+$/);

      // 4. The consent's page: the export goes live to DELIVERED; each file shows its progress.
      await page.locator('#consent-link').click();
      await expect.poll(() => page.locator('h1').textContent()).toBe(`Consent ${consentName.slice('consents/'.length)}`);
      const row = page.locator('#exports tbody tr[data-export]').first();
      await rendered(page, '#exports tbody tr[data-export]');
      let progressWhileCopying = false;
      const deadline = Date.now() + 150_000;
      while ((await row.getAttribute('data-state')) !== 'DELIVERED') {
        if (Date.now() > deadline) throw new Error(`the export is still ${await row.getAttribute('data-state')}`);
        if ((await row.getAttribute('data-state')) === 'TRANSFERRING' && (await row.locator('progress').count()) > 0) {
          if (!progressWhileCopying) await shot('4-transferring');
          progressWhileCopying = true;
        }
        await page.waitForTimeout(250);
      }
      console.log(`console: progress seen while copying: ${progressWhileCopying}`);
      expect(await row.locator('.state').textContent()).toBe('Delivered');
      const progress = row.locator('ul.files li progress').first();
      const max = Number(await progress.getAttribute('max'));
      expect(max).toBeGreaterThan(0);
      expect(Number(await progress.getAttribute('value'))).toBe(max);
      expect(await row.locator('ul.files li .amount').first().textContent()).toBe(`${max.toLocaleString('en')} bytes of ${max.toLocaleString('en')} bytes`);
      expect(critical(await accessibility(page, 'consent (delivered)'))).toEqual([]);
      await shot('5-delivered');

      // 5. Download the archive through the console: the bytes are the bucket's.
      const exportId = (await row.getAttribute('data-export')) ?? '';
      const exp = (await (await stack.api(`/v1/exports/${exportId}`)).json()) as { files: { name: string; object: string; bytes: number; crc32c: string }[] };
      const file = exp.files[0]!;
      const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('link', { name: `Download ${file.name}` }).click()]);
      expect(download.suggestedFilename()).toBe(file.name);
      const bytes = readFileSync((await download.path())!);
      expect(bytes.length).toBe(file.bytes);
      expect(bytes.subarray(0, 4).toString('latin1')).toBe('PK\u0003\u0004');
      expect(crc32cBase64(bytes)).toBe(file.crc32c);
      expect(await downloadDigest(stack, file.object)).toEqual({ size: bytes.length, crc32c: crc32cBase64(bytes) });

      // 6. Pause the schedule.
      expect(await page.locator('#consent-schedule').textContent()).toMatch(/^Every 24 h/);
      await page.getByRole('button', { name: 'Pause schedule' }).click();
      await expect.poll(() => page.locator('#consent-schedule').textContent(), { timeout: 15_000 }).toBe('Paused');
      expect(((await (await stack.api(`/v1/${consentName}`)).json()) as { schedule?: { paused: boolean } }).schedule?.paused).toBe(true);
      await expect.poll(() => page.getByRole('button', { name: 'Resume schedule' }).count()).toBe(1);
      await shot('6-paused');

      // 7. The list, filtered by app user, shows the consent and its schedule.
      await page.goto(`${stack.info.console.proxy}/console/consents?appUserId=console-user`);
      await rendered(page, '#consents tbody tr');
      expect(await page.locator('#consents tbody tr').count()).toBe(1);
      expect(await page.locator('#consents tbody').textContent()).toContain('Paused');
      expect(critical(await accessibility(page, 'consents (filtered)'))).toEqual([]);
      await shot('7-consents-filtered');
      await page.getByRole('link', { name: consentName.slice('consents/'.length) }).click();
      await rendered(page, '#exports tbody tr[data-export]');

      // 8. Revoke and erase (the console asks first).
      const prefix = `console-user/${consentName.slice('consents/'.length)}/`;
      expect((await bucketObjects(stack, prefix)).length).toBeGreaterThan(0);
      const asked: string[] = [];
      page.once('dialog', (d) => {
        asked.push(d.message());
        void d.accept();
      });
      await page.getByRole('button', { name: 'Revoke and erase' }).click();
      await expect.poll(() => page.locator('#notice').textContent(), { timeout: 30_000 }).toBe('Consent revoked and archives erased.');
      expect(asked[0]).toContain('erase');
      expect((await getConsent(stack, consentName)).state).toBe('REVOKED');
      expect(await bucketObjects(stack, prefix)).toEqual([]);
      await expect.poll(() => page.locator('#consent-state').textContent(), { timeout: 15_000 }).toContain('Revoked');
      expect(critical(await accessibility(page, 'consent (revoked)'))).toEqual([]);
      await shot('8-revoked-erased');

      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 420_000);
});
