import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { newSigningSecret, signatureHeader } from '../../../functions/core/webhooks/signature.js';

/** The README's verification snippet, run as written, against signatures the delivery worker makes. */
const readme = readFileSync(join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('#### Verifying a delivery'));
const snippet = /```js\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
const dir = mkdtempSync(join(tmpdir(), 'webhook-snippet-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Verify = (secret: string, rawBody: string, headers: Record<string, string>, toleranceSeconds?: number) => boolean;

async function loadSnippet(): Promise<Verify> {
  const file = join(dir, 'verify.mjs');
  writeFileSync(file, snippet);
  return ((await import(pathToFileURL(file).href)) as { verifyWebhook: Verify }).verifyWebhook;
}

describe("the README's verification snippet", () => {
  it('accepts a delivery as signed, refuses a tampered body, another secret, an old timestamp, a missing header', async () => {
    expect(snippet).toContain('export function verifyWebhook');
    const verify = await loadSnippet();
    const secret = newSigningSecret();
    const body = JSON.stringify({ id: 'export.delivered/exports/j/run-1', type: 'export.delivered', data: { bytes: 10 } });
    const now = Math.floor(Date.now() / 1000);
    const headers = (timestamp: number, secrets = [secret]) => ({ 'webhook-timestamp': String(timestamp), 'webhook-signature': signatureHeader(secrets, timestamp, body) });
    expect(verify(secret, body, headers(now))).toBe(true);
    expect(verify(secret, body.replace('10', '11'), headers(now))).toBe(false);
    expect(verify(newSigningSecret(), body, headers(now))).toBe(false);
    expect(verify(secret, body, headers(now - 600))).toBe(false);
    expect(verify(secret, body, { 'webhook-timestamp': String(now) })).toBe(false);
    // During a rotation's grace period either secret verifies.
    const old = newSigningSecret();
    expect([verify(secret, body, headers(now, [secret, old])), verify(old, body, headers(now, [secret, old]))]).toEqual([true, true]);
  });
});
