// Cloud Storage state across sandbox restarts: with a data folder, buckets, objects (files on
// disk) and open resumable sessions survive, and a session is finished by a new client after the
// restart; without one, every start is empty.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startSandbox } from '../../../infra/sandbox/server.js';
import type { RunningSandbox } from '../../../infra/sandbox/server.js';
import { call } from './helpers.js';
import { KiB, MiB, crc32cOfPrefix, digestOf, seededBuffer, seededPieces, seededStream, storageClient } from './storage-helpers.js';

const folders: string[] = [];
const running: RunningSandbox[] = [];

function folder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

async function start(dataDir: string | undefined, cacheDir: string): Promise<RunningSandbox> {
  const sb = await startSandbox({ port: 0, cacheDir, ...(dataDir ? { dataDir } : {}) });
  running.push(sb);
  return sb;
}

async function stop(sb: RunningSandbox): Promise<void> {
  running.splice(running.indexOf(sb), 1);
  await sb.close();
}

afterAll(async () => {
  for (const sb of running) await sb.close();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

describe('storage persistence', () => {
  it('with a data folder: buckets, objects and an open session survive a restart; a new client finishes the session', async () => {
    const dataDir = folder('storage-data-');
    const cacheDir = folder('storage-cache-');
    const bucket = 'persisted-bucket';
    const total = 2 * MiB + 321;
    const objectData = seededBuffer(21, 100 * KiB + 1);

    const first = await start(dataDir, cacheDir);
    const s1 = storageClient(first.baseUrl);
    await s1.createBucket(bucket);
    await s1
      .bucket(bucket)
      .file('kept/object.bin')
      .save(objectData, { resumable: false, metadata: { metadata: { k: 'v' } } });
    const [before] = await s1.bucket(bucket).file('kept/object.bin').getMetadata();
    const init = await fetch(`${first.baseUrl}/upload/storage/v1/b/${bucket}/o?uploadType=resumable&name=later.bin&ifGenerationMatch=0`, {
      method: 'POST',
      body: '{}',
      headers: { 'Content-Type': 'application/json' },
    });
    const oldUri = init.headers.get('location') ?? '';
    const head = Buffer.concat([...seededPieces(22, 768 * KiB)]);
    const partial = await fetch(oldUri, { method: 'PUT', headers: { 'Content-Range': `bytes 0-${head.length - 1}/*` }, body: head });
    expect(partial.status).toBe(308);
    await stop(first);

    const second = await start(dataDir, cacheDir);
    const s2 = storageClient(second.baseUrl);
    const [exists] = await s2.bucket(bucket).exists();
    expect(exists).toBe(true);
    const kept = s2.bucket(bucket).file('kept/object.bin');
    const [after] = await kept.getMetadata();
    expect(after).toMatchObject({ generation: before.generation, crc32c: before.crc32c, md5Hash: before.md5Hash, size: before.size, metadata: { k: 'v' } });
    expect((await kept.download())[0].equals(objectData)).toBe(true);
    // Generations are not reused after a restart: ifGenerationMatch=0 still refuses.
    const again = await call(second.baseUrl, 'POST', `/upload/storage/v1/b/${bucket}/o?uploadType=media&name=kept%2Fobject.bin&ifGenerationMatch=0`, 'x');
    expect(again.status).toBe(412);

    // The session URI names the old port; the session itself lives on.
    const uri = oldUri.replace(first.baseUrl, second.baseUrl);
    const status = await fetch(uri, { method: 'PUT', headers: { 'Content-Range': 'bytes */*' } });
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe(`bytes=0-${head.length - 1}`);
    const file = s2.bucket(bucket).file('later.bin');
    await pipeline(
      seededStream(22, total, head.length),
      file.createWriteStream({ uri, offset: head.length, resumeCRC32C: crc32cOfPrefix(22, head.length), chunkSize: 512 * KiB, validation: 'crc32c' }),
    );
    const want = await digestOf(seededPieces(22, total));
    expect((await file.getMetadata())[0]).toMatchObject({ size: String(total), crc32c: want.crc32c, md5Hash: want.md5 });
    await stop(second);

    const third = await start(dataDir, cacheDir);
    const s3 = storageClient(third.baseUrl);
    expect(await digestOf(s3.bucket(bucket).file('later.bin').createReadStream())).toEqual(want);
    const [files] = await s3.bucket(bucket).getFiles();
    expect(files.map((f) => f.name)).toEqual(['kept/object.bin', 'later.bin']);
    await s3.bucket(bucket).file('kept/object.bin').delete();
    await stop(third);

    const fourth = await start(dataDir, cacheDir);
    const [remaining] = await storageClient(fourth.baseUrl).bucket(bucket).getFiles();
    expect(remaining.map((f) => f.name)).toEqual(['later.bin']);
    await stop(fourth);
  });

  it('without a data folder every start is empty', async () => {
    const cacheDir = folder('storage-cache-');
    const first = await start(undefined, cacheDir);
    await storageClient(first.baseUrl).createBucket('ephemeral-bucket');
    expect((await call(first.baseUrl, 'GET', '/storage/v1/b/ephemeral-bucket')).status).toBe(200);
    await stop(first);
    const second = await start(undefined, cacheDir);
    expect((await call(second.baseUrl, 'GET', '/storage/v1/b/ephemeral-bucket')).status).toBe(404);
    await stop(second);
  });
});
