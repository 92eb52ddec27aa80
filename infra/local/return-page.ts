import { createServer, type Server } from 'node:http';

/**
 * A stand-in for the application's page that users return to after consent (the local
 * `returnUrl`): it shows the outcome and the consent name the pipeline appended.
 */
export async function startReturnPage(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/connected') {
      res.writeHead(404).end();
      return;
    }
    const escape = (v: string | null) => (v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Referrer-Policy': 'no-referrer' });
    res.end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Connected</title></head><body>` +
        `<h1>Back in the application</h1><p>Outcome: <strong id="outcome">${escape(url.searchParams.get('outcome'))}</strong></p>` +
        `<p>Consent: <code id="consent">${escape(url.searchParams.get('consent'))}</code></p>` +
        `<p id="reason">${escape(url.searchParams.get('reason'))}</p></body></html>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/connected`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
