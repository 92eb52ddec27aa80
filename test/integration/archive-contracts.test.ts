import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll } from 'vitest';
import { GcsArchiveStore } from '../../functions/adapters/gcs-archive-store.js';
import { HttpArchiveDownloader } from '../../functions/adapters/http-archive-downloader.js';
import { storageOptions } from '../../functions/platform/clients.js';
import { startSandbox } from '../../infra/sandbox/server.js';
import { archiveDownloaderContract, archiveStoreContract } from '../contracts/archive.contract.js';
import { FakeDownloader, MemoryArchiveStore } from '../fakes/memory-archive.js';

// Each archive contract runs against the in-memory fake and the real adapter on the sandbox's
// Cloud Storage subset (the same JSON API and signed-download behaviour the pipeline meets).
const dir = mkdtempSync(join(tmpdir(), 'dp-archive-contracts-'));
let sandbox: Awaited<ReturnType<typeof startSandbox>>;
let storage: Storage;
let buckets = 0;
beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, cacheDir: dir });
  storage = new Storage(storageOptions('contracts', sandbox.baseUrl));
});
afterAll(async () => {
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function bucket(): Promise<string> {
  const name = `contract-${++buckets}-${randomBytes(3).toString('hex')}`;
  await storage.createBucket(name);
  return name;
}

archiveStoreContract('memory fake', async () => new MemoryArchiveStore());
// Both upload modes: one streamed request per continuation (the default) and 256 KiB chunks.
archiveStoreContract('Cloud Storage adapter (sandbox, streamed)', async () => new GcsArchiveStore(async () => storage, await bucket(), undefined, false));
archiveStoreContract('Cloud Storage adapter (sandbox, chunked)', async () => new GcsArchiveStore(async () => storage, await bucket(), 256 * 1024, false));

archiveDownloaderContract('fake', async () => {
  const downloader = new FakeDownloader();
  downloader.expired.add('https://expired/x');
  return {
    downloader,
    refused: 'https://expired/x',
    serve: async (data) => {
      const url = `https://signed/${randomBytes(4).toString('hex')}`;
      downloader.archives.set(url, data);
      return url;
    },
  };
});

archiveDownloaderContract('HTTP adapter (sandbox)', async () => {
  const name = await bucket();
  return {
    downloader: new HttpArchiveDownloader(),
    // A signed URL whose signature was tampered with: the sandbox answers 403 as GCS does.
    refused: `${sandbox.baseUrl}/dataportability-sandbox-archives/job-1/takeout-20260101T000000Z-001.zip?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sandbox&X-Goog-Date=20260101T000000Z&X-Goog-Expires=60&X-Goog-SignedHeaders=host&X-Goog-Signature=00`,
    serve: async (data) => {
      const object = `o-${randomBytes(4).toString('hex')}`;
      await storage.bucket(name).file(object).save(data, { resumable: false });
      return `${sandbox.baseUrl}/download/storage/v1/b/${name}/o/${object}?alt=media`;
    },
  };
});
