// CLI: `npm run sandbox`. Env: SANDBOX_PORT (default: a free port), SANDBOX_HOST,
// SANDBOX_DATA_DIR (persist state), SANDBOX_CACHE_DIR (generated archives).
import { startSandbox } from './server.js';

function port(text: string | undefined): number {
  if (text === undefined || text === '') return 0;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new Error(`SANDBOX_PORT must be a port number (0-65535), got "${text}"`);
  }
  return n;
}

async function main(): Promise<void> {
  const env = process.env;
  const sandbox = await startSandbox({
    port: port(env.SANDBOX_PORT),
    ...(env.SANDBOX_HOST ? { host: env.SANDBOX_HOST } : {}),
    ...(env.SANDBOX_DATA_DIR ? { dataDir: env.SANDBOX_DATA_DIR } : {}),
    ...(env.SANDBOX_CACHE_DIR ? { cacheDir: env.SANDBOX_CACHE_DIR } : {}),
  });
  process.stdout.write(`sandbox listening on ${sandbox.baseUrl}\n`);
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    sandbox.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('sandbox: error while closing', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`sandbox: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
