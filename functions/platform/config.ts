import { z } from 'zod';

/**
 * The deployment's configuration, parsed once from an injected environment (never read from
 * `process.env` elsewhere), per function: each function parses and requires only the sections of
 * variables it uses (`FUNCTION_SECTIONS`), so it is deployed with, and fails at start on, exactly
 * its own configuration. A missing or malformed variable fails start-up with a ConfigError that
 * names every offending variable; reading a setting of a section the function was not configured
 * with throws a ConfigError naming the section and its variables (never `undefined`).
 *
 * `variablesFor(fn)` lists a function's variables from the same tables that parse them (the deploy
 * runner and the README use it).
 */

/** The deployable functions (infra/topology.ts has the same names; a test keeps them equal). */
export const FUNCTION_NAMES = ['api', 'oauth', 'scheduler', 'initiate', 'poll', 'transfer', 'schedule', 'bundle', 'webhooks', 'webhook-delivery', 'deadletter'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

type Env = Readonly<Record<string, string>>;
type Shape = Record<string, z.ZodType>;
interface Problem {
  readonly variable: string;
  readonly message: string;
}

interface Section<S extends Shape, O> {
  /** What the variables configure, for error messages. */
  readonly about: string;
  readonly fields: S;
  /** Variables that come from Secret Manager in production. */
  readonly secrets?: readonly (keyof S & string)[];
  /** Required variables that the other values make unnecessary (KMS_KEY_NAME with a local key). */
  readonly unneeded?: (input: Env) => readonly (keyof S & string)[];
  readonly check?: (v: z.output<z.ZodObject<S>>, production: boolean) => Problem[];
  readonly build: (v: z.output<z.ZodObject<S>>) => O;
}

function section<S extends Shape, O>(s: Section<S, O>): Section<S, O> {
  return s;
}

const hostPort = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8085');
const seconds = () => z.coerce.number({ error: 'must be a number of seconds' });
const notInProduction = (variable: string, value: unknown, production: boolean): Problem[] =>
  production && value ? [{ variable, message: 'must not be set when APP_ENV is production' }] : [];

const SECTIONS = {
  base: section({
    about: 'deployment',
    fields: {
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
      // Development and tests: the functions' clock follows the sandbox's (`GET /sandbox/v1/clock`).
      SANDBOX_CLOCK_URL: baseUrl('the local sandbox clock').optional(),
    },
    check: (v, production) => notInProduction('SANDBOX_CLOCK_URL', v.SANDBOX_CLOCK_URL, production),
    build: (v) => ({
      projectId: v.GOOGLE_CLOUD_PROJECT,
      env: v.APP_ENV,
      log: { level: v.LOG_LEVEL, format: v.LOG_FORMAT },
      resourcePrefix: v.RESOURCE_PREFIX,
      sandboxClockUrl: v.SANDBOX_CLOCK_URL,
    }),
  }),
  firestore: section({
    about: 'Firestore',
    fields: {
      FIRESTORE_DATABASE: z
        .string()
        .regex(/^(\(default\)|[a-z][a-z0-9-]{2,62})$/, 'must be (default) or a Firestore database id')
        .default('(default)'),
      FIRESTORE_EMULATOR_HOST: hostPort.optional(),
    },
    check: (v, production) => notInProduction('FIRESTORE_EMULATOR_HOST', v.FIRESTORE_EMULATOR_HOST, production),
    build: (v) => ({ databaseId: v.FIRESTORE_DATABASE, emulatorHost: v.FIRESTORE_EMULATOR_HOST }),
  }),
  pubsub: section({
    about: 'Pub/Sub publishing',
    fields: { PUBSUB_EMULATOR_HOST: hostPort.optional() },
    check: (v, production) => notInProduction('PUBSUB_EMULATOR_HOST', v.PUBSUB_EMULATOR_HOST, production),
    build: (v) => ({ emulatorHost: v.PUBSUB_EMULATOR_HOST }),
  }),
  // The OAuth client: refreshing and revoking tokens (the secret comes from Secret Manager through
  // --set-secrets in production).
  oauthClient: section({
    about: 'OAuth client',
    fields: {
      OAUTH_CLIENT_ID: z.string({ error: 'is required' }).min(1).max(512),
      OAUTH_CLIENT_SECRET: z.string({ error: 'is required' }).min(1).max(512),
      GOOGLE_OAUTH2_URL: baseUrl('the token server').default('https://oauth2.googleapis.com'),
    },
    secrets: ['OAUTH_CLIENT_SECRET'],
    build: (v) => ({
      clientId: v.OAUTH_CLIENT_ID,
      clientSecret: v.OAUTH_CLIENT_SECRET,
      tokenEndpoint: `${v.GOOGLE_OAUTH2_URL}/token`,
      revokeEndpoint: `${v.GOOGLE_OAUTH2_URL}/revoke`,
    }),
  }),
  // The connect flow: connect links, the consent redirect and the return to the application.
  connect: section({
    about: 'connect flow',
    fields: {
      OAUTH_PUBLIC_URL: baseUrl('the public URL of the oauth function'),
      GOOGLE_ACCOUNTS_URL: baseUrl('the authorization server').default('https://accounts.google.com'),
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
      CONNECT_SESSION_TTL_SECONDS: seconds()
        .int('must be a whole number of seconds')
        .min(60, 'must be at least 60 seconds')
        .max(86_400, 'must be at most 86400 seconds')
        .default(1_800),
      // How long the completion code of a finished connect flow (and so an unconfirmed consent) lives.
      CONFIRMATION_CODE_TTL_SECONDS: seconds()
        .int('must be a whole number of seconds')
        .min(60, 'must be at least 60 seconds')
        .max(3_600, 'must be at most 3600 seconds')
        .default(300),
    },
    check: (v, production) =>
      production && !v.OAUTH_PUBLIC_URL.startsWith('https://') ? [{ variable: 'OAUTH_PUBLIC_URL', message: 'must be https when APP_ENV is production' }] : [],
    build: (v) => ({
      publicUrl: v.OAUTH_PUBLIC_URL,
      redirectUri: `${v.OAUTH_PUBLIC_URL}/oauth2/callback`,
      authorizationEndpoint: `${v.GOOGLE_ACCOUNTS_URL}/o/oauth2/v2/auth`,
      returnUrlAllowlist: v.RETURN_URL_ALLOWLIST,
      connectSessionTtlSeconds: v.CONNECT_SESSION_TTL_SECONDS,
      confirmationCodeTtlSeconds: v.CONFIRMATION_CODE_TTL_SECONDS,
    }),
  }),
  portability: section({
    about: 'Data Portability API',
    fields: { PORTABILITY_API_URL: baseUrl('the Data Portability API root').default('https://dataportability.googleapis.com') },
    build: (v) => ({ url: v.PORTABILITY_API_URL }),
  }),
  // Mews tenants: the platform addresses a tenant may be registered with (comma-separated base URLs; none: no Mews tenant).
  mews: section({
    about: 'Mews tenants',
    fields: {
      MEWS_PLATFORM_ALLOWLIST: z
        .string()
        .default('')
        .transform((v, ctx) => {
          const parsed: string[] = [];
          for (const entry of v
            .split(',')
            .map((e) => e.trim())
            .filter(Boolean)) {
            const url = URL.canParse(entry) ? new URL(entry) : undefined;
            if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password || url.hash || url.search) {
              ctx.addIssue({ code: 'custom', message: `entry ${JSON.stringify(entry)} must be an http(s) URL without credentials, query or fragment` });
              return z.NEVER;
            }
            parsed.push(url.href.replace(/\/+$/, ''));
          }
          return parsed;
        }),
    },
    check: (v, production) =>
      production && v.MEWS_PLATFORM_ALLOWLIST.some((e) => !e.startsWith('https://'))
        ? [{ variable: 'MEWS_PLATFORM_ALLOWLIST', message: 'must list only https URLs when APP_ENV is production' }]
        : [],
    build: (v) => ({ platformAllowlist: v.MEWS_PLATFORM_ALLOWLIST }),
  }),
  // Callers of the api function: Google ID tokens of allow-listed service accounts.
  apiCallers: section({
    about: 'api callers',
    fields: { API_AUDIENCE: z.string({ error: 'is required' }).min(1).max(1024), API_ALLOWED_CALLERS: emailList() },
    build: (v) => ({ audience: v.API_AUDIENCE, allowedEmails: v.API_ALLOWED_CALLERS }),
  }),
  // Callers of the scheduler function (Cloud Scheduler's OIDC tokens).
  schedulerCallers: section({
    about: 'scheduler callers',
    fields: { SCHEDULER_AUDIENCE: z.string({ error: 'is required' }).min(1).max(1024), SCHEDULER_ALLOWED_CALLERS: emailList() },
    build: (v) => ({ audience: v.SCHEDULER_AUDIENCE, allowedEmails: v.SCHEDULER_ALLOWED_CALLERS }),
  }),
  // How ID tokens of callers are checked (api and scheduler).
  idTokens: section({
    about: 'ID token verification',
    fields: {
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
    },
    build: (v) => ({ issuers: v.ID_TOKEN_ISSUERS, certsUrl: v.ID_TOKEN_CERTS_URL }),
  }),
  // Envelope encryption of refresh tokens: Cloud KMS in production, a local key in development.
  tokenKey: section({
    about: 'token encryption',
    fields: {
      TOKEN_KEY_PROVIDER: z.enum(['kms', 'local'], { error: 'must be kms or local' }).default('kms'),
      KMS_KEY_NAME: z
        .string({ error: 'is required when TOKEN_KEY_PROVIDER is kms' })
        .regex(/^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/, 'must be projects/P/locations/L/keyRings/R/cryptoKeys/K'),
      LOCAL_TOKEN_KEY: z
        .string()
        .refine((v) => /^[A-Za-z0-9+/_-]+={0,2}$/.test(v) && Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
        .optional(),
    },
    unneeded: (input) => (input['TOKEN_KEY_PROVIDER'] === 'local' ? ['KMS_KEY_NAME'] : []),
    check: (v, production) => [
      ...(production && v.TOKEN_KEY_PROVIDER === 'local'
        ? [{ variable: 'TOKEN_KEY_PROVIDER', message: 'must be kms when APP_ENV is production (the local key is for development)' }]
        : []),
      ...(v.TOKEN_KEY_PROVIDER === 'local' && !v.LOCAL_TOKEN_KEY ? [{ variable: 'LOCAL_TOKEN_KEY', message: 'is required when TOKEN_KEY_PROVIDER is local' }] : []),
    ],
    build: (v): Config['tokenKey'] =>
      v.TOKEN_KEY_PROVIDER === 'local' ? { provider: 'local', key: Buffer.from(v.LOCAL_TOKEN_KEY ?? '', 'base64') } : { provider: 'kms', keyName: v.KMS_KEY_NAME },
  }),
  // Export jobs: object naming and leases.
  exports: section({
    about: 'export jobs',
    fields: {
      ARCHIVE_PREFIX: z
        .string()
        .regex(/^([A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)?$/, 'must be empty or path segments without leading or trailing slash')
        .default(''),
      LEASE_SECONDS: z.coerce
        .number({ error: 'must be a number of seconds' })
        .int('must be whole seconds')
        .min(10, 'must be at least 10')
        .max(3600, 'must be at most 3600')
        .default(600),
    },
    build: (v) => ({ prefix: v.ARCHIVE_PREFIX, leaseSeconds: v.LEASE_SECONDS }),
  }),
  // The archive bucket (writing, erasing).
  archive: section({
    about: 'archive bucket',
    fields: {
      ARCHIVE_BUCKET: z.string({ error: 'is required' }).regex(/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/, 'must be a Cloud Storage bucket name'),
      STORAGE_EMULATOR_HOST: baseUrl('the local Cloud Storage endpoint').optional(),
      // 0: each invocation streams its bytes in one upload request (the client library's default, no
      // buffering); otherwise the size of each upload request, held in memory until it is sent.
      TRANSFER_CHUNK_BYTES: z.coerce
        .number({ error: 'must be a number of bytes' })
        .int('must be a whole number')
        .refine((n) => n === 0 || (n >= 262_144 && n % 262_144 === 0 && n <= 268_435_456), 'must be 0 or a multiple of 262144 between 256 KiB and 256 MiB')
        .default(0),
    },
    check: (v, production) => notInProduction('STORAGE_EMULATOR_HOST', v.STORAGE_EMULATOR_HOST, production),
    build: (v) => ({ bucket: v.ARCHIVE_BUCKET, storageEmulatorHost: v.STORAGE_EMULATOR_HOST, chunkBytes: v.TRANSFER_CHUNK_BYTES }),
  }),
  // The transfer worker's hand-over and checkpoints.
  transfer: section({
    about: 'transfers',
    fields: {
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
    },
    build: (v) => ({ checkpointBytes: v.TRANSFER_CHECKPOINT_BYTES, transferBudgetSeconds: v.TRANSFER_BUDGET_SECONDS }),
  }),
  // Scheduled exports of time-based grants.
  ticks: section({
    about: 'scheduler ticks',
    fields: {
      CONSENT_EXPIRING_LEAD_HOURS: z.coerce
        .number({ error: 'must be a number of hours' })
        .int('must be whole hours')
        .min(1, 'must be at least 1')
        .max(24 * 60, 'must be at most 1440 (60 days)')
        .default(7 * 24),
      SCHEDULE_BATCH_SIZE: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(500, 'must be at most 500').default(200),
    },
    build: (v) => ({ expiringLeadSeconds: v.CONSENT_EXPIRING_LEAD_HOURS * 3600, batchSize: v.SCHEDULE_BATCH_SIZE }),
  }),
};

type SectionName = keyof typeof SECTIONS;
type Built = { [K in SectionName]: ReturnType<(typeof SECTIONS)[K]['build']> };

/**
 * The sections each function uses. Every worker of the export pipeline may end a job (closing its
 * upload sessions in the bucket, with the sealed session URIs) and refresh tokens, so each has the
 * OAuth client, the token key and the bucket; only `api` and `oauth` run the connect flow; only
 * `transfer` tunes transfers; `deadletter` only records messages.
 */
const PIPELINE: readonly SectionName[] = ['base', 'firestore', 'pubsub', 'oauthClient', 'portability', 'mews', 'tokenKey', 'exports', 'archive'];
const FUNCTION_SECTIONS: Readonly<Record<FunctionName, readonly SectionName[]>> = {
  api: [...PIPELINE, 'connect', 'apiCallers', 'idTokens'],
  // The browser flow: it seals the refresh token and requests the first exports, never touches the bucket.
  oauth: ['base', 'firestore', 'pubsub', 'oauthClient', 'connect', 'portability', 'tokenKey', 'exports'],
  scheduler: [...PIPELINE, 'ticks', 'schedulerCallers', 'idTokens'],
  initiate: PIPELINE,
  poll: PIPELINE,
  transfer: [...PIPELINE, 'transfer'],
  // The bundle step checkpoints and hands over as a transfer does.
  bundle: [...PIPELINE, 'transfer'],
  schedule: [...PIPELINE, 'ticks'],
  // Webhooks: the fan-out lists webhooks and publishes; a delivery opens the sealed signing secret.
  webhooks: ['base', 'firestore', 'pubsub'],
  'webhook-delivery': ['base', 'firestore', 'pubsub', 'tokenKey'],
  deadletter: ['base', 'firestore'],
};

const ALL_SECTIONS = Object.keys(SECTIONS) as SectionName[];

function sectionsOf(fn: FunctionName | undefined): readonly SectionName[] {
  return fn === undefined ? ALL_SECTIONS : ALL_SECTIONS.filter((s) => FUNCTION_SECTIONS[fn].includes(s));
}

/**
 * The variables function `fn` reads: `required` must be set (with the default TOKEN_KEY_PROVIDER,
 * kms), `optional` have defaults or are for development; `secrets` (also listed in one of the
 * other two) come from Secret Manager in production.
 */
export function variablesFor(fn: FunctionName): { required: readonly string[]; optional: readonly string[]; secrets: readonly string[] } {
  const required: string[] = [];
  const optional: string[] = [];
  const secrets: string[] = [];
  for (const name of sectionsOf(fn)) {
    const s = loose(name);
    for (const [variable, field] of Object.entries(s.fields)) (field.safeParse(undefined).success ? optional : required).push(variable);
    secrets.push(...(s.secrets ?? []));
  }
  return { required, optional, secrets };
}

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
  /** Mews tenants: allowed platform addresses (https only in production). */
  readonly mews: { readonly platformAllowlist: readonly string[] };
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

function loose(name: SectionName): Section<Shape, unknown> {
  return SECTIONS[name] as unknown as Section<Shape, unknown>;
}

export class ConfigError extends Error {
  readonly variables: readonly string[];
  constructor(problems: readonly Problem[], summary?: string) {
    super(summary ?? `Invalid configuration: ${problems.map((p) => `${p.variable} ${p.message}`).join('; ')}`);
    this.name = 'ConfigError';
    this.variables = problems.map((p) => p.variable);
  }
}

/**
 * Parses the configuration of function `fn` (every section when `fn` is not given: tools and tests
 * that run every use case in one process). Variables of other functions are ignored.
 */
export function parseConfig(env: Readonly<Record<string, string | undefined>>, fn?: FunctionName): Config {
  // Treat empty strings as unset, as a shell `VAR=` usually means "not configured".
  const input: Env = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
  const problems: Problem[] = [];
  const built: Partial<Record<SectionName, unknown>> = {};
  const values: Partial<Record<string, unknown>> = {};
  const names = sectionsOf(fn);
  const baseEnv = SECTIONS.base.fields.APP_ENV.safeParse(input['APP_ENV']);
  const production = baseEnv.success && baseEnv.data === 'production';
  for (const name of names) {
    const s = loose(name);
    const unneeded = new Set<string>(s.unneeded?.(input) ?? []);
    const shape = Object.fromEntries(Object.entries(s.fields).map(([k, f]) => [k, unneeded.has(k) ? f.optional() : f]));
    const parsed = z.object(shape).safeParse(input);
    if (!parsed.success) {
      problems.push(...parsed.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? '?'), message: issue.message })));
      continue;
    }
    const sectionProblems = s.check?.(parsed.data, production) ?? [];
    problems.push(...sectionProblems);
    if (sectionProblems.length === 0) built[name] = deepFreeze(s.build(parsed.data));
    Object.assign(values, parsed.data);
  }
  const lease = values['LEASE_SECONDS'];
  const budget = values['TRANSFER_BUDGET_SECONDS'];
  if (typeof lease === 'number' && typeof budget === 'number' && lease <= budget)
    problems.push({ variable: 'LEASE_SECONDS', message: 'must be longer than TRANSFER_BUDGET_SECONDS' });
  if (problems.length > 0) throw new ConfigError(problems);
  return assemble(fn, built as Partial<Built>);
}

