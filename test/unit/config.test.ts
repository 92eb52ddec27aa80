import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, prefixed } from '../../functions/platform/config.js';

const base = { GOOGLE_CLOUD_PROJECT: 'my-project-1' };

describe('parseConfig', () => {
  it('applies defaults and returns a frozen object', () => {
    const config = parseConfig(base);
    expect(config).toEqual({
      projectId: 'my-project-1',
      env: 'production',
      log: { level: 'info', format: 'json' },
      resourcePrefix: '',
      firestore: { databaseId: '(default)', emulatorHost: undefined },
      pubsub: { emulatorHost: undefined },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.log)).toBe(true);
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
    });
    expect(config.env).toBe('development');
    expect(config.log).toEqual({ level: 'debug', format: 'pretty' });
    expect(config.firestore).toEqual({ databaseId: 'portability', emulatorHost: '127.0.0.1:8080' });
    expect(config.pubsub.emulatorHost).toBe('localhost:8085');
    expect(prefixed(config, 'jobs')).toBe('run-1-jobs');
    expect(prefixed(parseConfig(base), 'jobs')).toBe('jobs');
  });

  const failures: [string, Record<string, string>, string, RegExp][] = [
    ['missing project', {}, 'GOOGLE_CLOUD_PROJECT', /is required/],
    ['empty project counts as missing', { GOOGLE_CLOUD_PROJECT: '' }, 'GOOGLE_CLOUD_PROJECT', /is required/],
    ['malformed project', { GOOGLE_CLOUD_PROJECT: 'My_Project' }, 'GOOGLE_CLOUD_PROJECT', /project id/],
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
    expect(() => parseConfig({ LOG_LEVEL: 'loud', LOG_FORMAT: 'xml' })).toThrow(
      expect.objectContaining({ variables: expect.arrayContaining(['GOOGLE_CLOUD_PROJECT', 'LOG_LEVEL', 'LOG_FORMAT']) }),
    );
  });
});
