import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ArchiveCache } from '../../../infra/sandbox/archives/cache.js';
import { groupFolder, partEntries, partFileName, partSizes } from '../../../infra/sandbox/archives/content.js';
import type { ArchiveSpec } from '../../../infra/sandbox/archives/content.js';
import { parseRange } from '../../../infra/sandbox/archives/routes.js';
import { writeZip } from '../../../infra/sandbox/archives/zip.js';

/** Reads the central directory and checks every entry's local header, data descriptor and CRC-32. */
function readZip(bytes: Buffer): string[] {
  const end = bytes.length - 22;
  expect(bytes.readUInt32LE(end)).toBe(0x06054b50);
  const count = bytes.readUInt16LE(end + 10);
  let at = bytes.readUInt32LE(end + 16);
  expect(at + bytes.readUInt32LE(end + 12)).toBe(end);
  const names: string[] = [];
  for (let i = 0; i < count; i += 1) {
    expect(bytes.readUInt32LE(at)).toBe(0x02014b50);
    const crc = bytes.readUInt32LE(at + 16);
    const size = bytes.readUInt32LE(at + 20);
    const nameLength = bytes.readUInt16LE(at + 28);
    const local = bytes.readUInt32LE(at + 42);
    const name = bytes.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    expect(bytes.readUInt32LE(local)).toBe(0x04034b50);
    expect(bytes.readUInt16LE(local + 8)).toBe(0); // stored
    const dataStart = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    expect(crc32(bytes.subarray(dataStart, dataStart + size))).toBe(crc);
    // Streamed entries carry their CRC and sizes in a data descriptor after the data (flag bit 3).
    const descriptor = (bytes.readUInt16LE(local + 6) & 0x8) !== 0;
    const recorded = descriptor ? dataStart + size : local + 10;
    if (descriptor) expect(bytes.readUInt32LE(recorded)).toBe(0x08074b50);
    expect([bytes.readUInt32LE(recorded + 4), bytes.readUInt32LE(recorded + 8), bytes.readUInt32LE(recorded + 12)]).toEqual([crc, size, size]);
    names.push(name);
    at += 46 + nameLength;
  }
  return names;
}

