import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, prefixed } from '../../functions/platform/config.js';
import { productionEnv } from '../fixtures/env.js';

const base = productionEnv();

describe('parseConfig', () => {
  it('MEWS_PLATFORM_ALLOWLIST: base URLs without a trailing slash; https only in production', () => {
    expect(parseConfig({ ...base, MEWS_PLATFORM_ALLOWLIST: 'https://api.mews.com/, https://api.mews-demo.com' }).mews.platformAllowlist).toEqual([
      'https://api.mews.com',
      'https://api.mews-demo.com',
    ]);
    expect(() => parseConfig({ ...base, MEWS_PLATFORM_ALLOWLIST: 'http://api.mews.com' })).toThrow(/MEWS_PLATFORM_ALLOWLIST must list only https URLs/);
    expect(() => parseConfig({ ...base, MEWS_PLATFORM_ALLOWLIST: 'ftp://x' })).toThrow(ConfigError);
  });

  it('applies defaults and returns a frozen object', () => {
    const config = parseConfig(base);
    expect(config).toEqual({
      projectId: 'my-project-1',
      env: 'production',
      log: { level: 'info', format: 'json' },
      resourcePrefix: '',
      firestore: { databaseId: '(default)', emulatorHost: undefined },
      pubsub: { emulatorHost: undefined },
      sandboxClockUrl: undefined,
      oauth: {
        clientId: 'client-123.apps.googleusercontent.com',
        clientSecret: 'unit-test-secret',
        publicUrl: 'https://connect.example.com',
        redirectUri: 'https://connect.example.com/oauth2/callback',
        authorizationEndpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
        tokenEndpoint: 'https://oauth2.googleapis.com/token',
        revokeEndpoint: 'https://oauth2.googleapis.com/revoke',
        returnUrlAllowlist: ['https://app.example.com/connected'],
        connectSessionTtlSeconds: 1800,
        confirmationCodeTtlSeconds: 300,
      },
      portabilityApiUrl: 'https://dataportability.googleapis.com',
      mews: { platformAllowlist: [] },
      callers: {
        audience: 'https://api.example.com',
        allowedEmails: ['backend@my-project-1.iam.gserviceaccount.com'],
        issuers: ['https://accounts.google.com', 'accounts.google.com'],
        certsUrl: 'https://www.googleapis.com/oauth2/v1/certs',
      },
      archive: {
        bucket: 'my-archives',
        prefix: '',
        storageEmulatorHost: undefined,
        chunkBytes: 0,
        checkpointBytes: 64 * 1024 * 1024,
        transferBudgetSeconds: 420,
        leaseSeconds: 600,
      },
      scheduler: { audience: 'https://scheduler.example.com', allowedEmails: ['scheduler@my-project-1.iam.gserviceaccount.com'], expiringLeadSeconds: 7 * 86_400, batchSize: 200 },
      tokenKey: { provider: 'kms', keyName: 'projects/my-project-1/locations/europe-west1/keyRings/dp/cryptoKeys/tokens' },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.log)).toBe(true);
  });

  it('keeps a local key as 32 bytes and does not break freezing', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const config = parseConfig({ ...base, APP_ENV: 'development', TOKEN_KEY_PROVIDER: 'local', LOCAL_TOKEN_KEY: key, OAUTH_PUBLIC_URL: 'http://127.0.0.1:1/' });
    expect(config.tokenKey).toEqual({ provider: 'local', key: Buffer.alloc(32, 7) });
    expect(config.oauth.redirectUri).toBe('http://127.0.0.1:1/oauth2/callback');
  });

  it('reads every variable it knows', () => {
    const config = parseConfig({
      ...base,
      APP_ENV: 'development',
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'pretty',
      RESOURCE_PREFIX: 'run-1',
      FIRESTORE_DATABASE: 'portability',
      FIRESTORE_EMULATOR_HOST: '127.0.0.1:8080',
      PUBSUB_EMULATOR_HOST: 'localhost:8085',
      CONFIRMATION_CODE_TTL_SECONDS: '600',
    });
    expect(config.env).toBe('development');
    expect(config.oauth.confirmationCodeTtlSeconds).toBe(600);
    expect(config.log).toEqual({ level: 'debug', format: 'pretty' });
    expect(config.firestore).toEqual({ databaseId: 'portability', emulatorHost: '127.0.0.1:8080' });
    expect(config.pubsub.emulatorHost).toBe('localhost:8085');
    expect(prefixed(config, 'jobs')).toBe('run-1-jobs');
    expect(prefixed(parseConfig(base), 'jobs')).toBe('jobs');
  });

  const failures: [string, Record<string, string>, string, RegExp][] = [
    ['missing project', { ...base, GOOGLE_CLOUD_PROJECT: undefined } as unknown as Record<string, string>, 'GOOGLE_CLOUD_PROJECT', /is required/],
    ['empty project counts as missing', { ...base, GOOGLE_CLOUD_PROJECT: '' }, 'GOOGLE_CLOUD_PROJECT', /is required/],
    ['malformed project', { ...base, GOOGLE_CLOUD_PROJECT: 'My_Project' }, 'GOOGLE_CLOUD_PROJECT', /project id/],
    ['missing client id', { ...base, OAUTH_CLIENT_ID: '' }, 'OAUTH_CLIENT_ID', /is required/],
    ['missing client secret', { ...base, OAUTH_CLIENT_SECRET: '' }, 'OAUTH_CLIENT_SECRET', /is required/],
    ['public URL not a URL', { ...base, OAUTH_PUBLIC_URL: 'connect.example.com' }, 'OAUTH_PUBLIC_URL', /http\(s\) URL/],
    ['public URL over http in production', { ...base, OAUTH_PUBLIC_URL: 'http://connect.example.com' }, 'OAUTH_PUBLIC_URL', /https when APP_ENV is production/],
    ['return URL with a query', { ...base, RETURN_URL_ALLOWLIST: 'https://a.example/x?y=1' }, 'RETURN_URL_ALLOWLIST', /without credentials, query or fragment/],
    ['return URL list empty', { ...base, RETURN_URL_ALLOWLIST: ' , ' }, 'RETURN_URL_ALLOWLIST', /at least one/],
    ['callers not emails', { ...base, API_ALLOWED_CALLERS: 'backend' }, 'API_ALLOWED_CALLERS', /emails/],
    ['session TTL not a number', { ...base, CONNECT_SESSION_TTL_SECONDS: 'soon' }, 'CONNECT_SESSION_TTL_SECONDS', /number/],
    ['session TTL too short', { ...base, CONNECT_SESSION_TTL_SECONDS: '5' }, 'CONNECT_SESSION_TTL_SECONDS', /60/],
    ['completion code lifetime too short', { ...base, CONFIRMATION_CODE_TTL_SECONDS: '10' }, 'CONFIRMATION_CODE_TTL_SECONDS', /60/],
    ['completion code lifetime over an hour', { ...base, CONFIRMATION_CODE_TTL_SECONDS: '7200' }, 'CONFIRMATION_CODE_TTL_SECONDS', /3600/],
    ['bucket name', { ...base, ARCHIVE_BUCKET: 'Bad_Bucket' }, 'ARCHIVE_BUCKET', /bucket name/],
    ['prefix with a leading slash', { ...base, ARCHIVE_PREFIX: '/exports' }, 'ARCHIVE_PREFIX', /leading or trailing slash/],
    ['chunk not a multiple of 256 KiB', { ...base, TRANSFER_CHUNK_BYTES: '1000000' }, 'TRANSFER_CHUNK_BYTES', /0 or a multiple of 262144/],
    ['checkpoint interval not a multiple of 256 KiB', { ...base, TRANSFER_CHECKPOINT_BYTES: '1000000' }, 'TRANSFER_CHECKPOINT_BYTES', /multiple of 262144/],
    ['checkpoint interval of zero', { ...base, TRANSFER_CHECKPOINT_BYTES: '0' }, 'TRANSFER_CHECKPOINT_BYTES', /between 256 KiB and 1 GiB/],
    ['budget over the function limit', { ...base, TRANSFER_BUDGET_SECONDS: '600' }, 'TRANSFER_BUDGET_SECONDS', /at most 540/],
    ['lease shorter than the budget', { ...base, LEASE_SECONDS: '300' }, 'LEASE_SECONDS', /longer than TRANSFER_BUDGET_SECONDS/],
    ['storage emulator in production', { ...base, STORAGE_EMULATOR_HOST: 'http://127.0.0.1:1' }, 'STORAGE_EMULATOR_HOST', /not be set when APP_ENV is production/],
    ['sandbox clock in production', { ...base, SANDBOX_CLOCK_URL: 'http://127.0.0.1:1/sandbox/v1/clock' }, 'SANDBOX_CLOCK_URL', /not be set when APP_ENV is production/],
    ['expiring lead of zero hours', { ...base, CONSENT_EXPIRING_LEAD_HOURS: '0' }, 'CONSENT_EXPIRING_LEAD_HOURS', /at least 1/],
    ['scheduler callers missing', { ...base, SCHEDULER_ALLOWED_CALLERS: '' }, 'SCHEDULER_ALLOWED_CALLERS', /is required/],
    ['unknown key provider', { ...base, TOKEN_KEY_PROVIDER: 'vault' }, 'TOKEN_KEY_PROVIDER', /kms or local/],
    ['kms without key name', { ...base, KMS_KEY_NAME: '' }, 'KMS_KEY_NAME', /required when TOKEN_KEY_PROVIDER is kms/],
    ['malformed kms key name', { ...base, KMS_KEY_NAME: 'keys/1' }, 'KMS_KEY_NAME', /cryptoKeys/],
    [
      'local key in production',
      { ...base, TOKEN_KEY_PROVIDER: 'local', LOCAL_TOKEN_KEY: Buffer.alloc(32).toString('base64') },
      'TOKEN_KEY_PROVIDER',
      /must be kms when APP_ENV is production/,
    ],
    ['local key of the wrong size', { ...base, APP_ENV: 'test', TOKEN_KEY_PROVIDER: 'local', LOCAL_TOKEN_KEY: 'c2hvcnQ=' }, 'LOCAL_TOKEN_KEY', /32 bytes/],
    ['local provider without key', { ...base, APP_ENV: 'test', TOKEN_KEY_PROVIDER: 'local' }, 'LOCAL_TOKEN_KEY', /required when TOKEN_KEY_PROVIDER is local/],
    ['unknown APP_ENV', { ...base, APP_ENV: 'staging' }, 'APP_ENV', /production, development or test/],
    ['unknown LOG_LEVEL', { ...base, LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', /one of trace/],
    ['unknown LOG_FORMAT', { ...base, LOG_FORMAT: 'xml' }, 'LOG_FORMAT', /json or pretty/],
    ['prefix with capitals', { ...base, RESOURCE_PREFIX: 'Run1' }, 'RESOURCE_PREFIX', /lowercase/],
    ['database id', { ...base, FIRESTORE_DATABASE: 'Bad DB' }, 'FIRESTORE_DATABASE', /database id/],
    ['emulator host without port', { ...base, APP_ENV: 'test', FIRESTORE_EMULATOR_HOST: 'localhost' }, 'FIRESTORE_EMULATOR_HOST', /host:port/],
    ['pubsub emulator as URL', { ...base, APP_ENV: 'test', PUBSUB_EMULATOR_HOST: 'http://x:1' }, 'PUBSUB_EMULATOR_HOST', /host:port/],
    ['emulator in production', { ...base, FIRESTORE_EMULATOR_HOST: '127.0.0.1:1' }, 'FIRESTORE_EMULATOR_HOST', /not be set when APP_ENV is production/],
  ];

  it.each(failures)('fails fast on %s, naming the variable', (_case, env, variable, reason) => {
    let error: unknown;
    try {
      parseConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variables).toContain(variable);
    expect((error as ConfigError).message).toContain(variable);
    expect((error as ConfigError).message).toMatch(reason);
  });

  it('names every bad variable at once', () => {
    expect(() => parseConfig({ ...base, GOOGLE_CLOUD_PROJECT: '', LOG_LEVEL: 'loud', LOG_FORMAT: 'xml' })).toThrow(
      expect.objectContaining({ variables: expect.arrayContaining(['GOOGLE_CLOUD_PROJECT', 'LOG_LEVEL', 'LOG_FORMAT']) }),
    );
  });
});
