/**
 * The deploy runner: creates or updates every resource of the deployment in dependency order,
 * each by describe-then-create-or-update (only what differs is changed), and says at the end
 * whether anything changed.
 *
 * Order: project number → APIs → Firestore (database, indexes, TTL) → KMS → bucket → service
 * accounts → secret → topics → resource-level IAM → functions (twice on a first deploy: URLs are
 * read back and applied) → invokers → subscriptions → scheduler jobs → monitoring.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TOPICS } from '../../functions/core/ports/work-queue.js';
import { SCHEDULER_INVOKER_ACCOUNT, SCHEDULER_JOBS } from '../scheduler-jobs.js';
import { FUNCTIONS, FUNCTION_DEPLOY, MAX_DELIVERY_ATTEMPTS, PUSH_INVOKER_ACCOUNT, RETRY_POLICY, eventFunctions } from '../topology.js';
import type { FunctionSpec } from '../topology.js';
import { variablesFor, type FunctionName } from '../../functions/platform/config.js';
import type { Gcloud } from './gcloud.js';
import { alertPolicies, errorLogFilter, pushSubscription, sameAsDesired } from './monitoring.js';
import {
  APIS,
  APP_ACCOUNT,
  APP_EVENTS_SUBSCRIPTION,
  CRYPTO_KEY,
  DEAD_LETTER_HOLD,
  KEY_RING,
  KEY_ROTATION_DAYS,
  LOG_METRIC,
  OAUTH_SECRET,
  POLICY_PREFIX,
  RUNTIME,
  SOURCE_LABEL,
  emailOf,
  pubsubAgent,
  serviceAccounts,
} from './resources.js';
import { changedFields, desiredJob } from './scheduler-jobs.js';
import type { protos } from '@google-cloud/scheduler';

export interface DeploySettings {
  readonly project: string;
  readonly region: string;
  /** Firestore database id. */
  readonly database: string;
  /** Firestore location when the database is created (a region or a multi-region such as eur3). */
  readonly firestoreLocation: string;
  /** Archive bucket; default `{project}-dataportability-archives`, or the deployed functions' ARCHIVE_BUCKET. */
  readonly bucket: string | undefined;
  /** Delete archives this many days after they were written (bucket lifecycle rule); 0 = no rule; unset = leave as is. */
  readonly archiveRetentionDays: number | undefined;
  /** File holding the OAuth client secret: a new secret version when it differs from the latest. */
  readonly oauthClientSecretFile: string | undefined;
  /** Emails of the application's service accounts (callers of api); default the deployed ones, else `dp-app`. */
  readonly appServiceAccounts: readonly string[] | undefined;
  /** Configuration given on the command line (`--env NAME=VALUE`; empty value = remove). */
  readonly env: Readonly<Record<string, string>>;
  /** Notification channels of the alert policies; default the deployed ones. */
  readonly notificationChannels: readonly string[] | undefined;
  /** Hash of the staged source (a label on each function). */
  readonly sourceHash: string;
  readonly sourceDir: string;
}

export interface DeployReport {
  readonly created: string[];
  readonly updated: string[];
  readonly unchanged: string[];
}

type Json = Record<string, unknown>;
/** A resource with an IAM policy: `gcloud GROUP… get-iam-policy NAME EXTRA…` (functions: the invoker of its Cloud Run service). */
interface IamResource {
  readonly group: readonly string[];
  readonly name: string;
  readonly extra: readonly string[];
}
/** Roles deploy grants: a binding of one of these to one of our accounts that we no longer want is removed. */
const MANAGED_ROLES = [
  'roles/pubsub.publisher',
  'roles/pubsub.subscriber',
  'roles/cloudkms.cryptoKeyEncrypterDecrypter',
  'roles/secretmanager.secretAccessor',
  'roles/storage.objectUser',
  'roles/datastore.user',
  'roles/iam.serviceAccountTokenCreator',
  'roles/run.invoker',
];
type Binding = { readonly role: string; readonly member: string; readonly condition?: { readonly title: string; readonly expression: string } };

/** Variables deploy sets itself (never taken from --env). */
const DERIVED = new Set([
  'GOOGLE_CLOUD_PROJECT',
  'APP_ENV',
  'TOKEN_KEY_PROVIDER',
  'KMS_KEY_NAME',
  'ARCHIVE_BUCKET',
  'FIRESTORE_DATABASE',
  'OAUTH_PUBLIC_URL',
  'API_AUDIENCE',
  'API_ALLOWED_CALLERS',
  'SCHEDULER_AUDIENCE',
  'SCHEDULER_ALLOWED_CALLERS',
]);
/** Development-only variables, refused in production by the functions themselves. */
const NEVER_IN_PRODUCTION = new Set(['FIRESTORE_EMULATOR_HOST', 'PUBSUB_EMULATOR_HOST', 'STORAGE_EMULATOR_HOST', 'SANDBOX_CLOCK_URL', 'LOCAL_TOKEN_KEY']);
/** Stands for a URL not known yet on a first deploy (replaced in the same run). */
const PENDING_URL = 'https://pending.invalid';

function parseJson(text: string | undefined): Json | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (trimmed === '') return {};
  return JSON.parse(trimmed) as Json;
}

function get(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Json)[key];
  }
  return cur;
}

/** `--set-env-vars` with a delimiter no value contains (gcloud's `^DELIM^` syntax) when a value has a comma. */
export function envVarsFlag(flag: string, vars: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(vars)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
  if (!pairs.some((p) => p.includes(','))) return `${flag}=${pairs.join(',')}`;
  const delim = ['@', '|', ';', '#', '~'].find((d) => !pairs.some((p) => p.includes(d)));
  if (!delim) throw new Error(`cannot pass ${flag}: every delimiter occurs in a value`);
  return `${flag}=^${delim}^${pairs.join(delim)}`;
}