/**
 * The Config of the sections built; a setting of a section the function was not configured with is
 * a getter that throws a ConfigError naming the section and its variables.
 */
function assemble(fn: FunctionName | undefined, b: Partial<Built>): Config {
  const need = <K extends SectionName>(name: K): Built[K] => {
    const value = b[name];
    if (value !== undefined) return value;
    const variables = Object.keys(SECTIONS[name].fields);
    throw new ConfigError(
      variables.map((variable) => ({ variable, message: `is not configured for function ${fn ?? '?'}` })),
      `Invalid configuration: function ${fn ?? '?'} is not configured with the ${SECTIONS[name].about} settings (${variables.join(', ')}); it does not use them (see variablesFor in functions/platform/config.ts)`,
    );
  };
  const base = need('base');
  return Object.freeze({
    ...base,
    get firestore() {
      return need('firestore');
    },
    get pubsub() {
      return need('pubsub');
    },
    oauth: Object.freeze({
      get clientId() {
        return need('oauthClient').clientId;
      },
      get clientSecret() {
        return need('oauthClient').clientSecret;
      },
      get publicUrl() {
        return need('connect').publicUrl;
      },
      get redirectUri() {
        return need('connect').redirectUri;
      },
      get authorizationEndpoint() {
        return need('connect').authorizationEndpoint;
      },
      get tokenEndpoint() {
        return need('oauthClient').tokenEndpoint;
      },
      get revokeEndpoint() {
        return need('oauthClient').revokeEndpoint;
      },
      get returnUrlAllowlist() {
        return need('connect').returnUrlAllowlist;
      },
      get connectSessionTtlSeconds() {
        return need('connect').connectSessionTtlSeconds;
      },
      get confirmationCodeTtlSeconds() {
        return need('connect').confirmationCodeTtlSeconds;
      },
    }),
    get portabilityApiUrl() {
      return need('portability').url;
    },
    mews: Object.freeze({
      get platformAllowlist() {
        return need('mews').platformAllowlist;
      },
    }),
    callers: Object.freeze({
      get audience() {
        return need('apiCallers').audience;
      },
      get allowedEmails() {
        return need('apiCallers').allowedEmails;
      },
      get issuers() {
        return need('idTokens').issuers;
      },
      get certsUrl() {
        return need('idTokens').certsUrl;
      },
    }),
    archive: Object.freeze({
      get bucket() {
        return need('archive').bucket;
      },
      get prefix() {
        return need('exports').prefix;
      },
      get storageEmulatorHost() {
        return need('archive').storageEmulatorHost;
      },
      get chunkBytes() {
        return need('archive').chunkBytes;
      },
      get checkpointBytes() {
        return need('transfer').checkpointBytes;
      },
      get transferBudgetSeconds() {
        return need('transfer').transferBudgetSeconds;
      },
      get leaseSeconds() {
        return need('exports').leaseSeconds;
      },
    }),
    scheduler: Object.freeze({
      get audience() {
        return need('schedulerCallers').audience;
      },
      get allowedEmails() {
        return need('schedulerCallers').allowedEmails;
      },
      get expiringLeadSeconds() {
        return need('ticks').expiringLeadSeconds;
      },
      get batchSize() {
        return need('ticks').batchSize;
      },
    }),
    get tokenKey() {
      return need('tokenKey');
    },
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
