import { lookup as dnsLookup } from 'node:dns';
import { lookup as dnsLookupAll } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { transient } from '../core/errors.js';
import type { WebhookOutcome, WebhookRequest, WebhookTransport } from '../core/ports/webhook-transport.js';

const RESOLVE_TIMEOUT_MS = 5_000;
const NO_SUCH_HOST = new Set(['ENOTFOUND', 'ENODATA', 'EAI_NONAME', 'EAI_NODATA']);

/**
 * Webhooks over Node's http/https: one fresh connection per attempt (no pooled socket whose address
 * was checked for another request), the address chosen by our own lookup so the address checked is
 * the address connected to, no redirects, a timer over the whole attempt, a bounded read of the
 * answer. Outcome reasons never carry the URL (an application may put a token in it).
 */
export class NodeWebhookTransport implements WebhookTransport {
  async resolve(hostname: string): Promise<readonly string[]> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const found = await Promise.race([
        dnsLookupAll(hostname, { all: true, verbatim: true }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(transient(`resolving ${hostname} timed out`)), RESOLVE_TIMEOUT_MS);
        }),
      ]);
      return found.map((a) => a.address);
    } catch (error) {
      if (NO_SUCH_HOST.has((error as NodeJS.ErrnoException).code ?? '')) return [];
      throw transient(`resolving ${hostname} failed`, error);
    } finally {
      clearTimeout(timer);
    }
  }

  post(request: WebhookRequest): Promise<WebhookOutcome> {
    const url = new URL(request.url);
    const literal = isIP(url.hostname.replace(/^\[|\]$/g, '')) !== 0;
    if (literal && !request.addressAllowed(url.hostname.replace(/^\[|\]$/g, ''))) {
      return Promise.resolve({ kind: 'refused', reason: 'the address is not a public one' });
    }
    return new Promise<WebhookOutcome>((resolve) => {
      let settled = false;
      const done = (outcome: WebhookOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: 'POST',
          agent: false,
          headers: { ...request.headers, 'Content-Length': String(Buffer.byteLength(request.body, 'utf8')), Connection: 'close' },
          lookup: checkedLookup(request.addressAllowed),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          let read = 0;
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > request.maxResponseBytes) {
              res.destroy();
              done({ kind: 'answered', status });
            }
          });
          res.on('end', () => done({ kind: 'answered', status }));
          res.on('close', () => done({ kind: 'answered', status }));
          res.on('error', () => done({ kind: 'answered', status }));
        },
      );
      const timer = setTimeout(() => {
        req.destroy(Object.assign(new Error('attempt timed out'), { code: 'EWEBHOOKTIMEOUT' }));
      }, request.timeoutMs);
      req.on('error', (error: NodeJS.ErrnoException) => done(failure(error, request.timeoutMs)));
      req.end(request.body);
    });
  }
}

/** A lookup that keeps only allowed addresses; none left → an EWEBHOOKADDRESS error, nothing sent. */
function checkedLookup(allowed: (address: string) => boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const usable = addresses.filter((a) => allowed(a.address));
      if (usable.length === 0) {
        return callback(Object.assign(new Error('no public address'), { code: 'EWEBHOOKADDRESS' }), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: typeof usable) => void)(null, usable);
      const first = usable[0]!;
      callback(null, first.address, first.family);
    });
  };
}

function failure(error: NodeJS.ErrnoException, timeoutMs: number): WebhookOutcome {
  const code = error.code ?? 'unknown';
  if (code === 'EWEBHOOKADDRESS') return { kind: 'refused', reason: 'the host resolves to no public address' };
  if (code === 'EWEBHOOKTIMEOUT') return { kind: 'failed', reason: `no answer within ${timeoutMs} ms` };
  if (NO_SUCH_HOST.has(code)) return { kind: 'failed', reason: 'the host does not resolve' };
  if (code === 'ECONNREFUSED') return { kind: 'failed', reason: 'connection refused' };
  if (code === 'ECONNRESET') return { kind: 'failed', reason: 'connection reset' };
  if (/CERT|SSL|TLS/.test(code)) return { kind: 'failed', reason: `TLS failure (${code})` };
  return { kind: 'failed', reason: `network error (${code})` };
}
