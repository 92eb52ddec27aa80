// How an applied fault rule changes a response: an error status in the route's shape, or a
// connection cut after some body bytes.
import type { ServerResponse } from 'node:http';
import { ApiError, MewsError, OAuthError, StorageXmlError, statusOfHttp } from './errors.js';
import type { AppliedFault } from './faults.js';
import { renderError } from './http.js';
import type { ErrorStyle } from './http.js';

export function faultResponse(res: ServerResponse, style: ErrorStyle, fault: AppliedFault, status: number): void {
  const headers: Record<string, string> = fault.retryAfterSeconds !== undefined ? { 'Retry-After': String(fault.retryAfterSeconds) } : {};
  const message = `Injected fault (${fault.text}).`;
  const err =
    style === 'xml'
      ? new StorageXmlError(status, status === 429 ? 'SlowDown' : status >= 500 ? 'ServiceUnavailable' : 'InvalidArgument', message, '', headers)
      : style === 'oauth'
        ? new OAuthError(status, status >= 500 ? 'temporarily_unavailable' : 'invalid_request', message)
        : style === 'mews'
          ? new MewsError(status, message, {}, headers)
          : new ApiError(status, statusOfHttp(status), message, [], headers);
  if (err instanceof OAuthError && headers['Retry-After'] !== undefined) res.setHeader('Retry-After', headers['Retry-After']);
  renderError(res, style === 'html' ? 'google' : style, err);
}

/** Cuts the connection once `limit` body bytes have gone out. */
export function dropAfter(res: ServerResponse, limit: number): void {
  let sent = 0;
  const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  const cut = (): void => {
    res.socket?.destroy();
  };
  const take = (chunk: unknown): { part: Buffer; over: boolean } => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    const allowed = Math.max(0, limit - sent);
    sent += Math.min(buf.length, allowed);
    return { part: buf.subarray(0, allowed), over: buf.length > allowed };
  };
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    const { part, over } = take(chunk);
    if (!over) return write(part, ...rest);
    if (part.length > 0) write(part, cut);
    else cut();
    return false;
  }) as ServerResponse['write'];
  res.end = ((...args: unknown[]) => {
    const chunk = args[0];
    if (chunk === undefined || typeof chunk === 'function') return end(...args);
    const { part, over } = take(chunk);
    if (!over) return end(part);
    if (part.length > 0) write(part, cut);
    else cut();
    return res;
  }) as ServerResponse['end'];
}