export class Deployer {
  private readonly report: DeployReport = { created: [], updated: [], unchanged: [] };
  private readonly p: string;
  private projectNumber = '';
  /** Function name → its URL (serviceConfig.uri), when deployed. */
  private readonly urls = new Map<string, string>();
  private readonly deployed = new Map<string, Json>();
  private operatorEnv: Record<string, string> = {};
  private appAccounts: string[] = [];
  private bucket = '';
  private channels: string[] = [];
  private secretVersion = '';

  constructor(
    private readonly gcloud: Gcloud,
    private readonly s: DeploySettings,
    private readonly info: (line: string) => void,
  ) {
    this.p = `--project=${s.project}`;
  }

  private email(id: string): string {
    return emailOf(id, this.s.project);
  }

  private note(kind: 'created' | 'updated' | 'unchanged', what: string, detail = ''): void {
    this.report[kind].push(what);
    this.info(`${what}: ${kind}${detail ? ` (${detail})` : ''}`);
  }

  private async describe(args: string[], dryRun?: string): Promise<Json | undefined> {
    return parseJson(await this.gcloud.read([...args, this.p, '--format=json'], dryRun === undefined ? {} : { dryRun }));
  }

  async run(): Promise<DeployReport> {
    const number = await this.gcloud.read(['projects', 'describe', this.s.project, '--format=value(projectNumber)'], { dryRun: 'PROJECT_NUMBER' });
    if (number === undefined) throw new Error(`project ${this.s.project} not found (or no access)`);
    this.projectNumber = number.trim();
    await this.apis();
    await this.readDeployedFunctions();
    this.resolveSettings();
    await this.firestore();
    await this.kms();
    await this.archiveBucket();
    for (const sa of serviceAccounts()) if (sa.id !== APP_ACCOUNT || this.usesOwnAppAccount()) await this.serviceAccount(sa.id, sa.displayName);
    await this.secret();
    for (const t of TOPICS) await this.topic(t);
    await this.resourceIam();
    await this.functions();
    await this.invokers();
    await this.subscriptions();
    await this.schedulerJobs();
    await this.monitoring();
    return this.report;
  }

  // ---- settings that persist in the deployment itself ----

  private async readDeployedFunctions(): Promise<void> {
    for (const f of FUNCTIONS) {
      const fn = await this.describe(['functions', 'describe', f.name, '--gen2', `--region=${this.s.region}`]);
      if (!fn) continue;
      this.deployed.set(f.name, fn);
      const uri = get(fn, 'serviceConfig.uri');
      if (typeof uri === 'string' && uri) this.urls.set(f.name, uri);
    }
  }

