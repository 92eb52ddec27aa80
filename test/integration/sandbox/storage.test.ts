// Cloud Storage JSON-API subset driven by the real @google-cloud/storage client: buckets,
// multipart and media uploads, metadata and hashes, validated and Range downloads, listing with
// paging, delete and preconditions, the STORAGE_EMULATOR_HOST form, Google's error shape.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CRC32C, Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestSandbox } from './helpers.js';
import type { TestSandbox } from './helpers.js';
import { KiB, PROJECT, createBucket, digestOf, seededBuffer, storageClient, uniqueName } from './storage-helpers.js';

let sb: TestSandbox;
let storage: Storage;
let bucket: string;
const warnings: string[] = [];
const onWarning = (w: Error): void => {
  warnings.push(`${w.name}: ${w.message}`);
};

beforeAll(async () => {
  process.on('warning', onWarning);
  sb = await startTestSandbox();
  storage = storageClient(sb.baseUrl);
  bucket = await createBucket(storage);
});
afterAll(async () => {
  process.off('warning', onWarning);
  await sb.stop();
});

function localDigest(data: Buffer): { crc32c: string; md5: string } {
  const crc = new CRC32C();
  crc.update(data);
  return { crc32c: crc.toString(), md5: createHash('md5').update(data).digest('base64') };
}

/** The error a client call rejected with (fails the test when it resolved). */
async function rejection(p: Promise<unknown>): Promise<{ code?: number; message: string; errors?: Array<{ reason?: string }> }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: number; message: string };
  }
  throw new Error('expected the call to fail');
}

describe('buckets', () => {
  it('create, get, list by project; a second create is 409; bad names are 400', async () => {
    const name = uniqueName('made').toLowerCase();
    const [b, created] = await storage.createBucket(name);
    expect(created).toMatchObject({ kind: 'storage#bucket', name, id: name, location: 'US', storageClass: 'STANDARD' });
    expect(b.name).toBe(name);
    const [exists] = await storage.bucket(name).exists();
    expect(exists).toBe(true);
    const [meta] = await storage.bucket(name).getMetadata();
    expect(meta.name).toBe(name);
    const [buckets] = await storage.getBuckets();
    expect(buckets.map((x) => x.name)).toContain(name);

    const again = await rejection(storage.createBucket(name));
    expect(again.code).toBe(409);
    const raw = await call(sb.baseUrl, 'POST', `/storage/v1/b?project=${PROJECT}`, { name });
    expect(raw.status).toBe(409);
    expect(raw.body).toMatchObject({ error: { code: 409, errors: [{ reason: 'conflict', domain: 'global' }] } });

    expect((await call(sb.baseUrl, 'POST', `/storage/v1/b?project=${PROJECT}`, { name: 'UPPER_case' })).status).toBe(400);
    expect((await call(sb.baseUrl, 'POST', '/storage/v1/b', { name: 'no-project-given' })).status).toBe(400);
    const [missing] = await storage.bucket('no-such-bucket-here').exists();
    expect(missing).toBe(false);
  });

  it('an unknown bucket is 404 on every object route, in Google JSON shape', async () => {
    const b = 'no-such-bucket-x';
    const routes: Array<[string, string, unknown?]> = [
      ['GET', `/storage/v1/b/${b}`],
      ['GET', `/storage/v1/b/${b}/o`],
      ['GET', `/storage/v1/b/${b}/o/x`],
      ['GET', `/storage/v1/b/${b}/o/x?alt=media`],
      ['GET', `/download/storage/v1/b/${b}/o/x?alt=media`],
      ['DELETE', `/storage/v1/b/${b}/o/x`],
      ['PATCH', `/storage/v1/b/${b}/o/x`, {}],
      ['POST', `/upload/storage/v1/b/${b}/o?uploadType=media&name=x`, 'data'],
      ['POST', `/upload/storage/v1/b/${b}/o?uploadType=resumable&name=x`, {}],
      ['GET', `/b/${b}/o`],
    ];
    for (const [method, path, body] of routes) {
      const res = await call(sb.baseUrl, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body, `${method} ${path}`).toMatchObject({ error: { code: 404, errors: [{ reason: 'notFound' }] } });
    }
    const err = await rejection(storage.bucket(b).file('x').download());
    expect(err.code).toBe(404);
    const upload = await rejection(storage.bucket(b).file('x').save('data', { resumable: false }));
    expect(upload.code).toBe(404);
  });
});

