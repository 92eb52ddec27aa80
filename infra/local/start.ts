// `npm start`: the whole local stack, until Ctrl-C.
import { join } from 'node:path';
import { REPO_ROOT } from './functions.js';
import { startStack } from './stack.js';

// LOCAL_STACK_DIR: where logs and stack.json go (default .local in the repository).
const dir = process.env['LOCAL_STACK_DIR'] ?? join(REPO_ROOT, '.local');
const started = Date.now();
console.log('Starting the local stack (emulators, Google sandbox, functions)...');
try {
  // Locally the exports and expiry ticks run every minute (production: every 5 and 15 minutes).
  const stack = await startStack({ dir, tickIntervalMs: 60_000 });
  const { info } = stack;
  const rows: [string, string][] = [
    ['Firestore emulator', info.services.firestore.host],
    ['Pub/Sub emulator', info.services.pubsub.host],
    ['Google sandbox', info.services.sandbox.url],
    ['Console (proxy)', info.console.url],
    ['Return page (app)', info.returnUrls[0] ?? ''],
    ['Archive bucket', `${info.bucket} (sandbox Cloud Storage)`],
    ...Object.entries(info.functions).map(([name, f]): [string, string] => [`function ${name}`, f.url]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`\nOpen the console: ${info.console.url}`);
  console.log(`\nLocal stack up in ${((Date.now() - started) / 1000).toFixed(1)} s (project ${info.projectId}):`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  console.log(`\n  Health check:  curl ${info.functions['api']?.url}/healthz`);
  console.log(`  Caller token:  curl -s -XPOST ${info.services.sandbox.url}/sandbox/v1/idTokens -d '{"audience":"${info.caller.audience}","email":"${info.caller.email}"}'`);
  console.log(`  Mews tenant:   curl -s -XPOST ${info.services.sandbox.url}/sandbox/v1/mews/tenants -d '{"clientToken":"ct-demo","accessToken":"at-demo"}'`);
  console.log(
    `                 then POST $API/v1/tenants {"source":"mews","displayName":"Demo hotel","platformAddress":"${info.services.sandbox.url}/mews","clientToken":"ct-demo","accessToken":"at-demo"} (see README)`,
  );
  console.log(`  Details:       ${join(dir, 'stack.json')}`);
  console.log(`  Logs:          ${info.logDir}`);
  console.log('\nPress Ctrl-C to stop everything.');
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the local stack...`);
    await stack.stop();
    console.log('Stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
} catch (error) {
  console.error(`\nThe local stack could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