  private deployedEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const fn of this.deployed.values()) {
      const vars = (get(fn, 'serviceConfig.environmentVariables') ?? {}) as Record<string, string>;
      for (const [k, v] of Object.entries(vars)) if (!(k in env)) env[k] = v;
    }
    return env;
  }

  private usesOwnAppAccount(): boolean {
    return this.appAccounts.includes(this.email(APP_ACCOUNT));
  }

  private resolveSettings(): void {
    const deployed = this.deployedEnv();
    for (const [k, v] of Object.entries(deployed)) if (!DERIVED.has(k) && !NEVER_IN_PRODUCTION.has(k) && k !== 'LOG_EXECUTION_ID') this.operatorEnv[k] = v;
    for (const [k, v] of Object.entries(this.s.env)) {
      if (DERIVED.has(k)) throw new Error(`--env=${k}: set by deploy itself`);
      if (NEVER_IN_PRODUCTION.has(k)) throw new Error(`--env=${k}: for development only, refused in production`);
      if (v === '') delete this.operatorEnv[k];
      else this.operatorEnv[k] = v;
    }
    this.bucket = this.s.bucket ?? deployed['ARCHIVE_BUCKET'] ?? `${this.s.project}-dataportability-archives`;
    const fromDeployed = deployed['API_ALLOWED_CALLERS']?.split(',').filter(Boolean);
    this.appAccounts = [...(this.s.appServiceAccounts ?? fromDeployed ?? [this.email(APP_ACCOUNT)])];
    const missing = new Set<string>();
    for (const f of FUNCTIONS)
      for (const v of variablesFor(f.name).required) if (!DERIVED.has(v) && !variablesFor(f.name).secrets.includes(v) && !this.operatorEnv[v]) missing.add(v);
    if (missing.size > 0) throw new Error(`missing configuration: ${[...missing].map((v) => `--env=${v}=…`).join(' ')} (see the README's Configuration table)`);
  }

  // ---- project ----

  private async apis(): Promise<void> {
    const out = await this.gcloud.read(['services', 'list', '--enabled', this.p, '--format=value(config.name)'], { dryRun: '' });
    const enabled = new Set((out ?? '').split(/\s+/).filter(Boolean));
    const missing = APIS.filter((a) => !enabled.has(a));
    if (missing.length === 0) return this.note('unchanged', 'APIs');
    await this.gcloud.write(['services', 'enable', ...missing, this.p]);
    this.note('updated', 'APIs', `enabled ${missing.join(', ')}`);
  }

  private async firestore(): Promise<void> {
    const db = `--database=${this.s.database}`;
    const existing = await this.describe(['firestore', 'databases', 'describe', db]);
    if (!existing) {
      await this.gcloud.write(['firestore', 'databases', 'create', db, `--location=${this.s.firestoreLocation}`, '--type=firestore-native', this.p]);
      this.note('created', `Firestore database ${this.s.database}`);
    } else {
      if (existing['type'] !== undefined && existing['type'] !== 'FIRESTORE_NATIVE')
        throw new Error(`Firestore database ${this.s.database} is in ${String(existing['type'])} mode; the pipeline needs Native mode`);
      this.note('unchanged', `Firestore database ${this.s.database}`);
    }
    const indexes = JSON.parse(readFileSync(new URL('./firestore.indexes.json', import.meta.url), 'utf8')) as {
      indexes: { collectionGroup: string; queryScope: string; fields: { fieldPath: string; order: string }[] }[];
    };
    const listed = (await this.gcloud.read(['firestore', 'indexes', 'composite', 'list', db, this.p, '--format=json'], { dryRun: '[]' })) ?? '[]';
    const existingIndexes = (JSON.parse(listed.trim() || '[]') as Json[]).map((i) => indexKey(String(i['name'] ?? '').split('/')[5] ?? '', i['queryScope'], i['fields']));
    for (const index of indexes.indexes) {
      const key = indexKey(index.collectionGroup, index.queryScope, index.fields);
      const what = `Firestore index ${key}`;
      if (existingIndexes.includes(key)) {
        this.note('unchanged', what);
        continue;
      }
      await this.gcloud.write(
        [
          'firestore',
          'indexes',
          'composite',
          'create',
          `--collection-group=${index.collectionGroup}`,
          `--query-scope=${index.queryScope}`,
          ...index.fields.map((f) => `--field-config=field-path=${f.fieldPath},order=${f.order.toLowerCase()}`),
          db,
          '--async',
          this.p,
        ],
        { tolerate: /ALREADY_EXISTS|already exists/i },
      );
      this.note('created', what);
    }
    const ttl = JSON.parse(readFileSync(new URL('./firestore-ttl.json', import.meta.url), 'utf8')) as { policies: { collectionGroup: string; field: string }[] };
    const ttls = (await this.gcloud.read(['firestore', 'fields', 'ttls', 'list', db, this.p, '--format=json'], { dryRun: '[]' })) ?? '[]';
    const active = new Set(
      (JSON.parse(ttls.trim() || '[]') as Json[])
        .filter((f) => ['ACTIVE', 'CREATING'].includes(String(get(f, 'ttlConfig.state'))))
        .map((f) => String(f['name']).split('/collectionGroups/')[1]?.replace('/fields/', '.')),
    );
    for (const policy of ttl.policies) {
      const what = `Firestore TTL ${policy.collectionGroup}.${policy.field}`;
      if (active.has(`${policy.collectionGroup}.${policy.field}`)) {
        this.note('unchanged', what);
        continue;
      }
      await this.gcloud.write(['firestore', 'fields', 'ttls', 'update', policy.field, `--collection-group=${policy.collectionGroup}`, '--enable-ttl', db, '--async', this.p]);
      this.note('created', what);
    }
  }

  private keyName(): string {
    return `projects/${this.s.project}/locations/${this.s.region}/keyRings/${KEY_RING}/cryptoKeys/${CRYPTO_KEY}`;
  }

  private async kms(): Promise<void> {
    const loc = `--location=${this.s.region}`;
    if (!(await this.describe(['kms', 'keyrings', 'describe', KEY_RING, loc]))) {
      await this.gcloud.write(['kms', 'keyrings', 'create', KEY_RING, loc, this.p]);
      this.note('created', `KMS key ring ${KEY_RING}`);
    } else this.note('unchanged', `KMS key ring ${KEY_RING}`);
    const key = await this.describe(['kms', 'keys', 'describe', CRYPTO_KEY, `--keyring=${KEY_RING}`, loc]);
    const rotation = `${KEY_ROTATION_DAYS * 86_400}s`;
    const next = new Date(Date.now() + KEY_ROTATION_DAYS * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const rotationFlags = [`--rotation-period=${rotation}`, `--next-rotation-time=${next}`];
    if (!key) {
      await this.gcloud.write(['kms', 'keys', 'create', CRYPTO_KEY, `--keyring=${KEY_RING}`, loc, '--purpose=encryption', ...rotationFlags, this.p]);
      this.note('created', `KMS key ${CRYPTO_KEY}`);
    } else if (key['rotationPeriod'] !== rotation) {
      await this.gcloud.write(['kms', 'keys', 'update', CRYPTO_KEY, `--keyring=${KEY_RING}`, loc, ...rotationFlags, this.p]);
      this.note('updated', `KMS key ${CRYPTO_KEY}`, 'rotation period');
    } else this.note('unchanged', `KMS key ${CRYPTO_KEY}`);
  }

  private async archiveBucket(): Promise<void> {
    const url = `gs://${this.bucket}`;
    const what = `bucket ${url}`;
    const b = await this.describe(['storage', 'buckets', 'describe', url, '--raw']);
    const days = this.s.archiveRetentionDays;
    const lifecycle = days === undefined ? [] : days === 0 ? ['--clear-lifecycle'] : [`--lifecycle-file=${this.lifecycleFile(days)}`];
    if (!b) {
      await this.gcloud.write([
        'storage',
        'buckets',
        'create',
        url,
        `--location=${this.s.region}`,
        '--uniform-bucket-level-access',
        '--public-access-prevention',
        ...lifecycle.filter((f) => f !== '--clear-lifecycle'),
        this.p,
      ]);
      return this.note('created', what);
    }
    const flags: string[] = [];
    if (get(b, 'iamConfiguration.uniformBucketLevelAccess.enabled') !== true) flags.push('--uniform-bucket-level-access');
    if (get(b, 'iamConfiguration.publicAccessPrevention') !== 'enforced') flags.push('--public-access-prevention');
    if (days !== undefined) {
      const rules = (get(b, 'lifecycle.rule') ?? []) as Json[];
      const current = rules.length === 1 && get(rules[0], 'action.type') === 'Delete' ? Number(get(rules[0], 'condition.age')) : rules.length === 0 ? 0 : -1;
      if (current !== days) flags.push(...lifecycle);
    }
    if (flags.length === 0) return this.note('unchanged', what);
    await this.gcloud.write(['storage', 'buckets', 'update', url, ...flags, this.p]);
    this.note('updated', what, flags.map((f) => f.split('=')[0]).join(', '));
  }

  private lifecycleFile(days: number): string {
    return join(dirname(this.s.sourceDir), `lifecycle-${days}d.json`);
  }

  private async serviceAccount(id: string, displayName: string): Promise<void> {
    const email = this.email(id);
    const sa = await this.describe(['iam', 'service-accounts', 'describe', email]);
    if (!sa) {
      await this.gcloud.write(['iam', 'service-accounts', 'create', id, `--display-name=${displayName}`, this.p]);
      return this.note('created', `service account ${id}`);
    }
    if (sa['displayName'] === displayName) return this.note('unchanged', `service account ${id}`);
    await this.gcloud.write(['iam', 'service-accounts', 'update', email, `--display-name=${displayName}`, this.p]);
    this.note('updated', `service account ${id}`, 'display name');
  }

  private async secret(): Promise<void> {
    const what = `secret ${OAUTH_SECRET}`;
    const existing = await this.describe(['secrets', 'describe', OAUTH_SECRET]);
    if (!existing) {
      await this.gcloud.write(['secrets', 'create', OAUTH_SECRET, '--replication-policy=automatic', this.p]);
      this.note('created', what);
    } else this.note('unchanged', what);
    const latest = async () =>
      (await this.gcloud.read(['secrets', 'versions', 'describe', 'latest', `--secret=${OAUTH_SECRET}`, this.p, '--format=value(name)'], { dryRun: '1' }))?.trim();
    let version = existing ? await latest() : undefined;
    const file = this.s.oauthClientSecretFile;
    if (file !== undefined) {
      const value = readFileSync(file, 'utf8').trim();
      const current = version ? await this.gcloud.read(['secrets', 'versions', 'access', 'latest', `--secret=${OAUTH_SECRET}`, this.p], { dryRun: '' }) : undefined;
      if (current?.trim() !== value) {
        await this.gcloud.write(['secrets', 'versions', 'add', OAUTH_SECRET, `--data-file=${file}`, this.p]);
        this.note('created', `${what} new version`);
        version = await latest();
      }
    }
    if (!version) throw new Error(`${what} has no version: give the OAuth client secret once with --oauth-client-secret-file=FILE`);
    this.secretVersion = version.split('/').pop() ?? version;
  }

  private async topic(name: string): Promise<void> {
    if (await this.describe(['pubsub', 'topics', 'describe', name])) return this.note('unchanged', `topic ${name}`);
    await this.gcloud.write(['pubsub', 'topics', 'create', name, this.p]);
    this.note('created', `topic ${name}`);
  }

  // ---- IAM, on each resource ----

  /** Our own accounts: bindings of these on our resources that we no longer want are removed. */
  private ours(member: string): boolean {
    const email = member.replace(/^serviceAccount:/, '');
    return serviceAccounts().some((sa) => this.email(sa.id) === email) || email === pubsubAgent(this.projectNumber);
  }

  private async bindings(what: string, resource: IamResource, desired: Binding[]): Promise<void> {
    const invoker = resource.group[0] === 'functions';
    const getArgs = invoker ? ['run', 'services', 'get-iam-policy', resource.name, ...resource.extra] : [...resource.group, 'get-iam-policy', resource.name, ...resource.extra];
    const policy = await this.describe(getArgs, '{}');
    const have: Binding[] = [];
    for (const b of (policy?.['bindings'] ?? []) as Json[]) {
      for (const m of (b['members'] ?? []) as string[]) {
        const c = b['condition'] as { title: string; expression: string } | undefined;
        have.push({ role: String(b['role']), member: m, ...(c ? { condition: { title: c.title, expression: c.expression } } : {}) });
      }
    }
    const key = (b: Binding) => `${b.role} ${b.member} ${b.condition?.title ?? ''} ${b.condition?.expression ?? ''}`;
    const haveKeys = new Set(have.map(key));
    const wantKeys = new Set(desired.map(key));
    const add = desired.filter((b) => !haveKeys.has(key(b)));
    const remove = have.filter((b) => !wantKeys.has(key(b)) && this.ours(b.member) && MANAGED_ROLES.includes(b.role));
    const args = (op: 'add' | 'remove', b: Binding) =>
      invoker
        ? ['functions', `${op}-invoker-policy-binding`, resource.name, ...resource.extra, `--member=${b.member}`, this.p]
        : [
            ...resource.group,
            `${op}-iam-policy-binding`,
            resource.name,
            ...resource.extra,
            `--member=${b.member}`,
            `--role=${b.role}`,
            ...(b.condition ? [`--condition=expression=${b.condition.expression},title=${b.condition.title}`] : []),
            ...(resource.group[0] === 'projects' ? [] : [this.p]),
          ];
    for (const b of add) await this.gcloud.write(args('add', b));
    for (const b of remove) await this.gcloud.write(args('remove', b));
    if (add.length === 0 && remove.length === 0) this.note('unchanged', `IAM of ${what}`);
    else this.note('updated', `IAM of ${what}`, [...add.map((b) => `+${b.role} ${b.member}`), ...remove.map((b) => `-${b.role} ${b.member}`)].join(', '));
  }

  private usesVariable(fn: FunctionName, variable: string): boolean {
    const v = variablesFor(fn);
    return v.required.includes(variable) || v.optional.includes(variable);
  }

  private runtimeMember(fn: FunctionName): string {
    return `serviceAccount:${this.email(FUNCTION_DEPLOY[fn]?.serviceAccount ?? '')}`;
  }

  private async resourceIam(): Promise<void> {
    const fns = FUNCTIONS.map((f) => f.name);
    const agent = `serviceAccount:${pubsubAgent(this.projectNumber)}`;
    // Firestore: project level (no finer grant exists), narrowed to our database by a condition.
    const condition = {
      title: `dataportability-firestore-${this.s.database}`.replace(/[()]/g, ''),
      expression: `resource.name=="projects/${this.s.project}/databases/${this.s.database}"`,
    };
    await this.bindings(
      `project ${this.s.project}`,
      { group: ['projects'], name: this.s.project, extra: [] },
      fns.map((fn) => ({ role: 'roles/datastore.user', member: this.runtimeMember(fn), condition })),
    );
    await this.bindings(
      `KMS key ${CRYPTO_KEY}`,
      { group: ['kms', 'keys'], name: CRYPTO_KEY, extra: [`--keyring=${KEY_RING}`, `--location=${this.s.region}`] },
      fns.filter((fn) => this.usesVariable(fn, 'KMS_KEY_NAME')).map((fn) => ({ role: 'roles/cloudkms.cryptoKeyEncrypterDecrypter', member: this.runtimeMember(fn) })),
    );
    await this.bindings(
      `secret ${OAUTH_SECRET}`,
      { group: ['secrets'], name: OAUTH_SECRET, extra: [] },
      fns.filter((fn) => variablesFor(fn).secrets.includes('OAUTH_CLIENT_SECRET')).map((fn) => ({ role: 'roles/secretmanager.secretAccessor', member: this.runtimeMember(fn) })),
    );
    await this.bindings(
      `bucket gs://${this.bucket}`,
      { group: ['storage', 'buckets'], name: `gs://${this.bucket}`, extra: [] },
      fns.filter((fn) => FUNCTION_DEPLOY[fn]?.archiveObjects).map((fn) => ({ role: 'roles/storage.objectUser', member: this.runtimeMember(fn) })),
    );
    for (const t of TOPICS) {
      const desired: Binding[] = fns.filter((fn) => FUNCTION_DEPLOY[fn]?.publishes.includes(t)).map((fn) => ({ role: 'roles/pubsub.publisher', member: this.runtimeMember(fn) }));
      if (t === 'dead-letter') desired.push({ role: 'roles/pubsub.publisher', member: agent });
      await this.bindings(`topic ${t}`, { group: ['pubsub', 'topics'], name: t, extra: [] }, desired);
    }
    // Pub/Sub mints the push OIDC tokens as dp-push (needed for agents created before 2021-04-08).
    await this.bindings(`service account ${PUSH_INVOKER_ACCOUNT}`, { group: ['iam', 'service-accounts'], name: this.email(PUSH_INVOKER_ACCOUNT), extra: [] }, [
      { role: 'roles/iam.serviceAccountTokenCreator', member: agent },
    ]);
  }

  // ---- functions ----

  private url(fn: string): string {
    return this.urls.get(fn) ?? PENDING_URL;
  }

  /** The environment of a function: what deploy derives, then the operator's values, for the variables the function reads. */
  desiredEnv(fn: FunctionName): Record<string, string> {
    const derived: Record<string, string> = {
      GOOGLE_CLOUD_PROJECT: this.s.project,
      APP_ENV: 'production',
      TOKEN_KEY_PROVIDER: 'kms',
      KMS_KEY_NAME: this.keyName(),
      ARCHIVE_BUCKET: this.bucket,
      FIRESTORE_DATABASE: this.s.database,
      OAUTH_PUBLIC_URL: this.url('oauth'),
      API_AUDIENCE: this.url('api'),
      API_ALLOWED_CALLERS: this.appAccounts.join(','),
      SCHEDULER_AUDIENCE: this.url('scheduler'),
      SCHEDULER_ALLOWED_CALLERS: this.email(SCHEDULER_INVOKER_ACCOUNT),
    };
    const vars = variablesFor(fn);
    const env: Record<string, string> = {};
    for (const v of [...vars.required, ...vars.optional]) {
      if (vars.secrets.includes(v) || NEVER_IN_PRODUCTION.has(v)) continue;
      const value = derived[v] ?? this.operatorEnv[v];
      if (value !== undefined && !(v === 'FIRESTORE_DATABASE' && value === '(default)' && !vars.required.includes(v))) env[v] = value;
    }
    return env;
  }

  private deployArgs(f: FunctionSpec): string[] {
    const d = FUNCTION_DEPLOY[f.name];
    const secrets = variablesFor(f.name).secrets.map((v) => `${v}=${OAUTH_SECRET}:${this.secretVersion}`);
    return [
      'functions',
      'deploy',
      f.name,
      '--gen2',
      `--region=${this.s.region}`,
      `--runtime=${RUNTIME}`,
      `--source=${this.s.sourceDir}`,
      `--entry-point=${f.name}`,
      '--trigger-http',
      f.trigger === 'http' && f.public ? '--allow-unauthenticated' : '--no-allow-unauthenticated',
      `--service-account=${this.email(d.serviceAccount)}`,
      `--memory=${d.memory}`,
      `--timeout=${d.timeoutSeconds}s`,
      `--min-instances=${d.minInstances}`,
      `--max-instances=${d.maxInstances}`,
      '--ingress-settings=all',
      envVarsFlag('--set-env-vars', this.desiredEnv(f.name)),
      ...(secrets.length > 0 ? [`--set-secrets=${secrets.join(',')}`] : ['--clear-secrets']),
      '--set-build-env-vars=NPM_CONFIG_OMIT=dev',
      `--update-labels=${SOURCE_LABEL}=${this.s.sourceHash}`,
      this.p,
    ];
  }

  /** What differs between the deployed function and the one we want (empty: nothing). */
  functionChanges(f: FunctionSpec, current: Json | undefined): string[] {
    if (!current) return ['new'];
    const d = FUNCTION_DEPLOY[f.name];
    if (!d) return ['settings'];
    const changes: string[] = [];
    const check = (what: string, actual: unknown, wanted: unknown) => {
      if (String(actual ?? '') !== String(wanted)) changes.push(what);
    };
    check('state', current['state'], 'ACTIVE');
    check('runtime', get(current, 'buildConfig.runtime'), RUNTIME);
    check('entry point', get(current, 'buildConfig.entryPoint'), f.name);
    check('source', get(current, `labels.${SOURCE_LABEL}`), this.s.sourceHash);
    check('memory', get(current, 'serviceConfig.availableMemory'), d.memory);
    check('timeout', get(current, 'serviceConfig.timeoutSeconds') ?? 60, d.timeoutSeconds);
    check('min instances', get(current, 'serviceConfig.minInstanceCount') ?? 0, d.minInstances);
    check('max instances', get(current, 'serviceConfig.maxInstanceCount') ?? 100, d.maxInstances);
    check('service account', get(current, 'serviceConfig.serviceAccountEmail'), this.email(d.serviceAccount));
    check('ingress', get(current, 'serviceConfig.ingressSettings') ?? 'ALLOW_ALL', 'ALLOW_ALL');
    const env = { ...((get(current, 'serviceConfig.environmentVariables') ?? {}) as Record<string, string>) };
    delete env['LOG_EXECUTION_ID'];
    if (JSON.stringify(sortKeys(env)) !== JSON.stringify(sortKeys(this.desiredEnv(f.name)))) changes.push('environment');
    const secrets = ((get(current, 'serviceConfig.secretEnvironmentVariables') ?? []) as Json[])
      .map((x) => `${String(x['key'])}=${String(x['secret'])}:${String(x['version'])}`)
      .sort();
    const wanted = variablesFor(f.name)
      .secrets.map((v) => `${v}=${OAUTH_SECRET}:${this.secretVersion}`)
      .sort();
    if (secrets.join(',') !== wanted.join(',')) changes.push('secrets');
    return changes;
  }

  private async functions(): Promise<void> {
    // A first deploy learns each function's URL only once it exists; a second pass applies them.
    for (let pass = 1; pass <= 2; pass++) {
      for (const f of FUNCTIONS) {
        const current = this.deployed.get(f.name);
        const changes = this.functionChanges(f, current);
        if (changes.length === 0) {
          if (pass === 1) this.note('unchanged', `function ${f.name}`);
          continue;
        }
        await this.gcloud.write(this.deployArgs(f));
        this.note(current ? 'updated' : 'created', `function ${f.name}`, current ? changes.join(', ') : '');
        const fresh = await this.describe(['functions', 'describe', f.name, '--gen2', `--region=${this.s.region}`], JSON.stringify(this.dryRunFunction(f)));
        if (fresh) this.deployed.set(f.name, fresh);
        const uri = await this.gcloud.read(['functions', 'describe', f.name, '--gen2', `--region=${this.s.region}`, this.p, '--format=value(serviceConfig.uri)'], {
          dryRun: `https://${f.name}-dry-run-uc.a.run.app`,
        });
        if (uri?.trim()) this.urls.set(f.name, uri.trim());
      }
    }
  }

  /** The function as a dry run imagines it after its deploy (so the plan shows the second pass). */
  private dryRunFunction(f: FunctionSpec): Json {
    const d = FUNCTION_DEPLOY[f.name];
    return {
      state: 'ACTIVE',
      buildConfig: { runtime: RUNTIME, entryPoint: f.name },
      labels: { [SOURCE_LABEL]: this.s.sourceHash },
      serviceConfig: {
        availableMemory: d?.memory,
        timeoutSeconds: d?.timeoutSeconds,
        minInstanceCount: d?.minInstances,
        maxInstanceCount: d?.maxInstances,
        serviceAccountEmail: this.email(d?.serviceAccount ?? ''),
        ingressSettings: 'ALLOW_ALL',
        environmentVariables: this.desiredEnv(f.name),
        secretEnvironmentVariables: variablesFor(f.name).secrets.map((key) => ({ key, secret: OAUTH_SECRET, version: this.secretVersion })),
      },
    };
  }

  private async invokers(): Promise<void> {
    const push = `serviceAccount:${this.email(PUSH_INVOKER_ACCOUNT)}`;
    for (const f of FUNCTIONS) {
      const members =
        f.trigger === 'topic'
          ? [push]
          : f.public
            ? ['allUsers']
            : f.name === 'scheduler'
              ? [`serviceAccount:${this.email(SCHEDULER_INVOKER_ACCOUNT)}`]
              : this.appAccounts.map((e) => `serviceAccount:${e}`);
      await this.bindings(
        `function ${f.name} (invoker)`,
        { group: ['functions'], name: f.name, extra: [`--region=${this.s.region}`] },
        members.map((member) => ({ role: 'roles/run.invoker', member })),
      );
    }
  }

  // ---- Pub/Sub subscriptions ----

  private topicPath(t: string): string {
    return `projects/${this.s.project}/topics/${t}`;
  }

  private async subscriptions(): Promise<void> {
    const agent = `serviceAccount:${pubsubAgent(this.projectNumber)}`;
    for (const f of eventFunctions()) {
      const name = pushSubscription(f.name);
      const url = this.url(f.name);
      const want: Record<string, string> = {
        '--push-endpoint': url,
        '--push-auth-service-account': this.email(PUSH_INVOKER_ACCOUNT),
        '--push-auth-token-audience': url,
        '--ack-deadline': String(f.ackDeadlineSeconds),
        '--min-retry-delay': `${RETRY_POLICY.minimumBackoffSeconds}s`,
        '--max-retry-delay': `${RETRY_POLICY.maximumBackoffSeconds}s`,
        '--expiration-period': 'never',
        ...(f.deadLetter ? { '--dead-letter-topic': this.topicPath('dead-letter'), '--max-delivery-attempts': String(f.maxDeliveryAttempts ?? MAX_DELIVERY_ATTEMPTS) } : {}),
      };
      const current = await this.describe(['pubsub', 'subscriptions', 'describe', name]);
      const have: Record<string, string> = current
        ? {
            '--push-endpoint': String(get(current, 'pushConfig.pushEndpoint') ?? ''),
            '--push-auth-service-account': String(get(current, 'pushConfig.oidcToken.serviceAccountEmail') ?? ''),
            '--push-auth-token-audience': String(get(current, 'pushConfig.oidcToken.audience') ?? ''),
            '--ack-deadline': String(current['ackDeadlineSeconds'] ?? 10),
            '--min-retry-delay': String(get(current, 'retryPolicy.minimumBackoff') ?? ''),
            '--max-retry-delay': String(get(current, 'retryPolicy.maximumBackoff') ?? ''),
            '--expiration-period': get(current, 'expirationPolicy.ttl') ? String(get(current, 'expirationPolicy.ttl')) : current['expirationPolicy'] ? 'never' : '31d',
            ...(get(current, 'deadLetterPolicy.deadLetterTopic')
              ? {
                  '--dead-letter-topic': String(get(current, 'deadLetterPolicy.deadLetterTopic')),
                  '--max-delivery-attempts': String(get(current, 'deadLetterPolicy.maxDeliveryAttempts') ?? 5),
                }
              : {}),
          }
        : {};
      await this.subscription(name, f.topic, want, have, current);
      if (f.deadLetter) await this.bindings(`subscription ${name}`, { group: ['pubsub', 'subscriptions'], name, extra: [] }, [{ role: 'roles/pubsub.subscriber', member: agent }]);
    }
    const pull = { '--ack-deadline': '60', '--message-retention-duration': '7d', '--expiration-period': 'never' };
    for (const [name, topic] of [
      [DEAD_LETTER_HOLD, 'dead-letter'],
      [APP_EVENTS_SUBSCRIPTION, 'export-events'],
    ] as const) {
      const current = await this.describe(['pubsub', 'subscriptions', 'describe', name]);
      const have: Record<string, string> = current
        ? {
            '--ack-deadline': String(current['ackDeadlineSeconds'] ?? 10),
            '--message-retention-duration': String(current['messageRetentionDuration'] ?? '604800s') === '604800s' ? '7d' : String(current['messageRetentionDuration']),
            '--expiration-period': get(current, 'expirationPolicy.ttl') ? String(get(current, 'expirationPolicy.ttl')) : current['expirationPolicy'] ? 'never' : '31d',
          }
        : {};
      await this.subscription(name, topic, pull, have, current);
    }
    await this.bindings(
      `subscription ${APP_EVENTS_SUBSCRIPTION}`,
      { group: ['pubsub', 'subscriptions'], name: APP_EVENTS_SUBSCRIPTION, extra: [] },
      this.appAccounts.map((e) => ({ role: 'roles/pubsub.subscriber', member: `serviceAccount:${e}` })),
    );
  }

  private async subscription(name: string, topic: string, want: Record<string, string>, have: Record<string, string>, current: Json | undefined): Promise<void> {
    const what = `subscription ${name}`;
    const flags = (keys: string[]) => keys.map((k) => `${k}=${want[k]}`);
    if (current && String(current['topic'] ?? '') !== this.topicPath(topic)) {
      await this.gcloud.write(['pubsub', 'subscriptions', 'delete', name, this.p]);
      current = undefined;
    }
    if (!current) {
      await this.gcloud.write(['pubsub', 'subscriptions', 'create', name, `--topic=${topic}`, ...flags(Object.keys(want)), this.p]);
      return this.note('created', what);
    }
    const changed = Object.keys(want).filter((k) => have[k] !== want[k]);
    const dropDeadLetter = want['--dead-letter-topic'] === undefined && have['--dead-letter-topic'] !== undefined;
    if (changed.length === 0 && !dropDeadLetter) return this.note('unchanged', what);
    // gcloud sets a push endpoint and its auth together, and a dead-letter topic with its attempts.
    const together = [
      ['--push-endpoint', '--push-auth-service-account', '--push-auth-token-audience'],
      ['--dead-letter-topic', '--max-delivery-attempts'],
      ['--min-retry-delay', '--max-retry-delay'],
    ];
    const send = new Set(changed);
    for (const group of together) if (group.some((k) => send.has(k))) group.forEach((k) => send.add(k));
    await this.gcloud.write(['pubsub', 'subscriptions', 'update', name, ...flags([...send]), ...(dropDeadLetter ? ['--clear-dead-letter-policy'] : []), this.p]);
    this.note('updated', what, [...changed, ...(dropDeadLetter ? ['dead letter'] : [])].join(', '));
  }

  // ---- Cloud Scheduler ----

  private async schedulerJobs(): Promise<void> {
    const env = { projectId: this.s.project, location: this.s.region, functionUrl: (fn: string) => this.url(fn), serviceAccountEmail: (id: string) => this.email(id) };
    for (const spec of SCHEDULER_JOBS) {
      const job = desiredJob(spec, env);
      const t = job.httpTarget;
      const r = job.retryConfig;
      const flags = [
        `--location=${this.s.region}`,
        `--schedule=${job.schedule}`,
        `--time-zone=${job.timeZone}`,
        `--uri=${t?.uri}`,
        `--http-method=${String(t?.httpMethod)}`,
        `--oidc-service-account-email=${t?.oidcToken?.serviceAccountEmail}`,
        `--oidc-token-audience=${t?.oidcToken?.audience}`,
        `--attempt-deadline=${Number(job.attemptDeadline?.seconds)}s`,
        `--max-retry-attempts=${r?.retryCount}`,
        `--min-backoff=${Number(r?.minBackoffDuration?.seconds)}s`,
        `--max-backoff=${Number(r?.maxBackoffDuration?.seconds)}s`,
        `--max-doublings=${r?.maxDoublings}`,
        `--max-retry-duration=${Number(r?.maxRetryDuration?.seconds)}s`,
        `--description=${job.description}`,
        this.p,
      ];
      const current = await this.describe(['scheduler', 'jobs', 'describe', spec.id, `--location=${this.s.region}`]);
      const what = `scheduler job ${spec.id}`;
      if (!current) {
        await this.gcloud.write(['scheduler', 'jobs', 'create', 'http', spec.id, ...flags]);
        this.note('created', what);
        continue;
      }
      const changed = changedFields(fromRest(current), job);
      if (changed.length === 0) {
        this.note('unchanged', what);
        continue;
      }
      await this.gcloud.write(['scheduler', 'jobs', 'update', 'http', spec.id, ...flags]);
      this.note('updated', what, changed.join(', '));
    }
  }

  // ---- monitoring ----

  private async monitoring(): Promise<void> {
    const metric = await this.describe(['logging', 'metrics', 'describe', LOG_METRIC]);
    const filter = errorLogFilter();
    const description = 'dataportability: log entries of severity ERROR or worse, per function (resource.label.service_name)';
    if (!metric) {
      await this.gcloud.write(['logging', 'metrics', 'create', LOG_METRIC, `--description=${description}`, `--log-filter=${filter}`, this.p]);
      this.note('created', `log metric ${LOG_METRIC}`);
    } else if (metric['filter'] !== filter || metric['description'] !== description) {
      await this.gcloud.write(['logging', 'metrics', 'update', LOG_METRIC, `--description=${description}`, `--log-filter=${filter}`, this.p]);
      this.note('updated', `log metric ${LOG_METRIC}`);
    } else this.note('unchanged', `log metric ${LOG_METRIC}`);

    const listed = (await this.gcloud.read(['alpha', 'monitoring', 'policies', 'list', this.p, '--format=json'], { dryRun: '[]' })) ?? '[]';
    const existing = (JSON.parse(listed.trim() || '[]') as Json[]).filter((p) => String(p['displayName'] ?? '').startsWith(POLICY_PREFIX));
    const deployedChannels = [...new Set(existing.flatMap((p) => (p['notificationChannels'] ?? []) as string[]))];
    this.channels = [...(this.s.notificationChannels ?? deployedChannels)];
    for (const policy of alertPolicies(this.channels)) {
      const what = `alert policy "${policy.displayName}"`;
      const current = existing.find((p) => p['displayName'] === policy.displayName);
      const body = JSON.stringify(policy);
      if (!current) {
        await this.gcloud.write(['alpha', 'monitoring', 'policies', 'create', `--policy=${body}`, this.p]);
        this.note('created', what);
      } else if (!sameAsDesired(policy, current)) {
        await this.gcloud.write(['alpha', 'monitoring', 'policies', 'update', String(current['name']), `--policy=${body}`, this.p]);
        this.note('updated', what);
      } else this.note('unchanged', what);
    }
  }
}

