// Small HTTP helpers shared by the route modules: bounded body reading, JSON and form parsing,
// and one place that renders every typed error in the shape of the route that raised it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { ApiError, MewsError, OAuthError, RequestError, StorageXmlError, invalidArgument, statusOfHttp } from './errors.js';

/** How a route answers errors: Google API envelope, OAuth JSON, HTML page, Cloud Storage XML or Mews JSON. */
export type ErrorStyle = 'google' | 'oauth' | 'html' | 'xml' | 'mews';

export const MAX_BODY_BYTES = 1024 * 1024;

/** Reads the whole body, refusing more than `limit` bytes (413) without buffering the excess. */
export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    throw new RequestError(413, `Request body larger than ${limit} bytes.`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) {
      req.resume();
      throw new RequestError(413, `Request body larger than ${limit} bytes.`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/**
 * Parses a JSON object body. An empty body is `{}` (Google accepts both for empty requests).
 * Anything that is not a JSON object is a 400 with Google's wording.
 */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req);
  const text = raw.toString('utf8').trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RequestError(400, 'Invalid JSON payload received. Unexpected token.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RequestError(400, 'Invalid JSON payload received. Expected an object.');
  }
  return value as Record<string, unknown>;
}

/** Form or JSON body as a flat string map (OAuth endpoints accept both); repeated keys are an error. */
/** The JSON object body checked against a schema; the first violation is the 400's message. */
export async function parseJsonBody<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const result = schema.safeParse(await readJsonObject(req));
  if (!result.success) {
    const issue = result.error.issues[0];
    throw invalidArgument(`Invalid request: ${issue ? `${issue.path.join('.') || '(body)'}: ${issue.message}` : 'bad body'}`);
  }
  return result.data;
}

export async function readParams(req: IncomingMessage): Promise<Map<string, string[]>> {
  const raw = (await readBody(req)).toString('utf8');
  const type = String(req.headers['content-type'] ?? '').toLowerCase();
  const out = new Map<string, string[]>();
  if (type.includes('application/json')) {
    if (raw.trim() === '') return out;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new RequestError(400, 'Invalid JSON body.');
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new RequestError(400, 'Invalid JSON body.');
    }
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.set(k, [String(v)]);
      else throw new RequestError(400, `Invalid value for parameter: ${k}`);
    }
    return out;
  }
  for (const [k, v] of new URLSearchParams(raw)) out.set(k, [...(out.get(k) ?? []), v]);
  return out;
}

export function queryParams(query: URLSearchParams): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of query) out.set(k, [...(out.get(k) ?? []), v]);
  return out;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=UTF-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(html)),
    'Cache-Control': 'no-store',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    ...headers,
  });
  res.end(html);
}

export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { Location: location, 'Content-Length': '0', 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
  res.end();
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function googleEnvelope(code: number, status: string, message: string, details: unknown[] = []): unknown {
  return { error: { code, message, status, ...(details.length > 0 ? { details } : {}) } };
}

export function errorPage(status: number, error: string, description: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Error ${status}: ${escapeHtml(error)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}h1{font-size:1.4rem}</style>
</head><body><h1>Access blocked: authorization error</h1>
<p id="error">Error ${status}: ${escapeHtml(error)}</p>
<p id="error-description">${escapeHtml(description)}</p>
<p><small>Google sandbox</small></p></body></html>
`;
}

export function sendXmlError(res: ServerResponse, err: StorageXmlError): void {
  const xml =
    `<?xml version='1.0' encoding='UTF-8'?><Error><Code>${escapeXml(err.code)}</Code>` +
    `<Message>${escapeXml(err.message)}</Message>` +
    (err.details ? `<Details>${escapeXml(err.details)}</Details>` : '') +
    '</Error>';
  res.writeHead(err.httpStatus, {
    'Content-Type': 'application/xml; charset=UTF-8',
    'Content-Length': String(Buffer.byteLength(xml)),
    ...err.headers,
  });
  res.end(xml);
}

/** Renders any thrown value in the route's style. Unknown errors are a 500 (a sandbox bug). */
export function renderError(res: ServerResponse, style: ErrorStyle, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof ApiError) {
    sendJson(res, err.httpStatus, googleEnvelope(err.httpStatus, err.status, err.message, err.details), { ...err.headers });
    return;
  }
  if (err instanceof OAuthError) {
    if (style === 'html') sendHtml(res, err.httpStatus, errorPage(err.httpStatus, err.error, err.description));
    else sendJson(res, err.httpStatus, { error: err.error, error_description: err.description });
    return;
  }
  if (err instanceof StorageXmlError) {
    sendXmlError(res, err);
    return;
  }
  if (err instanceof MewsError) {
    sendJson(res, err.httpStatus, { Message: err.message, ...err.extra }, { ...err.headers });
    return;
  }
  const status = err instanceof RequestError ? err.httpStatus : 500;
  const message = err instanceof RequestError ? err.message : 'Internal error in the sandbox.';
  if (!(err instanceof RequestError)) console.error('sandbox: unhandled error', err);
  switch (style) {
    case 'google':
      sendJson(res, status, googleEnvelope(status, statusOfHttp(status), message));
      return;
    case 'oauth':
      sendJson(res, status, { error: status >= 500 ? 'server_error' : 'invalid_request', error_description: message });
      return;
    case 'html':
      sendHtml(res, status, errorPage(status, status >= 500 ? 'server_error' : 'invalid_request', message));
      return;
    case 'xml':
      sendXmlError(res, new StorageXmlError(status, status >= 500 ? 'InternalError' : 'InvalidArgument', message));
      return;
    case 'mews':
      sendJson(res, status, { Message: status === 400 && message.startsWith('Invalid JSON') ? 'Invalid JSON.' : message });
      return;
  }
}
