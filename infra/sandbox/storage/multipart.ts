// Streaming reader of a `multipart/related` upload (JSON metadata part, then the media part),
// as `uploadType=multipart` sends it. The metadata part is bounded; the media part is handed to
// a sink as it arrives and never held whole.
import { invalid } from './protocol.js';

const MAX_HEAD_BYTES = 1024 * 1024 + 16 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

export interface MultipartHead {
  metadata: Record<string, unknown>;
  /** Content-Type of the media part. */
  mediaType?: string;
}

export function boundaryOf(contentType: string | undefined): string {
  const type = (contentType ?? '').trim();
  if (!/^multipart\/related\s*(;|$)/i.test(type)) throw invalid('Multipart uploads need Content-Type: multipart/related.');
  const m = /;\s*boundary=(?:"([^"]{1,200})"|([^;\s"]{1,200}))/i.exec(type);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw invalid('Missing boundary in the multipart Content-Type.');
  return boundary;
}

function partType(headers: string): string | undefined {
  for (const line of headers.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && line.slice(0, i).trim().toLowerCase() === 'content-type') return line.slice(i + 1).trim();
  }
  return undefined;
}

/**
 * Reads the body: returns the metadata part (parsed JSON object) and the media part's type, and
 * calls `sink` with the media bytes in order. Throws a 400 for anything malformed.
 */
export async function readMultipart(body: AsyncIterable<unknown>, boundary: string, sink: (buf: Buffer) => Promise<void>): Promise<MultipartHead> {
  const open = Buffer.from(`--${boundary}\r\n`);
  const between = Buffer.from(`\r\n--${boundary}\r\n`);
  const close = Buffer.from(`\r\n--${boundary}--`);
  const hold = close.length + 64;
  let head: Buffer | undefined = Buffer.alloc(0) as Buffer;
  let result: MultipartHead | undefined;
  let pending: Buffer = Buffer.alloc(0);

  const parseHead = (buf: Buffer): { head: MultipartHead; rest: Buffer } | undefined => {
    const first = buf.indexOf(open);
    if (first < 0) return undefined;
    const h1 = buf.indexOf(CRLF2, first + open.length);
    if (h1 < 0) return undefined;
    const sep = buf.indexOf(between, h1 + 4);
    if (sep < 0) return undefined;
    const h2 = buf.indexOf(CRLF2, sep + between.length);
    if (h2 < 0) return undefined;
    let metadata: unknown;
    try {
      metadata = JSON.parse(buf.subarray(h1 + 4, sep).toString('utf8'));
    } catch {
      throw invalid('Metadata part is not valid JSON.');
    }
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw invalid('Metadata part must be a JSON object.');
    const mediaType = partType(buf.subarray(sep + between.length, h2).toString('latin1'));
    return { head: { metadata: metadata as Record<string, unknown>, ...(mediaType ? { mediaType } : {}) }, rest: buf.subarray(h2 + 4) };
  };

  const feed = async (buf: Buffer): Promise<void> => {
    pending = pending.length === 0 ? buf : Buffer.concat([pending, buf]);
    if (pending.length > hold) {
      const out = pending.subarray(0, pending.length - hold);
      pending = Buffer.from(pending.subarray(pending.length - hold));
      await sink(out);
    }
  };

  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (head !== undefined) {
      head = Buffer.concat([head, buf]);
      const parsed = parseHead(head);
      if (!parsed) {
        if (head.length > MAX_HEAD_BYTES) throw invalid('Multipart metadata part too large or malformed.');
        continue;
      }
      result = parsed.head;
      head = undefined;
      await feed(parsed.rest);
    } else {
      await feed(buf);
    }
  }
  if (!result) throw invalid('Malformed multipart body.');
  const end = pending.lastIndexOf(close);
  if (end < 0) throw invalid('Multipart body is missing its closing boundary.');
  if (end > 0) await sink(pending.subarray(0, end));
  return result;
}
