// Resumable uploads with the real @google-cloud/storage client: a 40 MiB stream in 1 MiB chunks
// with CRC32C validation, ifGenerationMatch=0 (also at finalisation, against a zombie session),
// an upload interrupted mid-chunk and resumed from a new client instance, an injected 503 on a
// chunk retried by the client, and the session protocol itself (308/Range, overlap, gaps).
import { pipeline } from 'node:stream/promises';
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestSandbox } from './helpers.js';
import type { TestSandbox } from './helpers.js';
import { KiB, MiB, createBucket, crc32cOfPrefix, digestOf, seededBuffer, seededPieces, seededStream, storageClient, uniqueName } from './storage-helpers.js';

let sb: TestSandbox;
let storage: Storage;
let bucket: string;

beforeAll(async () => {
  sb = await startTestSandbox();
  storage = storageClient(sb.baseUrl);
  bucket = await createBucket(storage, 'resumable');
});
afterAll(async () => {
  await sb.stop();
});

interface CallRow {
  method: string;
  path: string;
  status: number;
  fault?: string;
}

async function calls(): Promise<CallRow[]> {
  return (await call(sb.baseUrl, 'GET', '/sandbox/v1/calls')).body.calls as CallRow[];
}

/** Opens a session by hand (as the client does) and returns its URI. */
async function openSession(name: string, query = '', headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${sb.baseUrl}/upload/storage/v1/b/${bucket}/o?uploadType=resumable&name=${encodeURIComponent(name)}${query}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: '{}',
  });
  expect(res.status).toBe(200);
  const location = res.headers.get('location');
  expect(location?.startsWith(`${sb.baseUrl}/upload/storage/v1/b/${bucket}/o?`)).toBe(true);
  return location ?? '';
}

async function put(uri: string, range: string, body?: Buffer): Promise<Response> {
  return fetch(uri, { method: 'PUT', headers: { 'Content-Range': range }, ...(body ? { body } : {}) });
}

