// Deterministic Takeout-like content of one archive part: a function of the job's groups, time
// window, total size, part size and part index only.
import { createCipheriv, createHash } from 'node:crypto';
import { prng } from '../lib/prng.js';
import { rfc3339 } from '../lib/clock.js';
import type { ZipEntry } from './zip.js';
import { END_OVERHEAD, entryOverhead } from './zip.js';

export interface ArchiveSpec {
  resources: readonly string[];
  startTime?: number;
  exportTime: number;
  archiveBytes: number;
  archivePartBytes: number;
}

const PRODUCTS: Readonly<Record<string, string>> = {
  alerts: 'Google Alerts',
  businessmessaging: 'Business Messaging',
  chrome: 'Chrome',
  discover: 'Discover',
  maps: 'Maps',
  myactivity: 'My Activity',
  mymaps: 'My Maps',
  nest: 'Nest',
  order_reserve: 'Orders and Reservations',
  pixel: 'Pixel',
  play: 'Google Play Store',
  saved: 'Saved',
  search_ugc: 'Search Contributions',
  searchnotifications: 'Search Notifications',
  shopping: 'Google Shopping',
  streetview: 'Street View',
  youtube: 'YouTube and YouTube Music',
};

const RECORDS_PER_GROUP = 40;
const CHUNK = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(CHUNK);
const STAMP_EVERY = 64 * 1024;
const YEAR_MS = 365 * 86_400_000;

function title(words: string): string {
  return words
    .split(/[._]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}

/** Takeout folder of a group, e.g. `Takeout/My Activity/Search`. */
export function groupFolder(group: string): string {
  const dot = group.indexOf('.');
  const product = group.slice(0, dot);
  return `Takeout/${PRODUCTS[product] ?? title(product)}/${title(group.slice(dot + 1))}`;
}

/** The JSON file of a group, e.g. `MyActivity.json` for My Activity groups. */
function dataFileName(group: string): string {
  return group.startsWith('myactivity.') ? 'MyActivity.json' : `${title(group.split('.').pop() ?? group).replace(/ /g, '')}.json`;
}

/** Sizes of the parts: `archiveBytes` cut into pieces of at most `archivePartBytes` (at least one part). */
export function partSizes(spec: Pick<ArchiveSpec, 'archiveBytes' | 'archivePartBytes'>): number[] {
  const sizes: number[] = [];
  let left = spec.archiveBytes;
  do {
    const size = Math.min(left, spec.archivePartBytes);
    sizes.push(size);
    left -= size;
  } while (left > 0);
  return sizes;
}

/** `takeout-20240101T000000Z-001.zip` */
export function partFileName(exportTime: number, index: number): string {
  const stamp = rfc3339(exportTime).replace(/[-:]/g, '').replace(/\.\d+/, '');
  return `takeout-${stamp}-${String(index + 1).padStart(3, '0')}.zip`;
}

function recordsJson(group: string, spec: ArchiveSpec): Buffer {
  const from = spec.startTime ?? spec.exportTime - YEAR_MS;
  const span = Math.max(1, spec.exportTime - from);
  const rand = prng(`${group}|${from}|${spec.exportTime}`);
  const records = Array.from({ length: RECORDS_PER_GROUP }, (_, i) => {
    const t = from + Math.floor(rand() * span);
    return {
      header: title(group.split('.')[0] ?? group),
      title: `Sandbox ${group} item ${i + 1}`,
      titleUrl: `https://example.com/${group}/${Math.floor(rand() * 1e9)}`,
      time: rfc3339(t),
      products: [title(group.split('.')[0] ?? group)],
    };
  }).sort((a, b) => (a.time < b.time ? 1 : -1));
  return Buffer.from(JSON.stringify(records, null, 2) + '\n');
}

function browserHtml(spec: ArchiveSpec): Buffer {
  const items = spec.resources.map((r) => `<li>${groupFolder(r).slice('Takeout/'.length)}</li>`).join('');
  return Buffer.from(
    `<!doctype html><html><head><meta charset="utf-8"><title>Archive Overview</title></head><body><h1>Your Google data (sandbox)</h1><ul>${items}</ul></body></html>\n`,
  );
}

function fixed(name: string, data: Buffer): ZipEntry {
  return { name, size: data.length, chunks: () => [data] };
}

/**
 * `size` deterministic pseudo-random bytes: one 4 MiB AES-256-CTR keystream block keyed by `seed`,
 * repeated with a distinct (chunk, block) counter stamped every 64 KiB, so that no two 64 KiB
 * blocks of an archive are equal. Cheap enough to produce gigabytes at disk speed.
 */
function noise(name: string, size: number, seed: string): ZipEntry {
  const key = createHash('sha256').update(seed).digest();
  let base: Buffer | undefined;
  return {
    name,
    size,
    *chunks() {
      // A part smaller than a block needs only the block's first bytes (whole 64 KiB stamps).
      const blockBytes = Math.min(CHUNK, Math.ceil(size / STAMP_EVERY) * STAMP_EVERY);
      base ??= createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(ZEROS.subarray(0, blockBytes));
      let left = size;
      for (let n = 0; left > 0; n += 1) {
        // A new buffer each time: a yielded one may still wait in a stream while the next is made.
        const chunk = Buffer.allocUnsafe(blockBytes);
        base.copy(chunk);
        for (let off = 0, b = 0; off < blockBytes; off += STAMP_EVERY, b += 1) {
          chunk.writeUInt32LE(n, off);
          chunk.writeUInt32LE((b ^ key.readUInt32LE(0)) >>> 0, off + 4);
        }
        const len = Math.min(left, blockBytes);
        yield len === blockBytes ? chunk : chunk.subarray(0, len);
        left -= len;
      }
    },
  };
}

/** The zip entries of part `index`; padded with a media blob so the part has exactly its size when possible. */
export function partEntries(spec: ArchiveSpec, index: number): ZipEntry[] {
  const target = partSizes(spec)[index] ?? 0;
  const entries: ZipEntry[] = [];
  if (index === 0) {
    entries.push(fixed('Takeout/archive_browser.html', browserHtml(spec)));
    for (const r of spec.resources) entries.push(fixed(`${groupFolder(r)}/${dataFileName(r)}`, recordsJson(r, spec)));
  }
  const first = spec.resources[0] ?? 'unknown.unknown';
  const blobName = `${groupFolder(first)}/media/blob-${String(index + 1).padStart(3, '0')}.bin`;
  const used = entries.reduce((n, e) => n + e.size + entryOverhead(e.name), END_OVERHEAD);
  const room = target - used - entryOverhead(blobName);
  if (room > 0) {
    const seed = JSON.stringify([spec.resources, spec.startTime ?? null, spec.exportTime, spec.archiveBytes, spec.archivePartBytes, index]);
    entries.push(noise(blobName, room, seed));
  }
  return entries;
}
