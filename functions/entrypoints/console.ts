import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';
import type { HttpResult, Route } from '../platform/http.js';

/**
 * The web console: static pages and small ES modules served by the `api` function under
 * `/console/`, behind the same caller authentication as the API (the pages call `/v1/...` on the
 * same origin). No inline script or style, nothing from another origin: the pages carry a strict
 * Content-Security-Policy of their own.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The pages (one shell; the module renders the page its path names). */
const PAGES = ['', 'consents', 'consent', 'connect', 'connected'] as const;
const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
};

// functions/console/static, next to this file's folder when run from source (tsx) or from dist/ (the build keeps the sources).
const STATIC_DIR = [join(import.meta.dirname, '..', 'console', 'static'), join(import.meta.dirname, '..', '..', '..', 'functions', 'console', 'static')].find((d) =>
  existsSync(join(d, 'index.html')),
);

let assets: ReadonlyMap<string, Buffer> | undefined;
/** The static files, read once per instance (a few kilobytes). */
function asset(name: string): Buffer {
  assets ??= new Map(STATIC_DIR ? readdirSync(STATIC_DIR).map((f) => [f, readFileSync(join(STATIC_DIR, f))]) : []);
  const data = assets.get(name);
  if (!data) throw new AppError('NOT_FOUND', `no console file ${name}`);
  return data;
}

const page = (name: string): HttpResult => ({
  status: 200,
  bytes: { contentType: TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream', data: asset(name) },
  csp: CONSOLE_CSP,
  headers: { 'Referrer-Policy': 'no-referrer' },
});

export function consoleRoutes(): Route[] {
  return [
    { method: 'GET', path: /^\/console$/, head: true, handle: async () => ({ status: 302, headers: { Location: '/console/' } }) },
    { method: 'GET', path: new RegExp(`^/console/(?:${PAGES.filter(Boolean).join('|')})?$`), head: true, handle: async () => page('index.html') },
    { method: 'GET', path: /^\/console\/static\/(?<file>[a-z][a-z0-9-]*\.(?:js|css|svg))$/, head: true, handle: async (_req, ctx) => page(ctx.params['file'] ?? '') },
  ];
}