const dir = mkdtempSync(join(tmpdir(), 'sandbox-unit-zip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec: ArchiveSpec = { resources: ['chrome.history', 'myactivity.search'], exportTime: Date.UTC(2024, 4, 1), archiveBytes: 150_000, archivePartBytes: 100_000 };

describe('archive layout', () => {
  it('cuts archives into parts of at most archivePartBytes', () => {
    expect(partSizes({ archiveBytes: 250, archivePartBytes: 100 })).toEqual([100, 100, 50]);
    expect(partSizes({ archiveBytes: 0, archivePartBytes: 100 })).toEqual([0]);
    expect(partFileName(Date.UTC(2024, 0, 2, 3, 4, 5), 1)).toBe('takeout-20240102T030405Z-002.zip');
    expect(groupFolder('myactivity.search')).toBe('Takeout/My Activity/Search');
    expect(groupFolder('youtube.private_playlists')).toBe('Takeout/YouTube and YouTube Music/Private Playlists');
  });

  it('writes zips of exactly the part size that are well-formed, with hashes of the file', async () => {
    for (const index of [0, 1]) {
      const file = join(dir, `part-${index}.zip`);
      const handle = await open(file, 'w');
      const written = await writeZip(handle, partEntries(spec, index), spec.exportTime);
      await handle.close();
      const bytes = readFileSync(file);
      expect(written.size).toBe(index === 0 ? 100_000 : 50_000);
      expect(bytes.length).toBe(written.size);
      expect(written.md5).toBe(createHash('md5').update(bytes).digest('base64'));
      const names = readZip(bytes);
      if (index === 0)
        expect(names).toEqual(expect.arrayContaining(['Takeout/archive_browser.html', 'Takeout/Chrome/History/History.json', 'Takeout/My Activity/Search/MyActivity.json']));
      else expect(names).toEqual(['Takeout/Chrome/History/media/blob-002.bin']);
    }
  });

  it('fails, without hanging, when an entry yields other than its size or breaks off', async () => {
    const handle = await open(join(dir, 'broken.zip'), 'w');
    try {
      await expect(writeZip(handle, [{ name: 'short.bin', size: 10, chunks: () => [Buffer.alloc(5)] }], spec.exportTime)).rejects.toThrow(/unexpected number of bytes/);
      const breaking = function* () {
        yield Buffer.alloc(5);
        throw new Error('the source broke off');
      };
      await expect(writeZip(handle, [{ name: 'broken.bin', size: 10, chunks: breaking }], spec.exportTime)).rejects.toThrow('the source broke off');
    } finally {
      await handle.close();
    }
  });

  it('the JSON records fall inside the time window and are the same every time', async () => {
    const windowed = { ...spec, startTime: Date.UTC(2024, 3, 1) };
    const json = partEntries(windowed, 0).find((e) => e.name.endsWith('History.json'));
    const text = Buffer.concat([...(json?.chunks() ?? [])]).toString('utf8');
    const records = JSON.parse(text) as Array<{ time: string }>;
    expect(records.length).toBeGreaterThan(0);
    for (const r of records) {
      expect(Date.parse(r.time)).toBeGreaterThanOrEqual(Date.UTC(2024, 3, 1));
      expect(Date.parse(r.time)).toBeLessThanOrEqual(spec.exportTime);
    }
    const again = partEntries(windowed, 0).find((e) => e.name.endsWith('History.json'));
    expect(Buffer.concat([...(again?.chunks() ?? [])]).toString('utf8')).toBe(text);
  });

  it('the cache generates a part once and reuses it', async () => {
    const cache = new ArchiveCache(join(dir, 'cache'));
    const [a, b] = await Promise.all([cache.ensure(spec, 0), cache.ensure(spec, 0)]);
    expect(a).toEqual(b);
    const again = await new ArchiveCache(join(dir, 'cache')).ensure(spec, 0);
    expect(again).toEqual(a);
    const other = await cache.ensure({ ...spec, startTime: 1 }, 0);
    expect(other.md5).not.toBe(a.md5);
  });

  it('removes the temp files of sandboxes that ended mid-generation, and only those', async () => {
    const folder = join(dir, 'cache-with-leftovers');
    mkdirSync(folder);
    // A process that has ended: its pid names no process any more.
    const ended = spawnSync(process.execPath, ['-e', '']).pid;
    const leftover = `${'a'.repeat(40)}.zip.${ended}.1796000000000.tmp`;
    const live = `${'b'.repeat(40)}.zip.${process.ppid}.1796000000000.tmp`;
    const own = `${'c'.repeat(40)}.zip.${process.pid}.1796000000000.tmp`;
    const unrelated = 'notes.tmp';
    for (const name of [leftover, live, own, unrelated]) writeFileSync(join(folder, name), 'partial');
    const part = await new ArchiveCache(folder).ensure(spec, 0);
    const left = readdirSync(folder);
    expect(left).not.toContain(leftover);
    expect(left).toEqual(expect.arrayContaining([live, own, unrelated, basename(part.path)]));
  });
});

describe('Range header', () => {
  it.each([
    ['bytes=0-9', { start: 0, end: 9 }],
    ['bytes=90-', { start: 90, end: 99 }],
    ['bytes=-10', { start: 90, end: 99 }],
    ['bytes=50-1000', { start: 50, end: 99 }],
    ['bytes=100-', 'unsatisfiable'],
    ['bytes=-0', 'unsatisfiable'],
    ['bytes=5-1', undefined],
    ['bytes=0-1,5-6', undefined],
    ['items=0-1', undefined],
    [undefined, undefined],
  ])('%s', (header, expected) => {
    expect(parseRange(header, 100)).toEqual(expected);
  });
});
