import { z } from 'zod';

/**
 * The deployment's configuration, parsed once from an injected environment (never read from
 * `process.env` elsewhere). A missing or malformed variable fails start-up with a ConfigError that
 * names every offending variable.
 */
const hostPort = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8085');

const schema = z.object({
  GOOGLE_CLOUD_PROJECT: z.string({ error: 'is required' }).regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id (6-30 lowercase letters, digits, hyphens)'),
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
  // Development and tests: the functions' clock follows the sandbox's (`GET /sandbox/v1/clock`).
  SANDBOX_CLOCK_URL: baseUrl('the local sandbox clock').optional(),

  // OAuth client (the secret comes from Secret Manager through --set-secrets in production).
  OAUTH_CLIENT_ID: z.string({ error: 'is required' }).min(1).max(512),
  OAUTH_CLIENT_SECRET: z.string({ error: 'is required' }).min(1).max(512),
  OAUTH_PUBLIC_URL: baseUrl('the public URL of the oauth function'),
  GOOGLE_ACCOUNTS_URL: baseUrl('the authorization server').default('https://accounts.google.com'),
  GOOGLE_OAUTH2_URL: baseUrl('the token server').default('https://oauth2.googleapis.com'),
  PORTABILITY_API_URL: baseUrl('the Data Portability API root').default('https://dataportability.googleapis.com'),
  RETURN_URL_ALLOWLIST: z.string({ error: 'is required' }).transform((v, ctx) => {
    const entries = v
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean);
    const parsed: string[] = [];
    for (const entry of entries) {
      const url = URL.canParse(entry) ? new URL(entry) : undefined;
      if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password || url.hash || url.search) {
        ctx.addIssue({ code: 'custom', message: `entry ${JSON.stringify(entry)} must be an http(s) URL without credentials, query or fragment` });
        return z.NEVER;
      }
      parsed.push(url.href);
    }
    if (parsed.length === 0) ctx.addIssue({ code: 'custom', message: 'must list at least one URL' });
    return parsed;
  }),
  CONNECT_SESSION_TTL_SECONDS: z.coerce
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(60, 'must be at least 60 seconds')
    .max(86_400, 'must be at most 86400 seconds')
    .default(1_800),
  // How long the completion code of a finished connect flow (and so an unconfirmed consent) lives.
  CONFIRMATION_CODE_TTL_SECONDS: z.coerce
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(60, 'must be at least 60 seconds')
    .max(3_600, 'must be at most 3600 seconds')
    .default(300),

  // Callers of the api function: Google ID tokens of allow-listed service accounts.
  API_AUDIENCE: z.string({ error: 'is required' }).min(1).max(1024),
  API_ALLOWED_CALLERS: emailList(),
  ID_TOKEN_ISSUERS: z
    .string()
    .default('https://accounts.google.com,accounts.google.com')
    .transform((v) =>
      v
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean),
    ),
  ID_TOKEN_CERTS_URL: baseUrl('the PEM certificates of the ID token issuer').default('https://www.googleapis.com/oauth2/v1/certs'),

  // Envelope encryption of refresh tokens: Cloud KMS in production, a local key in development.
  TOKEN_KEY_PROVIDER: z.enum(['kms', 'local'], { error: 'must be kms or local' }).default('kms'),
  KMS_KEY_NAME: z
    .string()
    .regex(/^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/, 'must be projects/P/locations/L/keyRings/R/cryptoKeys/K')
    .optional(),
  // Archives.
  ARCHIVE_BUCKET: z.string({ error: 'is required' }).regex(/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/, 'must be a Cloud Storage bucket name'),
  ARCHIVE_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)?$/, 'must be empty or path segments without leading or trailing slash')
    .default(''),
  STORAGE_EMULATOR_HOST: baseUrl('the local Cloud Storage endpoint').optional(),
  // 0: each invocation streams its bytes in one upload request (the client library's default, no
  // buffering); otherwise the size of each upload request, held in memory until it is sent.
  TRANSFER_CHUNK_BYTES: z.coerce
    .number({ error: 'must be a number of bytes' })
    .int('must be a whole number')
    .refine((n) => n === 0 || (n >= 262_144 && n % 262_144 === 0 && n <= 268_435_456), 'must be 0 or a multiple of 262144 between 256 KiB and 256 MiB')
    .default(0),
  // How often the running CRC32C is checkpointed: resuming re-reads at most this much of the source.
  TRANSFER_CHECKPOINT_BYTES: z.coerce
    .number({ error: 'must be a number of bytes' })
    .int('must be a whole number')
    .refine((n) => n >= 262_144 && n % 262_144 === 0 && n <= 1_073_741_824, 'must be a multiple of 262144 between 256 KiB and 1 GiB')
    .default(64 * 1024 * 1024),
  TRANSFER_BUDGET_SECONDS: z.coerce
    .number({ error: 'must be a number of seconds' })
    .int('must be whole seconds')
    .min(5, 'must be at least 5')
    .max(540, 'must be at most 540 (the function limit is 9 minutes)')
    .default(420),
  LEASE_SECONDS: z.coerce
    .number({ error: 'must be a number of seconds' })
    .int('must be whole seconds')
    .min(10, 'must be at least 10')
    .max(3600, 'must be at most 3600')
    .default(600),

  // Scheduled exports of time-based grants.
  CONSENT_EXPIRING_LEAD_HOURS: z.coerce
    .number({ error: 'must be a number of hours' })
    .int('must be whole hours')
    .min(1, 'must be at least 1')
    .max(24 * 60, 'must be at most 1440 (60 days)')
    .default(7 * 24),
  SCHEDULE_BATCH_SIZE: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(500, 'must be at most 500').default(200),

  // Callers of the scheduler function (Cloud Scheduler's OIDC tokens).
  SCHEDULER_AUDIENCE: z.string({ error: 'is required' }).min(1).max(1024),
  SCHEDULER_ALLOWED_CALLERS: emailList(),

  LOCAL_TOKEN_KEY: z
    .string()
    .refine((v) => /^[A-Za-z0-9+/_-]+={0,2}$/.test(v) && Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
    .optional(),
});