describe('objects', () => {
  it('save (multipart) + metadata + validated download; sizes and hashes equal local ones; slashes and unicode in names', async () => {
    const data = seededBuffer(11, 300 * KiB + 17);
    const name = 'dir/sub dir/ünïcödé 😀 #?%&+.bin';
    const file = storage.bucket(bucket).file(name);
    await file.save(data, { resumable: false, metadata: { contentType: 'application/x-test', metadata: { owner: 'u1', n: '2' } } });
    const [meta] = await file.getMetadata();
    const want = localDigest(data);
    expect(meta).toMatchObject({
      kind: 'storage#object',
      name,
      bucket,
      size: String(data.length),
      crc32c: want.crc32c,
      md5Hash: want.md5,
      contentType: 'application/x-test',
      metageneration: '1',
      metadata: { owner: 'u1', n: '2' },
    });
    expect(meta.generation).toMatch(/^\d{16}$/);
    expect(Date.parse(String(meta.timeCreated))).toBeGreaterThan(0);
    const [content] = await file.download({ validation: 'crc32c' });
    expect(content.equals(data)).toBe(true);
    const [md5Checked] = await file.download({ validation: 'md5' });
    expect(md5Checked.equals(data)).toBe(true);

    // The raw download carries Google's headers.
    const res = await fetch(`${sb.baseUrl}/download/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}?alt=media`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-goog-hash')).toBe(`crc32c=${want.crc32c},md5=${want.md5}`);
    expect(res.headers.get('x-goog-generation')).toBe(meta.generation);
    expect(res.headers.get('content-length')).toBe(String(data.length));
    expect(res.headers.get('content-type')).toBe('application/x-test');
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
  });

  it('a corrupted stored object fails the client-side CRC32C validation (validation really runs)', async () => {
    const data = seededBuffer(12, 70 * KiB);
    const file = storage.bucket(bucket).file(uniqueName('corrupt'));
    await file.save(data, { resumable: false });
    const [meta] = await file.getMetadata();
    const root = join(sb.cacheDir, 'storage-runs');
    const bins = readdirSync(root).flatMap((run) =>
      readdirSync(join(root, run, 'objects'))
        .filter((f) => f.endsWith('.bin'))
        .map((f) => join(root, run, 'objects', f)),
    );
    const target = bins.find((p) => localDigest(readFileSync(p)).crc32c === meta.crc32c);
    expect(target).toBeDefined();
    const bytes = readFileSync(target ?? '');
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    writeFileSync(target ?? '', bytes);
    const err = await rejection(file.download());
    expect(String((err as { code?: unknown }).code ?? err.message)).toMatch(/CONTENT_DOWNLOAD_MISMATCH|mismatch/i);
  });

  it('media upload (uploadType=media) and announced hashes: a wrong X-Goog-Hash is 400 and stores nothing', async () => {
    const data = seededBuffer(13, 5000);
    const name = uniqueName('media');
    const url = `${sb.baseUrl}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${encodeURIComponent(name)}`;
    const ok = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/csv', 'X-Goog-Hash': `crc32c=${localDigest(data).crc32c}` }, body: data });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ name, size: '5000', contentType: 'text/csv', crc32c: localDigest(data).crc32c });

    const other = uniqueName('media-bad');
    const bad = await fetch(`${sb.baseUrl}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${other}`, {
      method: 'POST',
      headers: { 'X-Goog-Hash': 'crc32c=AAAAAA==' },
      body: data,
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 400, errors: [{ reason: 'invalid' }] } });
    const [exists] = await storage.bucket(bucket).file(other).exists();
    expect(exists).toBe(false);
  });

  it('Range downloads: createReadStream({start,end}), suffix and open ranges, 416 past the end', async () => {
    const size = 200 * KiB + 3;
    const data = seededBuffer(14, size);
    const name = uniqueName('range');
    const file = storage.bucket(bucket).file(name);
    await file.save(data, { resumable: false });
    for (const [start, end] of [
      [0, 0],
      [10, 99],
      [65_530, 131_080],
      [size - 1, size - 1],
    ] as const) {
      const got = await digestOf(file.createReadStream({ start, end }));
      const want = await digestOf([data.subarray(start, end + 1)]);
      expect(got).toEqual(want);
    }
    const path = `/storage/v1/b/${bucket}/o/${name}?alt=media`;
    const suffix = await fetch(sb.baseUrl + path, { headers: { Range: 'bytes=-10' } });
    expect(suffix.status).toBe(206);
    expect(suffix.headers.get('content-range')).toBe(`bytes ${size - 10}-${size - 1}/${size}`);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(data.subarray(size - 10))).toBe(true);
    const open = await fetch(sb.baseUrl + path, { headers: { Range: `bytes=${size - 5}-` } });
    expect(open.status).toBe(206);
    expect(open.headers.get('content-length')).toBe('5');
    await open.arrayBuffer();
    const past = await fetch(sb.baseUrl + path, { headers: { Range: `bytes=${size}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${size}`);
    expect(await past.json()).toMatchObject({ error: { code: 416 } });
  });

  it('list by prefix with paging (maxResults + pageToken), delimiter prefixes, autoPaginate', async () => {
    const b = storage.bucket(await createBucket(storage, 'list'));
    const names = [
      ...Array.from({ length: 9 }, (_, i) => `exports/u1/part-${String(i).padStart(3, '0')}.zip`),
      'exports/u2/a.zip',
      'exports/u2/b.zip',
      'exports/u3/deep/x.zip',
      'exports/top.json',
      'exports/ü-unicode',
      'other/thing',
    ];
    for (const n of names) await b.file(n).save(n, { resumable: false });

    const seen: string[] = [];
    let query: Record<string, unknown> | null = { prefix: 'exports/u1/', maxResults: 4, autoPaginate: false };
    let pages = 0;
    while (query) {
      const [files, next] = (await b.getFiles(query)) as unknown as [Array<{ name: string }>, Record<string, unknown> | null];
      expect(files.length).toBeLessThanOrEqual(4);
      seen.push(...files.map((f) => f.name));
      query = next;
      pages += 1;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(names.slice(0, 9));

    const [all] = await b.getFiles({ prefix: 'exports/' });
    expect(all.map((f) => f.name)).toEqual([...names.filter((n) => n.startsWith('exports/'))].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));

    // Delimiter: objects directly under the prefix plus one entry per "folder", paged too.
    const itemsSeen: string[] = [];
    const prefixesSeen: string[] = [];
    let token: string | undefined;
    do {
      const res = await call(sb.baseUrl, 'GET', `/storage/v1/b/${b.name}/o?prefix=exports/&delimiter=/&maxResults=2${token ? `&pageToken=${token}` : ''}`);
      expect(res.status).toBe(200);
      itemsSeen.push(...((res.body.items as Array<{ name: string }> | undefined) ?? []).map((i) => i.name));
      prefixesSeen.push(...((res.body.prefixes as string[] | undefined) ?? []));
      token = res.body.nextPageToken as string | undefined;
    } while (token);
    expect(prefixesSeen).toEqual(['exports/u1/', 'exports/u2/', 'exports/u3/']);
    expect(itemsSeen).toEqual(['exports/top.json', 'exports/ü-unicode']);

    expect((await call(sb.baseUrl, 'GET', `/storage/v1/b/${b.name}/o?pageToken=garbage!`)).status).toBe(400);
    expect((await call(sb.baseUrl, 'GET', `/storage/v1/b/${b.name}/o?maxResults=x`)).status).toBe(400);
  });

  it('delete: 204, then 404; ifGenerationMatch honoured', async () => {
    const file = storage.bucket(bucket).file(uniqueName('del/ete'));
    await file.save('x', { resumable: false });
    const [meta] = await file.getMetadata();
    const wrong = await rejection(file.delete({ ifGenerationMatch: Number(meta.generation) + 1 }));
    expect(wrong.code).toBe(412);
    expect((await file.exists())[0]).toBe(true);
    const path = `/storage/v1/b/${bucket}/o/${encodeURIComponent(file.name)}`;
    const res = await call(sb.baseUrl, 'DELETE', `${path}?ifGenerationMatch=${String(meta.generation)}`);
    expect(res.status).toBe(204);
    expect((await file.exists())[0]).toBe(false);
    expect((await call(sb.baseUrl, 'DELETE', path)).status).toBe(404);
    const gone = await rejection(file.delete());
    expect(gone.code).toBe(404);
  });

  it('preconditions: ifGenerationMatch=0 refuses an overwrite (412, Google shape); NotMatch on GET is 304; metageneration via PATCH', async () => {
    const file = storage.bucket(bucket).file(uniqueName('pre'));
    await file.save('first', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    const [before] = await file.getMetadata();
    const err = await rejection(file.save('second', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }));
    expect(err.code).toBe(412);
    const raw = await call(sb.baseUrl, 'POST', `/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${file.name}&ifGenerationMatch=0`, 'second');
    expect(raw.body).toMatchObject({ error: { code: 412, errors: [{ reason: 'conditionNotMet', domain: 'global' }] } });
    expect((await file.download())[0].toString()).toBe('first');
    expect((await file.getMetadata())[0].generation).toBe(before.generation);

    // Overwrite with the right generation works and changes the generation.
    await file.save('third', { resumable: false, preconditionOpts: { ifGenerationMatch: Number(before.generation) } });
    const [after] = await file.getMetadata();
    expect(BigInt(String(after.generation))).toBeGreaterThan(BigInt(String(before.generation)));
    const path = `/storage/v1/b/${bucket}/o/${file.name}`;
    expect((await fetch(`${sb.baseUrl}${path}?ifGenerationNotMatch=${String(after.generation)}`)).status).toBe(304);
    expect((await call(sb.baseUrl, 'GET', `${path}?ifGenerationMatch=${String(before.generation)}`)).status).toBe(412);
    expect((await call(sb.baseUrl, 'GET', `${path}?ifGenerationMatch=abc`)).status).toBe(400);

    await file.setMetadata({ metadata: { k: 'v' } }, { ifMetagenerationMatch: 1 });
    const [patched] = await file.getMetadata();
    expect(patched).toMatchObject({ metageneration: '2', metadata: { k: 'v' }, generation: after.generation });
    const stale = await rejection(file.setMetadata({ metadata: { k: 'w' } }, { ifMetagenerationMatch: 1 }));
    expect(stale.code).toBe(412);
  });

  it('STORAGE_EMULATOR_HOST=<base URL> works as well (JSON calls under /b…)', async () => {
    const previous = process.env.STORAGE_EMULATOR_HOST;
    process.env.STORAGE_EMULATOR_HOST = sb.baseUrl;
    let client: Storage;
    try {
      client = new Storage({ projectId: PROJECT });
    } finally {
      if (previous === undefined) delete process.env.STORAGE_EMULATOR_HOST;
      else process.env.STORAGE_EMULATOR_HOST = previous;
    }
    const name = uniqueName('env').toLowerCase();
    await client.createBucket(name);
    const f = client.bucket(name).file('a/b.txt');
    await f.save('via env', { resumable: false });
    expect((await f.download())[0].toString()).toBe('via env');
    const data = seededBuffer(5, 10 * KiB);
    await f.save(data, { resumable: true });
    const [files] = await client.bucket(name).getFiles();
    expect(files.map((x) => x.name)).toEqual(['a/b.txt']);
    expect((await f.download())[0].equals(data)).toBe(true);
  });

  it('the client never looked for Google credentials or the metadata server (no MetadataLookupWarning)', () => {
    expect(warnings.filter((w) => /Metadata|credential/i.test(w))).toEqual([]);
  });
});