describe('resumable uploads with the client', () => {
  it('40 MiB generated stream, chunkSize 1 MiB, validation crc32c, ifGenerationMatch 0: object size and hashes match; one PUT per chunk', async () => {
    const total = 40 * MiB + 12_345;
    const name = `big/${uniqueName('archive')}.zip`;
    const file = storage.bucket(bucket).file(name);
    await call(sb.baseUrl, 'DELETE', '/sandbox/v1/calls');
    let uri = '';
    const ws = file.createWriteStream({
      resumable: true,
      chunkSize: MiB,
      validation: 'crc32c',
      preconditionOpts: { ifGenerationMatch: 0 },
      metadata: { contentType: 'application/zip' },
    });
    ws.on('uri', (u: string) => (uri = u));
    await pipeline(seededStream(1, total), ws);

    const want = await digestOf(seededPieces(1, total));
    const [meta] = await file.getMetadata();
    expect(meta).toMatchObject({ size: String(total), crc32c: want.crc32c, md5Hash: want.md5, contentType: 'application/zip' });
    expect(await digestOf(file.createReadStream({ validation: 'crc32c' }))).toEqual(want);

    const puts = (await calls()).filter((c) => c.method === 'PUT' && c.path === `/upload/storage/v1/b/${bucket}/o`);
    expect(puts.length).toBe(41);
    expect(puts.slice(0, 40).every((c) => c.status === 308)).toBe(true);
    expect(puts[40]?.status).toBe(200);

    // A status query on the finished session answers the object.
    const done = await put(uri, 'bytes */*');
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ name, size: String(total), crc32c: want.crc32c });
  });

  it('ifGenerationMatch 0: a second upload of the same name is 412 and the first object is unchanged', async () => {
    const name = uniqueName('once');
    const file = storage.bucket(bucket).file(name);
    await file.save(seededBuffer(2, 600 * KiB), { resumable: true, chunkSize: 256 * KiB, preconditionOpts: { ifGenerationMatch: 0 } });
    const [first] = await file.getMetadata();
    // The session request is refused: gaxios' error carries the status and Google's error body.
    let err: { status?: number; response?: { data?: unknown } } | undefined;
    try {
      await file.save(seededBuffer(3, 600 * KiB), { resumable: true, chunkSize: 256 * KiB, preconditionOpts: { ifGenerationMatch: 0 } });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.status).toBe(412);
    expect(err?.response?.data).toMatchObject({ error: { code: 412, errors: [{ reason: 'conditionNotMet' }] } });
    const [after] = await file.getMetadata();
    expect(after.generation).toBe(first.generation);
    expect(after.crc32c).toBe(first.crc32c);
    expect(await digestOf(file.createReadStream())).toEqual(await digestOf(seededPieces(2, 600 * KiB)));
  });

  it('ifGenerationMatch 0 is checked again at finalisation: a zombie session cannot overwrite', async () => {
    const name = uniqueName('zombie');
    const a = await openSession(name, '&ifGenerationMatch=0');
    const b = await openSession(name, '&ifGenerationMatch=0');
    const dataA = seededBuffer(4, 300 * KiB);
    const dataB = seededBuffer(5, 300 * KiB);
    // B persists its first 256 KiB before A finishes.
    expect((await put(b, `bytes 0-${256 * KiB - 1}/*`, dataB.subarray(0, 256 * KiB))).status).toBe(308);
    const finishA = await put(a, `bytes 0-${dataA.length - 1}/${dataA.length}`, dataA);
    expect(finishA.status).toBe(200);
    const finishB = await put(b, `bytes ${256 * KiB}-${dataB.length - 1}/${dataB.length}`, dataB.subarray(256 * KiB));
    expect(finishB.status).toBe(412);
    expect(await finishB.json()).toMatchObject({ error: { code: 412, errors: [{ reason: 'conditionNotMet', domain: 'global' }] } });
    // The failed session keeps answering its failure; the object is A's.
    expect((await put(b, 'bytes */*')).status).toBe(412);
    const [content] = await storage.bucket(bucket).file(name).download();
    expect(content.equals(dataA)).toBe(true);
  });

  it('an upload interrupted mid-chunk is resumed by a NEW client with uri + persisted offset + resumeCRC32C', async () => {
    const total = 12 * MiB + 777;
    const name = uniqueName('interrupted');
    const first = storageClient(sb.baseUrl);
    let uri = '';
    const ws = first
      .bucket(bucket)
      .file(name)
      .createWriteStream({ resumable: true, chunkSize: MiB, validation: 'crc32c', preconditionOpts: { ifGenerationMatch: 0 } });
    ws.on('uri', (u: string) => (uri = u));
    // Crash once the client has pushed 5.5 MiB: the in-flight chunk request is aborted.
    ws.on('progress', (p: { bytesWritten: number }) => {
      if (p.bytesWritten >= 5.5 * MiB && !ws.destroyed) ws.destroy(new Error('simulated crash'));
    });
    await expect(pipeline(seededStream(6, total), ws)).rejects.toThrow(/simulated crash/);
    expect(uri).not.toBe('');

    // What the server kept: a 256 KiB multiple covering the acknowledged chunks, below the total.
    const status = await put(uri, 'bytes */*');
    expect(status.status).toBe(308);
    const range = /^bytes=0-(\d+)$/.exec(status.headers.get('range') ?? '');
    const offset = Number(range?.[1]) + 1;
    expect(offset).toBeGreaterThanOrEqual(5 * MiB);
    expect(offset).toBeLessThan(total);
    expect(offset % (256 * KiB)).toBe(0);

    // A new process: new Storage instance, same session URI, continues from the offset.
    const second = storageClient(sb.baseUrl);
    const file = second.bucket(bucket).file(name);
    const resumed = file.createWriteStream({
      uri,
      offset,
      resumeCRC32C: crc32cOfPrefix(6, offset),
      chunkSize: MiB,
      validation: 'crc32c',
      preconditionOpts: { ifGenerationMatch: 0 },
    });
    let clientCrc = '';
    resumed.on('crc32c', (c: string) => (clientCrc = c));
    await pipeline(seededStream(6, total, offset), resumed);

    const want = await digestOf(seededPieces(6, total));
    const [meta] = await file.getMetadata();
    expect(meta).toMatchObject({ size: String(total), crc32c: want.crc32c, md5Hash: want.md5 });
    expect(clientCrc).toBe(want.crc32c);
    expect(await digestOf(file.createReadStream())).toEqual(want);
  });

  it('isPartialUpload: one process uploads a part and stops, another continues with offset + the emitted crc32c', async () => {
    const total = 5 * MiB + 4321;
    const part = 2 * MiB;
    const name = uniqueName('partial');
    let uri = '';
    let partCrc = '';
    const ws = storageClient(sb.baseUrl).bucket(bucket).file(name).createWriteStream({ isPartialUpload: true, chunkSize: MiB, validation: 'crc32c' });
    ws.on('uri', (u: string) => (uri = u));
    ws.on('crc32c', (c: string) => (partCrc = c));
    await pipeline(seededStream(16, part), ws);
    expect(partCrc).toBe(crc32cOfPrefix(16, part));
    const status = await put(uri, 'bytes */*');
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe(`bytes=0-${part - 1}`);
    expect((await storage.bucket(bucket).file(name).exists())[0]).toBe(false);

    const file = storageClient(sb.baseUrl).bucket(bucket).file(name);
    await pipeline(seededStream(16, total, part), file.createWriteStream({ uri, offset: part, resumeCRC32C: partCrc, chunkSize: MiB, validation: 'crc32c' }));
    const want = await digestOf(seededPieces(16, total));
    expect((await file.getMetadata())[0]).toMatchObject({ size: String(total), crc32c: want.crc32c, md5Hash: want.md5 });
  });

  it('a new client given only the session URI asks for the offset and skips what is persisted', async () => {
    const total = 3 * MiB + 5;
    const name = uniqueName('uri-only');
    const uri = await openSession(name);
    // An earlier process persisted 1.5 MiB (sent as one chunk; all of it is on a 256 KiB boundary).
    const head = seededBuffer(7, 1.5 * MiB);
    const r = await put(uri, `bytes 0-${head.length - 1}/*`, head);
    expect(r.status).toBe(308);
    expect(r.headers.get('range')).toBe(`bytes=0-${head.length - 1}`);

    const file = storageClient(sb.baseUrl).bucket(bucket).file(name);
    await pipeline(seededStream(7, total), file.createWriteStream({ uri, chunkSize: 512 * KiB, validation: 'crc32c' }));
    const want = await digestOf(seededPieces(7, total));
    expect((await file.getMetadata())[0]).toMatchObject({ size: String(total), crc32c: want.crc32c, md5Hash: want.md5 });
  });

  it('an injected 503 on a chunk PUT is retried by the client and the object is still correct', async () => {
    const total = 6 * MiB + 99;
    const name = uniqueName('faulted');
    await call(sb.baseUrl, 'DELETE', '/sandbox/v1/calls');
    const file = storage.bucket(bucket).file(name);
    const ws = file.createWriteStream({ resumable: true, chunkSize: MiB, validation: 'crc32c', preconditionOpts: { ifGenerationMatch: 0 } });
    let armed = false;
    ws.on('progress', (p: { bytesWritten: number }) => {
      if (armed || p.bytesWritten < 2 * MiB) return;
      armed = true;
      void call(sb.baseUrl, 'POST', '/sandbox/v1/faults', { rules: [{ path: `^/upload/storage/v1/b/${bucket}/o$`, method: 'PUT', action: 'status:503', times: 1 }] });
    });
    await pipeline(seededStream(8, total), ws);
    const want = await digestOf(seededPieces(8, total));
    expect((await file.getMetadata())[0]).toMatchObject({ size: String(total), crc32c: want.crc32c, md5Hash: want.md5 });
    expect(await digestOf(file.createReadStream())).toEqual(want);
    const faulted = (await calls()).filter((c) => c.fault === 'status:503');
    expect(faulted).toEqual([expect.objectContaining({ method: 'PUT', status: 503 })]);
  });

  it('a connection reset on the first chunk PUT is retried by the client (the call log shows it)', async () => {
    const total = 3 * MiB + 7;
    const name = uniqueName('reset');
    await call(sb.baseUrl, 'DELETE', '/sandbox/v1/calls');
    await call(sb.baseUrl, 'POST', '/sandbox/v1/faults', { rules: [{ path: `^/upload/storage/v1/b/${bucket}/o$`, method: 'PUT', action: 'reset', times: 1 }] });
    const file = storage.bucket(bucket).file(name);
    await pipeline(seededStream(15, total), file.createWriteStream({ resumable: true, chunkSize: MiB, validation: 'crc32c', preconditionOpts: { ifGenerationMatch: 0 } }));
    const want = await digestOf(seededPieces(15, total));
    expect((await file.getMetadata())[0]).toMatchObject({ size: String(total), crc32c: want.crc32c, md5Hash: want.md5 });
    const reset = (await calls()).filter((c) => c.fault === 'reset');
    expect(reset).toEqual([expect.objectContaining({ method: 'PUT', status: 0 })]);
  });

  it('single-request resumable (no chunkSize): the whole stream in one PUT "bytes 0-*/*"', async () => {
    const total = 2 * MiB + 1;
    const file = storage.bucket(bucket).file(uniqueName('single'));
    await pipeline(seededStream(9, total), file.createWriteStream({ resumable: true, validation: 'md5' }));
    const want = await digestOf(seededPieces(9, total));
    expect((await file.getMetadata())[0]).toMatchObject({ size: String(total), crc32c: want.crc32c, md5Hash: want.md5 });
  });

  it('empty objects, resumable and multipart', async () => {
    const a = storage.bucket(bucket).file(uniqueName('empty-r'));
    await a.save(Buffer.alloc(0), { resumable: true });
    const b = storage.bucket(bucket).file(uniqueName('empty-m'));
    await b.save(Buffer.alloc(0), { resumable: false });
    for (const f of [a, b]) {
      expect((await f.getMetadata())[0]).toMatchObject({ size: '0', crc32c: 'AAAAAA==', md5Hash: '1B2M2Y8AsgTpgAmY7PhCfg==' });
      expect((await f.download())[0].length).toBe(0);
    }
  });
});

