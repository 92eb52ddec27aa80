// Registers the one deployable function this instance serves with the Functions Framework,
// loading only that function's module and building its runtime from only its own configuration;
// nothing else lives here.
import * as ff from '@google-cloud/functions-framework';
import { FUNCTION_NAMES, type FunctionName } from './platform/config.js';
import { forwardFrameworkRefusals } from './platform/framework-errors.js';
import { createRuntime, type Runtime } from './platform/runtime.js';

const ENTRIES: Readonly<Record<FunctionName, (rt: Runtime) => Promise<void>>> = {
  api: async (rt) => ff.http('api', (await import('./entrypoints/api.js')).api(rt)),
  oauth: async (rt) => ff.http('oauth', (await import('./entrypoints/oauth.js')).oauth(rt)),
  scheduler: async (rt) => ff.http('scheduler', (await import('./entrypoints/scheduler.js')).scheduler(rt)),
  initiate: async (rt) => ff.http('initiate', (await import('./entrypoints/workers.js')).initiate(rt)),
  poll: async (rt) => ff.http('poll', (await import('./entrypoints/workers.js')).poll(rt)),
  transfer: async (rt) => ff.http('transfer', (await import('./entrypoints/workers.js')).transfer(rt)),
  schedule: async (rt) => ff.http('schedule', (await import('./entrypoints/workers.js')).schedule(rt)),
  bundle: async (rt) => ff.http('bundle', (await import('./entrypoints/workers.js')).bundle(rt)),
  webhooks: async (rt) => ff.http('webhooks', (await import('./entrypoints/workers.js')).webhooks(rt)),
  'webhook-delivery': async (rt) => ff.http('webhook-delivery', (await import('./entrypoints/workers.js')).webhookDelivery(rt)),
  deadletter: async (rt) => ff.http('deadletter', (await import('./entrypoints/deadletter.js')).deadletter(rt)),
};

/**
 * The function this instance serves: the Functions Framework's `--target` (as the local launcher
 * passes it) or `FUNCTION_TARGET` (as Cloud Functions sets it).
 */
function target(argv: readonly string[], env: NodeJS.ProcessEnv): FunctionName {
  const flag = argv.findIndex((a) => a === '--target' || a.startsWith('--target='));
  const arg = flag < 0 ? undefined : argv[flag]?.startsWith('--target=') ? argv[flag]?.slice('--target='.length) : argv[flag + 1];
  const name = arg ?? env['FUNCTION_TARGET'];
  const known: readonly string[] = FUNCTION_NAMES;
  if (name === undefined || !known.includes(name)) {
    throw new Error(`Unknown function target ${JSON.stringify(name ?? '')}: set --target or FUNCTION_TARGET to one of ${FUNCTION_NAMES.join(', ')}`);
  }
  return name as FunctionName;
}

const fn = target(process.argv, process.env);
const runtime = createRuntime(process.env, {}, fn);

// The framework's seams (platform/framework-errors.ts): bodies read only by routes that take one,
// within limits; what the framework cannot parse reaches our error answers; security headers.
forwardFrameworkRefusals();

await ENTRIES[fn](runtime);
