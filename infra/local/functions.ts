import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FUNCTION_NAMES, variablesFor, type FunctionName } from '../../functions/platform/config.js';
import type { FunctionSpec } from '../topology.js';
import { startProcess, waitForHttp, type ManagedProcess } from './processes.js';

const require = createRequire(import.meta.url);
const FRAMEWORK_MAIN = join(dirname(require.resolve('@google-cloud/functions-framework')), 'main.js');
export const REPO_ROOT = join(import.meta.dirname, '..', '..');

export interface ServedFunction {
  readonly name: string;
  readonly url: string;
  readonly process: ManagedProcess;
}

/**
 * Serves one function exactly as Cloud Functions does: the Functions Framework loading
 * `functions/index.ts` (TypeScript through tsx) with the function's target (also as
 * FUNCTION_TARGET, as Cloud Functions sets it), as an HTTP function, with only its own
 * configuration variables.
 */
export async function serveFunction(spec: FunctionSpec, env: NodeJS.ProcessEnv, logDir: string, port: number): Promise<ServedFunction> {
  const logFile = join(logDir, `${spec.name}.log`);
  const proc = startProcess({
    name: `function ${spec.name}`,
    command: process.execPath,
    args: [
      // BENCH_CPU_PROF_DIR=<dir>: a V8 CPU profile of each function in <dir>/<name>/, written when the stack stops.
      ...(process.env['BENCH_CPU_PROF_DIR'] ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env['BENCH_CPU_PROF_DIR'], spec.name)}`] : []),
      '--import',
      'tsx',
      FRAMEWORK_MAIN,
      `--target=${spec.name}`,
      // Every function is an HTTP function; the Pub/Sub workers get their push subscriptions' POSTs.
      '--signature-type=http',
      `--source=${join(REPO_ROOT, 'functions', 'index.ts')}`,
      `--port=${port}`,
    ],
    env: { ...ownEnvironment(spec.name as FunctionName, env), FUNCTION_TARGET: spec.name, NODE_ENV: 'production', PORT: String(port) },
    logFile,
    cwd: REPO_ROOT,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, proc, 60_000, () => `See ${logFile}.`);
  return { name: spec.name, url, process: proc };
}

const CONFIG_VARIABLES = new Set(FUNCTION_NAMES.flatMap((fn) => [...variablesFor(fn).required, ...variablesFor(fn).optional]));

/**
 * The environment of one function as its deployment gets it: the configuration variables of the
 * other functions are left out, so a function that reads a setting it is not deployed with fails
 * here as it would in production.
 */
function ownEnvironment(fn: FunctionName, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { required, optional } = variablesFor(fn);
  const own = new Set([...required, ...optional]);
  return Object.fromEntries(Object.entries(env).filter(([name]) => own.has(name) || !CONFIG_VARIABLES.has(name)));
}
