import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';

/**
 * The local counterpart of `gcloud run services proxy` for the web console: a reverse proxy on
 * 127.0.0.1 that forwards every request to the `api` function with the allowed caller's Google ID
 * token added (minted by the sandbox's OIDC issuer, renewed before it expires), so an operator's
 * browser reaches `/console/` and the `/v1/...` routes it calls without handling a token. Any
 * Authorization header the browser sends is dropped. It listens on the loopback interface only:
 * whoever can reach it acts as the caller, exactly as with gcloud's proxy.
 */
export interface ConsoleProxyOptions {
  /** Port to listen on (0: any free port). */
  readonly port: number;
  /** The api function's base URL. */
  readonly target: string;
  /** A fresh ID token of the allowed caller, with its expiry (ms since the epoch). */
  readonly mintToken: () => Promise<{ readonly token: string; readonly expiresAt: number }>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'authorization', 'host']);

export async function startConsoleProxy(options: ConsoleProxyOptions): Promise<{ readonly url: string; close(): Promise<void> }> {
  const target = new URL(options.target);
  let cached: Promise<{ token: string; expiresAt: number }> | undefined;
  const token = async () => {
    const current = await cached?.catch(() => undefined);
    // Renewed five minutes before it expires (ID tokens live an hour).
    if (!current || current.expiresAt - Date.now() < 5 * 60_000) cached = options.mintToken();
    return (await cached!).token;
  };
  const server: Server = createServer((req, res) => {
    void token().then(
      (idToken) => {
        const headers: IncomingHttpHeaders = {};
        for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
        const upstream = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...headers, host: target.host, authorization: `Bearer ${idToken}` } },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => {
          if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' }).end('The api function did not answer (is the local stack running?).\n');
          else res.destroy();
        });
        req.pipe(upstream);
      },
      (error: unknown) => {
        res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`No ID token from the sandbox: ${error instanceof Error ? error.message : String(error)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
