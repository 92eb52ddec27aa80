import { z } from 'zod';

/**
 * The deployment's configuration, parsed once from an injected environment (never read from
 * `process.env` elsewhere). A missing or malformed variable fails start-up with a ConfigError that
 * names every offending variable.
 */
const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8085');

const schema = z.object({
  GOOGLE_CLOUD_PROJECT: z
    .string({ error: 'is required' })
    .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id (6-30 lowercase letters, digits, hyphens)'),
  APP_ENV: z.enum(['production', 'development', 'test'], { error: 'must be production, development or test' }).default('production'),
  LOG_LEVEL: z
    .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
      error: 'must be one of trace, debug, info, warn, error, fatal, silent',
    })
    .default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty'], { error: 'must be json or pretty' }).default('json'),
  RESOURCE_PREFIX: z
    .string()
    .regex(/^([a-z][a-z0-9-]{0,39})?$/, 'must be empty or start with a letter: up to 40 lowercase letters, digits, hyphens')
    .default(''),
  FIRESTORE_DATABASE: z
    .string()
    .regex(/^(\(default\)|[a-z][a-z0-9-]{2,62})$/, 'must be (default) or a Firestore database id')
    .default('(default)'),
  FIRESTORE_EMULATOR_HOST: hostPort.optional(),
  PUBSUB_EMULATOR_HOST: hostPort.optional(),
});

export interface Config {
  readonly projectId: string;
  readonly env: 'production' | 'development' | 'test';
  readonly log: { readonly level: string; readonly format: 'json' | 'pretty' };
  /** Prefix of every collection and topic name, so several deployments (or test runs) can share a project. */
  readonly resourcePrefix: string;
  readonly firestore: { readonly databaseId: string; readonly emulatorHost: string | undefined };
  readonly pubsub: { readonly emulatorHost: string | undefined };
}

export class ConfigError extends Error {
  readonly variables: readonly string[];
  constructor(problems: readonly { variable: string; message: string }[]) {
    super(`Invalid configuration: ${problems.map((p) => `${p.variable} ${p.message}`).join('; ')}`);
    this.name = 'ConfigError';
    this.variables = problems.map((p) => p.variable);
  }
}

export function parseConfig(env: Readonly<Record<string, string | undefined>>): Config {
  // Treat empty strings as unset, as a shell `VAR=` usually means "not configured".
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? '?'), message: issue.message })),
    );
  }
  const v = parsed.data;
  if (v.APP_ENV === 'production' && (v.FIRESTORE_EMULATOR_HOST || v.PUBSUB_EMULATOR_HOST)) {
    throw new ConfigError([
      {
        variable: v.FIRESTORE_EMULATOR_HOST ? 'FIRESTORE_EMULATOR_HOST' : 'PUBSUB_EMULATOR_HOST',
        message: 'must not be set when APP_ENV is production',
      },
    ]);
  }
  return deepFreeze({
    projectId: v.GOOGLE_CLOUD_PROJECT,
    env: v.APP_ENV,
    log: { level: v.LOG_LEVEL, format: v.LOG_FORMAT },
    resourcePrefix: v.RESOURCE_PREFIX,
    firestore: { databaseId: v.FIRESTORE_DATABASE, emulatorHost: v.FIRESTORE_EMULATOR_HOST },
    pubsub: { emulatorHost: v.PUBSUB_EMULATOR_HOST },
  });
}

/** The physical name of a collection or topic for this deployment. */
export function prefixed(config: Pick<Config, 'resourcePrefix'>, name: string): string {
  return config.resourcePrefix ? `${config.resourcePrefix}-${name}` : name;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