describe('session protocol', () => {
  it('308 without Range before anything is persisted; unaligned non-final data is kept only to the last 256 KiB boundary', async () => {
    const uri = await openSession(uniqueName('proto'));
    const first = await put(uri, 'bytes */*');
    expect(first.status).toBe(308);
    expect(first.headers.get('range')).toBeNull();
    const data = seededBuffer(10, 700 * KiB);
    const r = await put(uri, `bytes 0-${300 * KiB - 1}/*`, data.subarray(0, 300 * KiB));
    expect(r.status).toBe(308);
    expect(r.headers.get('range')).toBe(`bytes=0-${256 * KiB - 1}`);
    // Overlap: resend from 0; the persisted 256 KiB are skipped, the rest appended.
    const again = await put(uri, `bytes 0-${512 * KiB - 1}/*`, data.subarray(0, 512 * KiB));
    expect(again.status).toBe(308);
    expect(again.headers.get('range')).toBe(`bytes=0-${512 * KiB - 1}`);
    // A chunk past the persisted end is refused the way GCS does (503, text body).
    const gap = await put(uri, `bytes ${600 * KiB}-${700 * KiB - 1}/${700 * KiB}`, data.subarray(600 * KiB));
    expect(gap.status).toBe(503);
    expect(await gap.text()).toBe(
      `Invalid request.  According to the Content-Range header, the upload offset is ${600 * KiB} byte(s), which exceeds already uploaded size of ${512 * KiB} byte(s).`,
    );
    // Body shorter than the Content-Range announces: 400, nothing new persisted.
    const short = await put(uri, `bytes ${512 * KiB}-${700 * KiB - 1}/${700 * KiB}`, data.subarray(512 * KiB, 600 * KiB));
    expect(short.status).toBe(400);
    expect((await put(uri, 'bytes */*')).headers.get('range')).toBe(`bytes=0-${512 * KiB - 1}`);
    // The final chunk finalises; the object has exactly the bytes sent.
    const last = await put(uri, `bytes ${512 * KiB}-${700 * KiB - 1}/${700 * KiB}`, data.subarray(512 * KiB));
    expect(last.status).toBe(200);
    const obj = (await last.json()) as { size: string; md5Hash: string };
    expect(obj.size).toBe(String(700 * KiB));
    expect(obj.md5Hash).toBe((await digestOf([data])).md5);
  });

  it('"bytes */N" with N = persisted finalises; the X-GUploader-No-308 form; DELETE cancels (499); unknown ids 404', async () => {
    const uri = await openSession(uniqueName('proto2'));
    const data = seededBuffer(11, 256 * KiB);
    const r = await fetch(uri, { method: 'PUT', headers: { 'Content-Range': `bytes 0-${data.length - 1}/*`, 'X-GUploader-No-308': 'yes' }, body: data });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-http-status-code-override')).toBe('308');
    const fin = await put(uri, `bytes */${data.length}`);
    expect(fin.status).toBe(200);
    expect(await fin.json()).toMatchObject({ size: String(data.length) });

    const other = await openSession(uniqueName('cancel'));
    expect((await fetch(other, { method: 'DELETE' })).status).toBe(499);
    expect((await put(other, 'bytes */*')).status).toBe(404);
    const unknown = other.replace(/upload_id=[^&]+/, 'upload_id=AAAAAAAAAAAAAAAAAAAAAAAA');
    expect((await put(unknown, 'bytes */*')).status).toBe(404);
    expect((await put(other.replace(/upload_id=[^&]+/, 'upload_id=../../etc'), 'bytes */*')).status).toBe(404);
    expect((await put(uri, 'bytes 5-1/*')).status).toBe(400);
    expect((await put(uri, 'garbage')).status).toBe(400);
  });

  it('X-Upload-Content-Length and hashes announced at initiation are enforced', async () => {
    const data = seededBuffer(12, 1000);
    const uri = await openSession(uniqueName('announced'), '', { 'X-Upload-Content-Length': '1000' });
    expect((await put(uri, 'bytes 0-999/2000', data)).status).toBe(400);
    const ok = await put(uri, 'bytes 0-999/*', data);
    expect(ok.status).toBe(200);

    const name = uniqueName('bad-hash');
    const res = await fetch(`${sb.baseUrl}/upload/storage/v1/b/${bucket}/o?uploadType=resumable&name=${name}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ crc32c: 'AAAAAA==' }),
    });
    const bad = await put(res.headers.get('location') ?? '', 'bytes 0-999/1000', data);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 400, errors: [{ reason: 'invalid' }] } });
    expect((await storage.bucket(bucket).file(name).exists())[0]).toBe(false);
  });
});
