// Signed archive URLs: exact sizes, Cloud Storage headers and hashes, Range/HEAD, expiry and
// tampering, several parts for large archives, Takeout-like zip layout, deterministic content.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRC32C } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advance, api, call, connect, startTestSandbox, token as tokenCall } from './helpers.js';
import type { Connected, TestSandbox } from './helpers.js';

let sb: TestSandbox;
let work: string;

beforeAll(async () => {
  sb = await startTestSandbox({ config: { archiveBytes: 300_000, jobDurationSeconds: 1 } });
  work = mkdtempSync(join(tmpdir(), 'sandbox-archives-'));
});
afterAll(async () => {
  await sb.stop();
  rmSync(work, { recursive: true, force: true });
});

async function completedUrls(group: string, body: Record<string, unknown> = {}, user?: string): Promise<{ urls: string[]; token: string; id: string; conn: Connected }> {
  const c = await connect(sb.baseUrl, [group], {}, user ? { user } : {});
  const dp = api(sb.baseUrl, c.accessToken);
  const id = String((await dp.initiate({ resources: [group], ...body })).body.archiveJobId);
  await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${id}:complete`, {});
  const state = await dp.state(id);
  return { urls: state.body.urls as string[], token: c.accessToken, id, conn: c };
}

function zipListing(bytes: Buffer): string[] {
  const file = join(work, `${createHash('md5').update(bytes).digest('hex')}.zip`);
  writeFileSync(file, bytes);
  execFileSync('unzip', ['-tqq', file]);
  return execFileSync('zipinfo', ['-1', file], { encoding: 'utf8' }).trim().split('\n');
}

describe('archive download', () => {
  it('serves a valid Takeout-like zip of the configured size with x-goog-hash', async () => {
    const { urls } = await completedUrls('myactivity.search');
    expect(urls).toHaveLength(1);
    const url = new URL(urls[0] ?? '');
    expect(url.pathname).toMatch(/^\/dataportability-sandbox-archives\/[0-9a-f-]{36}\/takeout-\d{8}T\d{6}Z-001\.zip$/);
    for (const p of ['X-Goog-Algorithm', 'X-Goog-Credential', 'X-Goog-Date', 'X-Goog-Expires', 'X-Goog-SignedHeaders', 'X-Goog-Signature']) {
      expect(url.searchParams.has(p)).toBe(true);
    }
    expect(url.searchParams.get('X-Goog-Expires')).toBe(String(6 * 3600));
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.length).toBe(300_000);
    expect(res.headers.get('content-length')).toBe('300000');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    const crc = new CRC32C();
    crc.update(bytes);
    const md5 = createHash('md5').update(bytes).digest('base64');
    expect(res.headers.get('x-goog-hash')).toBe(`crc32c=${crc.toString()},md5=${md5}`);
    const entries = zipListing(bytes);
    expect(entries).toContain('Takeout/archive_browser.html');
    expect(entries).toContain('Takeout/My Activity/Search/MyActivity.json');
    expect(entries.some((e) => e.startsWith('Takeout/My Activity/Search/media/'))).toBe(true);
  });

  it('content is deterministic per group and time window', async () => {
    const window = { startTime: '2024-01-01T00:00:00Z', endTime: '2024-06-01T00:00:00Z' };
    const a = await completedUrls('youtube.comments', window, 'a@example.com');
    const b = await completedUrls('youtube.comments', window, 'b@example.com');
    const c = await completedUrls('youtube.comments', { ...window, startTime: '2024-02-01T00:00:00Z' }, 'c@example.com');
    const hash = async (u: string) => (await fetch(u)).headers.get('x-goog-hash');
    expect(await hash(a.urls[0] ?? '')).toBe(await hash(b.urls[0] ?? ''));
    expect(await hash(a.urls[0] ?? '')).not.toBe(await hash(c.urls[0] ?? ''));
  });

  it('Range gives 206 with Content-Range, HEAD gives headers only, bad ranges 416', async () => {
    const { urls } = await completedUrls('youtube.clips');
    const u = urls[0] ?? '';
    const full = Buffer.from(await (await fetch(u)).arrayBuffer());
    const part = await fetch(u, { headers: { Range: 'bytes=1000-1999' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 1000-1999/${full.length}`);
    expect(part.headers.get('content-length')).toBe('1000');
    expect(Buffer.from(await part.arrayBuffer()).equals(full.subarray(1000, 2000))).toBe(true);
    const tail = await fetch(u, { headers: { Range: 'bytes=-10' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(full.subarray(full.length - 10))).toBe(true);
    const open = await fetch(u, { headers: { Range: `bytes=${full.length - 3}-` } });
    expect(open.headers.get('content-range')).toBe(`bytes ${full.length - 3}-${full.length - 1}/${full.length}`);
    const head = await fetch(u, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(full.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const bad = await fetch(u, { headers: { Range: `bytes=${full.length}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${full.length}`);
    expect(await bad.text()).toContain('<Code>InvalidRange</Code>');
  });

  it('403 after expiry (fresh URLs from the state work) and when tampered', async () => {
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { urlTtlSeconds: 60 });
    try {
      const { urls, token, id } = await completedUrls('youtube.posts');
      const u = new URL(urls[0] ?? '');
      const tampered = new URL(u);
      tampered.searchParams.set('X-Goog-Expires', '604800');
      const t1 = await fetch(tampered);
      expect(t1.status).toBe(403);
      expect(await t1.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
      const otherJob = new URL(u);
      otherJob.pathname = otherJob.pathname.replace(/[0-9a-f]{8}-/, '00000000-');
      expect((await fetch(otherJob)).status).toBe(403);
      const unsigned = new URL(u);
      unsigned.searchParams.delete('X-Goog-Signature');
      expect((await fetch(unsigned)).status).toBe(403);
      expect((await fetch(u)).status).toBe(200);
      await advance(sb.baseUrl, 61);
      const expired = await fetch(u);
      expect(expired.status).toBe(403);
      expect(await expired.text()).toContain('<Code>ExpiredToken</Code>');
      const fresh = await api(sb.baseUrl, token).state(id);
      expect((await fetch((fresh.body.urls as string[])[0] ?? '')).status).toBe(200);
    } finally {
      await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { urlTtlSeconds: 6 * 3600 });
    }
  });

  it('a large archive comes as several URLs, each a valid zip part', async () => {
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { archiveBytes: 2_500_000, archivePartBytes: 1_000_000 });
    try {
      const { urls } = await completedUrls('maps.photos_videos');
      expect(urls).toHaveLength(3);
      const sizes: number[] = [];
      for (const [i, u] of urls.entries()) {
        expect(new URL(u).pathname).toMatch(new RegExp(`-00${i + 1}\\.zip$`));
        const bytes = Buffer.from(await (await fetch(u)).arrayBuffer());
        sizes.push(bytes.length);
        const entries = zipListing(bytes);
        expect(entries.includes('Takeout/archive_browser.html')).toBe(i === 0);
      }
      expect(sizes).toEqual([1_000_000, 1_000_000, 500_000]);
    } finally {
      await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { archiveBytes: 300_000, archivePartBytes: 2 * 1024 ** 3 });
    }
  });

  it('a download cut by a fault resumes with Range; the joined bytes match x-goog-hash', async () => {
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { archiveBytes: 40 * 1024 * 1024, archivePartBytes: 16 * 1024 * 1024 });
    try {
      const { urls } = await completedUrls('youtube.private_videos');
      expect(urls).toHaveLength(3);
      const u = urls[1] ?? '';
      await call(sb.baseUrl, 'POST', '/sandbox/v1/faults', { rules: [{ path: '^/dataportability-sandbox-archives/', action: 'dropAfterBytes:5000000', times: 1 }] });
      const chunks: Buffer[] = [];
      let received = 0;
      try {
        const res = await fetch(u);
        for await (const chunk of res.body ?? []) {
          chunks.push(Buffer.from(chunk as Uint8Array));
          received += (chunk as Uint8Array).length;
        }
      } catch {
        // the connection was cut
      }
      expect(received).toBeGreaterThan(0);
      expect(received).toBeLessThan(16 * 1024 * 1024);
      const rest = await fetch(u, { headers: { Range: `bytes=${received}-` } });
      expect(rest.status).toBe(206);
      const whole = Buffer.concat([...chunks, Buffer.from(await rest.arrayBuffer())]);
      expect(whole.length).toBe(16 * 1024 * 1024);
      const md5 = /md5=([^,]+)/.exec(rest.headers.get('x-goog-hash') ?? '')?.[1];
      expect(createHash('md5').update(whole).digest('base64')).toBe(md5);
    } finally {
      await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { archiveBytes: 300_000, archivePartBytes: 2 * 1024 ** 3 });
      await call(sb.baseUrl, 'DELETE', '/sandbox/v1/faults');
    }
  });

  it('archiveBytesByResource sizes one group differently', async () => {
    await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { archiveBytesByResource: { 'youtube.live_chat': 123_456 } });
    try {
      const { urls } = await completedUrls('youtube.live_chat');
      const head = await fetch(urls[0] ?? '', { method: 'HEAD' });
      expect(head.headers.get('content-length')).toBe('123456');
    } finally {
      await call(sb.baseUrl, 'PUT', '/sandbox/v1/config', { archiveBytesByResource: {} });
    }
  });

  it('archives are deleted after the retention period (404 NoSuchKey)', async () => {
    const { id, conn } = await completedUrls('youtube.conversations');
    await advance(sb.baseUrl, 14 * 86400 + 1);
    const refreshed = await tokenCall(sb.baseUrl, conn.client, { grant_type: 'refresh_token', refresh_token: conn.refreshToken ?? '' });
    const state = await api(sb.baseUrl, String(refreshed.body.access_token)).state(id);
    expect(state.body.state).toBe('COMPLETE');
    const res = await fetch((state.body.urls as string[])[0] ?? '');
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('<Code>NoSuchKey</Code>');
  });

  it('after authorization:reset the old archives are gone (403)', async () => {
    const { urls, token } = await completedUrls('youtube.shopping');
    expect((await fetch(urls[0] ?? '')).status).toBe(200);
    await api(sb.baseUrl, token).reset();
    const res = await fetch(urls[0] ?? '');
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('<Code>AccessDenied</Code>');
  });
});