function emailList() {
  return z
    .string({ error: 'is required' })
    .transform((v) =>
      v
        .split(',')
        .map((e) => e.trim().toLowerCase())
        .filter(Boolean),
    )
    .refine((list) => list.length > 0 && list.every((e) => /^[^@\s]+@[^@\s]+$/.test(e)), 'must be a comma-separated list of emails');
}

function baseUrl(what: string) {
  return z
    .string({ error: 'is required' })
    .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol) && !new URL(v).search && !new URL(v).hash, `must be an http(s) URL: ${what}`)
    .transform((v) => v.replace(/\/+$/, ''));
}

export interface Config {
  readonly projectId: string;
  readonly env: 'production' | 'development' | 'test';
  readonly log: { readonly level: string; readonly format: 'json' | 'pretty' };
  /** Prefix of every collection and topic name, so several deployments (or test runs) can share a project. */
  readonly resourcePrefix: string;
  readonly firestore: { readonly databaseId: string; readonly emulatorHost: string | undefined };
  readonly pubsub: { readonly emulatorHost: string | undefined };
  /** Development and tests: the sandbox clock the functions follow (never in production). */
  readonly sandboxClockUrl: string | undefined;
  readonly oauth: {
    readonly clientId: string;
    readonly clientSecret: string;
    /** Public base URL of the oauth function: `/connect/{session}` and `/oauth2/callback` live under it. */
    readonly publicUrl: string;
    readonly redirectUri: string;
    readonly authorizationEndpoint: string;
    readonly tokenEndpoint: string;
    readonly revokeEndpoint: string;
    readonly returnUrlAllowlist: readonly string[];
    readonly connectSessionTtlSeconds: number;
    /** Lifetime of a completion code: an unconfirmed consent expires after it. */
    readonly confirmationCodeTtlSeconds: number;
  };
  readonly portabilityApiUrl: string;
  readonly callers: {
    readonly audience: string;
    readonly allowedEmails: readonly string[];
    readonly issuers: readonly string[];
    readonly certsUrl: string;
  };
  readonly archive: {
    readonly bucket: string;
    readonly prefix: string;
    readonly storageEmulatorHost: string | undefined;
    /** 0: one streamed request per invocation. */
    readonly chunkBytes: number;
    readonly checkpointBytes: number;
    readonly transferBudgetSeconds: number;
    readonly leaseSeconds: number;
  };
  readonly scheduler: {
    readonly audience: string;
    readonly allowedEmails: readonly string[];
    /** How long before a time-based grant ends `consent.expiring` is sent. */
    readonly expiringLeadSeconds: number;
    /** Consents per page of a tick. */
    readonly batchSize: number;
  };
  readonly tokenKey: { readonly provider: 'kms'; readonly keyName: string } | { readonly provider: 'local'; readonly key: Buffer };
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
    throw new ConfigError(parsed.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? '?'), message: issue.message })));
  }
  const v = parsed.data;
  const problems: { variable: string; message: string }[] = [];
  if (v.APP_ENV === 'production') {
    for (const name of ['FIRESTORE_EMULATOR_HOST', 'PUBSUB_EMULATOR_HOST', 'STORAGE_EMULATOR_HOST', 'SANDBOX_CLOCK_URL'] as const) {
      if (v[name]) problems.push({ variable: name, message: 'must not be set when APP_ENV is production' });
    }
    if (v.TOKEN_KEY_PROVIDER === 'local') {
      problems.push({ variable: 'TOKEN_KEY_PROVIDER', message: 'must be kms when APP_ENV is production (the local key is for development)' });
    }
    if (!v.OAUTH_PUBLIC_URL.startsWith('https://')) {
      problems.push({ variable: 'OAUTH_PUBLIC_URL', message: 'must be https when APP_ENV is production' });
    }
  }
  if (v.LEASE_SECONDS <= v.TRANSFER_BUDGET_SECONDS) problems.push({ variable: 'LEASE_SECONDS', message: 'must be longer than TRANSFER_BUDGET_SECONDS' });
  if (v.TOKEN_KEY_PROVIDER === 'kms' && !v.KMS_KEY_NAME) problems.push({ variable: 'KMS_KEY_NAME', message: 'is required when TOKEN_KEY_PROVIDER is kms' });
  if (v.TOKEN_KEY_PROVIDER === 'local' && !v.LOCAL_TOKEN_KEY) problems.push({ variable: 'LOCAL_TOKEN_KEY', message: 'is required when TOKEN_KEY_PROVIDER is local' });
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze({
    projectId: v.GOOGLE_CLOUD_PROJECT,
    env: v.APP_ENV,
    log: { level: v.LOG_LEVEL, format: v.LOG_FORMAT },
    resourcePrefix: v.RESOURCE_PREFIX,
    firestore: { databaseId: v.FIRESTORE_DATABASE, emulatorHost: v.FIRESTORE_EMULATOR_HOST },
    pubsub: { emulatorHost: v.PUBSUB_EMULATOR_HOST },
    sandboxClockUrl: v.SANDBOX_CLOCK_URL,
    oauth: {
      clientId: v.OAUTH_CLIENT_ID,
      clientSecret: v.OAUTH_CLIENT_SECRET,
      publicUrl: v.OAUTH_PUBLIC_URL,
      redirectUri: `${v.OAUTH_PUBLIC_URL}/oauth2/callback`,
      authorizationEndpoint: `${v.GOOGLE_ACCOUNTS_URL}/o/oauth2/v2/auth`,
      tokenEndpoint: `${v.GOOGLE_OAUTH2_URL}/token`,
      revokeEndpoint: `${v.GOOGLE_OAUTH2_URL}/revoke`,
      returnUrlAllowlist: v.RETURN_URL_ALLOWLIST,
      connectSessionTtlSeconds: v.CONNECT_SESSION_TTL_SECONDS,
      confirmationCodeTtlSeconds: v.CONFIRMATION_CODE_TTL_SECONDS,
    },
    portabilityApiUrl: v.PORTABILITY_API_URL,
    callers: {
      audience: v.API_AUDIENCE,
      allowedEmails: v.API_ALLOWED_CALLERS,
      issuers: v.ID_TOKEN_ISSUERS,
      certsUrl: v.ID_TOKEN_CERTS_URL,
    },
    archive: {
      bucket: v.ARCHIVE_BUCKET,
      prefix: v.ARCHIVE_PREFIX,
      storageEmulatorHost: v.STORAGE_EMULATOR_HOST,
      chunkBytes: v.TRANSFER_CHUNK_BYTES,
      checkpointBytes: v.TRANSFER_CHECKPOINT_BYTES,
      transferBudgetSeconds: v.TRANSFER_BUDGET_SECONDS,
      leaseSeconds: v.LEASE_SECONDS,
    },
    scheduler: {
      audience: v.SCHEDULER_AUDIENCE,
      allowedEmails: v.SCHEDULER_ALLOWED_CALLERS,
      expiringLeadSeconds: v.CONSENT_EXPIRING_LEAD_HOURS * 3600,
      batchSize: v.SCHEDULE_BATCH_SIZE,
    },
    tokenKey: v.TOKEN_KEY_PROVIDER === 'local' ? { provider: 'local', key: Buffer.from(v.LOCAL_TOKEN_KEY ?? '', 'base64') } : { provider: 'kms', keyName: v.KMS_KEY_NAME ?? '' },
  });
}

/** The physical name of a collection or topic for this deployment. */
export function prefixed(config: Pick<Config, 'resourcePrefix'>, name: string): string {
  return config.resourcePrefix ? `${config.resourcePrefix}-${name}` : name;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