function indexKey(group: string, scope: unknown, fields: unknown): string {
  const list = ((fields ?? []) as { fieldPath?: string; order?: string }[]).filter((f) => f.fieldPath !== '__name__').map((f) => `${f.fieldPath}:${String(f.order).toLowerCase()}`);
  return `${group}(${String(scope)}: ${list.join(', ')})`;
}

function sortKeys(o: Record<string, string>): [string, string][] {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b));
}

type Job = protos.google.cloud.scheduler.v1.IJob;

/** A job as `gcloud scheduler jobs describe --format=json` prints it (REST JSON) in the client library's shape. */
function fromRest(j: Json): Job {
  const d = (v: unknown) => (typeof v === 'string' ? { seconds: Number.parseFloat(v) } : undefined);
  const t = (j['httpTarget'] ?? {}) as Json;
  const r = (j['retryConfig'] ?? {}) as Json;
  const o = t['oidcToken'] as Json | undefined;
  return {
    description: j['description'] as string,
    schedule: j['schedule'] as string,
    timeZone: j['timeZone'] as string,
    attemptDeadline: d(j['attemptDeadline']) ?? null,
    retryConfig: {
      retryCount: (r['retryCount'] as number | undefined) ?? 0,
      minBackoffDuration: d(r['minBackoffDuration']) ?? null,
      maxBackoffDuration: d(r['maxBackoffDuration']) ?? null,
      maxDoublings: (r['maxDoublings'] as number | undefined) ?? 0,
      maxRetryDuration: d(r['maxRetryDuration']) ?? null,
    },
    httpTarget: {
      uri: t['uri'] as string,
      httpMethod: t['httpMethod'] as 'POST',
      headers: (t['headers'] ?? {}) as Record<string, string>,
      body: (t['body'] as string | undefined) ?? null,
      oidcToken: o ? { serviceAccountEmail: o['serviceAccountEmail'] as string, audience: o['audience'] as string } : null,
    },
  };
}
