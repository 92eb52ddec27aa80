// Download of archive parts through signed URLs: GET/HEAD, Range, x-goog-hash like Cloud Storage.
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../lib/clock.js';
import { pace } from '../lib/pace.js';
import { StorageXmlError } from '../lib/errors.js';
import type { RequestContext, SandboxModule } from '../lib/router.js';
import type { Job } from '../lib/state.js';
import type { StateStore } from '../lib/store.js';
import type { ArchiveCache } from './cache.js';
import type { ArchiveSpec } from './content.js';
import { partFileName, partSizes } from './content.js';
import { ARCHIVE_BUCKET } from './signing.js';
import type { UrlSigner } from './signing.js';

export class ArchiveService {
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
    private readonly signer: UrlSigner,
    readonly cache: ArchiveCache,
    private readonly baseUrl: () => string,
  ) {}

  spec(job: Job): ArchiveSpec {
    const spec: ArchiveSpec = {
      resources: job.resources,
      exportTime: job.exportTime,
      archiveBytes: job.archiveBytes,
      archivePartBytes: job.archivePartBytes,
    };
    if (job.startTime !== undefined) spec.startTime = job.startTime;
    return spec;
  }

  fileNames(job: Job): string[] {
    return partSizes(this.spec(job)).map((_, i) => partFileName(job.exportTime, i));
  }

  /**
   * Fresh signed URLs (one per part), valid for the configured TTL from now (sandbox clock). The
   * parts are generated in the background if they are not yet, as Google's are ready by COMPLETE:
   * the first download does not wait for them.
   */
  urls(job: Job): string[] {
    const ttl = this.store.state.config.urlTtlSeconds;
    const spec = this.spec(job);
    partSizes(spec).forEach((_, i) => void this.cache.ensure(spec, i).catch(() => undefined));
    return this.fileNames(job).map((name) => this.signer.sign(this.baseUrl(), `/${ARCHIVE_BUCKET}/${job.id}/${name}`, this.clock.now(), ttl));
  }
}

type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/** One `bytes=` range (RFC 9110); several ranges or a malformed header are ignored (full answer). */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Number(m[2]);
  if (m[2] !== '' && end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

export function archiveModule(deps: { store: StateStore; clock: Clock; signer: UrlSigner; archives: ArchiveService }): SandboxModule {
  const { store, clock, signer, archives } = deps;

  async function download(ctx: RequestContext): Promise<void> {
    signer.verify(ctx.path, ctx.query, clock.now());
    const [jobId = '', name = ''] = ctx.params;
    const job = Object.hasOwn(store.state.jobs, jobId) ? store.state.jobs[jobId] : undefined;
    const index = job && job.state === 'COMPLETE' ? archives.fileNames(job).indexOf(name) : -1;
    if (!job || index < 0) throw new StorageXmlError(404, 'NoSuchKey', 'The specified key does not exist.');
    const retentionMs = store.state.config.archiveRetentionDays * 86_400_000;
    if (clock.now() >= (job.finishedAt ?? job.completeAt) + retentionMs) {
      throw new StorageXmlError(404, 'NoSuchKey', 'The specified key does not exist.', 'The archive was deleted after its retention period.');
    }
    if (job.archiveAccessEnded) {
      throw new StorageXmlError(403, 'AccessDenied', 'Access denied.', 'The archive is no longer available (authorization was reset).');
    }
    const part = await archives.cache.ensure(archives.spec(job), index);
    const range = parseRange(ctx.req.headers.range, part.size);
    const common: Record<string, string> = {
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/zip',
      ETag: `"${Buffer.from(part.md5, 'base64').toString('hex')}"`,
      'Last-Modified': new Date(job.finishedAt ?? job.completeAt).toUTCString(),
      'Cache-Control': 'private, max-age=0',
      'x-goog-hash': `crc32c=${part.crc32c},md5=${part.md5}`,
      'x-goog-stored-content-length': String(part.size),
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-storage-class': 'STANDARD',
    };
    if (range === 'unsatisfiable') {
      throw new StorageXmlError(416, 'InvalidRange', 'The requested range cannot be satisfied.', `bytes=${ctx.req.headers.range ?? ''}`, {
        'Content-Range': `bytes */${part.size}`,
      });
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? part.size - 1;
    const length = Math.max(0, end - start + 1);
    ctx.res.writeHead(range ? 206 : 200, {
      ...common,
      'Content-Length': String(length),
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${part.size}` } : {}),
    });
    if (ctx.method === 'HEAD' || length === 0) {
      ctx.res.end();
      return;
    }
    try {
      const file = createReadStream(part.path, { start, end, highWaterMark: 1024 * 1024 });
      await (ctx.bytesPerSecond ? pipeline(file, pace(ctx.bytesPerSecond), ctx.res) : pipeline(file, ctx.res));
    } catch {
      // the client went away (or a fault dropped the connection): nothing left to answer
      ctx.res.destroy();
    }
  }

  return {
    name: 'archives',
    routes: [
      {
        methods: ['GET'],
        path: new RegExp(`^\\/${ARCHIVE_BUCKET}\\/([^/]+)\\/([^/]+)$`),
        style: 'xml',
        handle: download,
      },
    ],
  };
}
