import { createServer, type Server } from 'node:http';

/**
 * A stand-in for the application's page that users return to after consent (the local
 * `returnUrl`): it shows the outcome and the consent name the pipeline appended. It does not
 * confirm completion codes by itself: a real application confirms one only after checking that the
 * returning browser is its logged-in user who created the connect session, and this page has no
 * users. It shows the session, the code and the `:confirm` call to make as the application (the
 * api URL and a caller token as `npm start` prints them); `npm run demo`, the e2e helpers and the
 * benchmark confirm through the API themselves.
 */
export async function startReturnPage(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/connected') {
      res.writeHead(404).end();
      return;
    }
    const escape = (v: string | null) => (v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    const session = url.searchParams.get('session');
    const code = url.searchParams.get('code');
    // Both come from a redirect anyone can forge: shown (escaped) only when they have the expected shape.
    const confirm =
      session && code && /^connectSessions\/[0-9a-f]{64}$/.test(session) && /^[A-Za-z0-9_-]{43}$/.test(code)
        ? `<h2>Confirmation needed</h2><p>The consent waits until the application confirms this code for the user who started the flow ` +
          `(it expires in a few minutes):</p><p>Session: <code id="session">${escape(session)}</code></p><p>Code: <code id="code">${escape(code)}</code></p>` +
          `<pre id="confirm-command">curl -s -XPOST "$API/v1/${escape(session)}:confirm" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"code":"${escape(code)}"}'</pre>` +
          `<p>$API: the api function's URL; $TOKEN: the caller token (both printed by <code>npm start</code>).</p>`
        : '';
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'none'",
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Connected</title></head><body>` +
        `<h1>Back in the application</h1><p>Outcome: <strong id="outcome">${escape(url.searchParams.get('outcome'))}</strong></p>` +
        `<p>Consent: <code id="consent">${escape(url.searchParams.get('consent'))}</code></p>` +
        `<p id="reason">${escape(url.searchParams.get('reason'))}</p>` +
        `<p id="exports">${escape(url.searchParams.get('exports'))}</p>${confirm}</body></html>`,
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
