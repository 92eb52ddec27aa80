import { describe, expect, it } from 'vitest';
import { ConfigError, FUNCTION_NAMES, parseConfig, variablesFor, type FunctionName } from '../../functions/platform/config.js';
import { createRuntime, type Runtime } from '../../functions/platform/runtime.js';
import { FUNCTIONS } from '../../infra/topology.js';
import { productionEnv } from '../fixtures/env.js';

/** Only the required variables of `fn`, with the values of a valid production environment. */
function requiredOnly(fn: FunctionName): Record<string, string> {
  const full = productionEnv();
  return Object.fromEntries(variablesFor(fn).required.map((name) => [name, full[name] ?? '']));
}

function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

/** What each function's entry point builds from its runtime when it handles a request. */
const USES: Readonly<Record<FunctionName, (rt: Runtime) => unknown>> = {
  api: (rt) => [rt.consentDeps().settings.returnUrlAllowlist, rt.exportDeps().archive, rt.callers(), rt.exportDeps().settings.objectPrefix],
  oauth: (rt) => [rt.consentDeps().settings.connectBaseUrl, rt.exportDeps().settings.leaseSeconds, rt.config.oauth.redirectUri],
  scheduler: (rt) => [rt.schedulerCallers(), rt.exportDeps().settings.tickBatch, rt.exportDeps().archive],
  initiate: (rt) => [rt.exportDeps().upstream, rt.exportDeps().settings.leaseSeconds],
  poll: (rt) => [rt.exportDeps().archive, rt.exportDeps().settings.objectPrefix],
  transfer: (rt) => [rt.exportDeps().archive, rt.exportDeps().settings.transferBudgetSeconds, rt.exportDeps().settings.checkpointBytes],
  schedule: (rt) => [rt.exportDeps().settings.expiringLeadSeconds, rt.exportDeps().settings.tickBatch],
  webhooks: (rt) => [rt.webhookFanOutDeps(), rt.undeliverableDeps()],
  'webhook-delivery': (rt) => [rt.webhookDeps().vault, rt.webhookDeps().settings.publicAddressesOnly, rt.undeliverableDeps()],
  deadletter: (rt) => rt.undeliverableDeps(),
  bundle: (rt) => [rt.exportDeps().archive, rt.exportDeps().packers, rt.exportDeps().settings.transferBudgetSeconds, rt.exportDeps().settings.checkpointBytes],
};

describe('per-function configuration', () => {
  it('names the functions of the topology', () => {
    expect([...FUNCTION_NAMES].sort()).toEqual(FUNCTIONS.map((f) => f.name).sort());
  });

  it.each(FUNCTION_NAMES)('%s starts with only its required variables and fails naming each one removed', async (fn) => {
    const env = requiredOnly(fn);
    for (const [name, value] of Object.entries(env)) expect(value, `${name} has no value in the production fixture`).not.toBe('');
    const rt = createRuntime(env, {}, fn);
    expect(() => USES[fn](rt)).not.toThrow();
    await rt.close();
    for (const name of Object.keys(env)) {
      const { [name]: _removed, ...rest } = env;
      const error = configErrorOf(() => parseConfig(rest, fn));
      expect(error.variables).toContain(name);
      expect(error.message).toContain(name);
    }
  });

  it.each(FUNCTION_NAMES)('%s lists its secrets among its variables, and OAUTH_CLIENT_SECRET only where it talks to Google OAuth', (fn) => {
    const { required, optional, secrets } = variablesFor(fn);
    expect(new Set([...required, ...optional]).size).toBe(required.length + optional.length);
    for (const secret of secrets) expect([...required, ...optional]).toContain(secret);
    expect(secrets.includes('OAUTH_CLIENT_SECRET')).toBe(required.includes('OAUTH_CLIENT_ID'));
  });

  it('gives each function only what it uses', () => {
    const of = (fn: FunctionName) => [...variablesFor(fn).required, ...variablesFor(fn).optional];
    expect(of('deadletter').sort()).toEqual(
      ['GOOGLE_CLOUD_PROJECT', 'APP_ENV', 'LOG_LEVEL', 'LOG_FORMAT', 'RESOURCE_PREFIX', 'SANDBOX_CLOCK_URL', 'FIRESTORE_DATABASE', 'FIRESTORE_EMULATOR_HOST'].sort(),
    );
    expect(of('oauth')).not.toContain('ARCHIVE_BUCKET');
    expect(of('oauth')).not.toContain('API_ALLOWED_CALLERS');
    expect(of('api')).not.toContain('SCHEDULER_ALLOWED_CALLERS');
    expect(of('scheduler')).not.toContain('API_ALLOWED_CALLERS');
    expect(of('initiate')).not.toContain('OAUTH_PUBLIC_URL');
    expect(of('transfer')).toContain('TRANSFER_BUDGET_SECONDS');
    expect(of('poll')).not.toContain('TRANSFER_BUDGET_SECONDS');
    // With a local token key (development), KMS_KEY_NAME is not needed.
    const { KMS_KEY_NAME: _kms, ...env } = requiredOnly('poll');
    expect(parseConfig({ ...env, APP_ENV: 'test', TOKEN_KEY_PROVIDER: 'local', LOCAL_TOKEN_KEY: Buffer.alloc(32, 1).toString('base64') }, 'poll').tokenKey.provider).toBe('local');
  });

  it('ignores the variables of other functions, even malformed ones', () => {
    const config = parseConfig({ ...requiredOnly('deadletter'), ARCHIVE_BUCKET: 'Not A Bucket', API_ALLOWED_CALLERS: 'nobody' }, 'deadletter');
    expect(config.projectId).toBe('my-project-1');
  });

  it('fails clearly, naming the section and its variables, when a function reads a setting it is not configured with', async () => {
    const poll = createRuntime(requiredOnly('poll'), {}, 'poll');
    const connect = configErrorOf(() => poll.consentDeps().settings.returnUrlAllowlist);
    expect(connect.message).toMatch(/function poll is not configured with the connect flow settings/);
    expect(connect.variables).toContain('RETURN_URL_ALLOWLIST');
    expect(configErrorOf(() => poll.exportDeps().settings.transferBudgetSeconds).variables).toContain('TRANSFER_BUDGET_SECONDS');
    expect(configErrorOf(() => poll.callers()).message).toMatch(/function poll is not configured with the (ID token verification|api callers) settings/);
    await poll.close();

    const oauth = createRuntime(requiredOnly('oauth'), {}, 'oauth');
    expect(configErrorOf(() => oauth.exportDeps().archive).variables).toContain('ARCHIVE_BUCKET');
    await oauth.close();

    const deadletter = createRuntime(requiredOnly('deadletter'), {}, 'deadletter');
    expect(configErrorOf(() => deadletter.exportDeps()).message).toMatch(
      /function deadletter is not configured with the token encryption settings \(TOKEN_KEY_PROVIDER, KMS_KEY_NAME/,
    );
    expect(() => deadletter.queue()).toThrow(/function deadletter is not configured with the Pub\/Sub publishing settings \(PUBSUB_EMULATOR_HOST\)/);
    await deadletter.close();
  });
});
