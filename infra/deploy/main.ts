/**
 * `npm run deploy -- --project=P --region=R [--dry-run] [options]` and
 * `npm run destroy -- --project=P --region=R [--yes] [--dry-run]`.
 *
 * Commands that change something are printed (stdout) as they run; progress and the summary go to
 * stderr. With `--dry-run` every command, reads included, is printed one per line as it would run
 * on an empty project, and nothing is built or touched.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Deployer, type DeploySettings } from './deploy.js';
import { Destroyer } from './destroy.js';
import { CliGcloud, DryRunGcloud, GcloudError, type Gcloud } from './gcloud.js';
import { SOURCE_DIR, buildAndStage, sourceHash } from './source.js';

const USAGE = `usage:
  npm run deploy -- --project=P --region=R [--dry-run]
      [--oauth-client-secret-file=FILE] [--env=NAME=VALUE ...] [--app-service-account=EMAIL ...]
      [--bucket=NAME] [--archive-retention-days=N] [--database=ID] [--firestore-location=LOC]
      [--notification-channel=projects/P/notificationChannels/ID ...]
  npm run destroy -- --project=P --region=R [--yes] [--dry-run]`;

interface Args {
  readonly command: 'deploy' | 'destroy';
  readonly flags: Map<string, string[]>;
}

function parseArgs(argv: readonly string[]): Args {
  const [command, ...rest] = argv;
  if (command !== 'deploy' && command !== 'destroy') throw new Error(USAGE);
  const flags = new Map<string, string[]>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!m?.[1]) throw new Error(`unexpected argument ${arg}\n${USAGE}`);
    const name = m[1];
    let value = m[2];
    if (value === undefined && !['dry-run', 'yes'].includes(name)) value = rest[++i];
    if (value === undefined && !['dry-run', 'yes'].includes(name)) throw new Error(`--${name} needs a value\n${USAGE}`);
    flags.set(name, [...(flags.get(name) ?? []), value ?? 'true']);
  }
  const known = [
    'project',
    'region',
    'dry-run',
    'yes',
    'oauth-client-secret-file',
    'env',
    'app-service-account',
    'bucket',
    'archive-retention-days',
    'database',
    'firestore-location',
    'notification-channel',
  ];
  for (const name of flags.keys()) if (!known.includes(name)) throw new Error(`unknown option --${name}\n${USAGE}`);
  return { command, flags };
}

function one(flags: Map<string, string[]>, name: string): string | undefined {
  const v = flags.get(name);
  if (v && v.length > 1) throw new Error(`--${name} given more than once`);
  return v?.[0];
}

function required(flags: Map<string, string[]>, name: string, pattern: RegExp, what: string): string {
  const v = one(flags, name);
  if (!v) throw new Error(`--${name} is required\n${USAGE}`);
  if (!pattern.test(v)) throw new Error(`--${name}=${v}: must be ${what}`);
  return v;
}

function list(flags: Map<string, string[]>, name: string): string[] | undefined {
  const v = flags.get(name);
  return v
    ? v
        .flatMap((x) => x.split(','))
        .map((x) => x.trim())
        .filter(Boolean)
    : undefined;
}

function settings(flags: Map<string, string[]>, dryRun: boolean): DeploySettings {
  const project = required(flags, 'project', /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'a Google Cloud project id');
  const region = required(flags, 'region', /^[a-z]+-[a-z]+\d+$/, 'a Cloud Functions region such as europe-west1');
  const env: Record<string, string> = {};
  for (const pair of flags.get('env') ?? []) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/s.exec(pair);
    if (!m?.[1]) throw new Error(`--env=${pair}: must be NAME=VALUE`);
    env[m[1]] = m[2] ?? '';
  }
  const days = one(flags, 'archive-retention-days');
  if (days !== undefined && !/^\d{1,5}$/.test(days)) throw new Error('--archive-retention-days must be a whole number of days (0: no lifecycle rule)');
  const hash = dryRun ? sourceHash() : buildAndStage((l) => console.error(l));
  if (days !== undefined && Number(days) > 0) writeLifecycle(Number(days));
  return {
    project,
    region,
    database: one(flags, 'database') ?? '(default)',
    firestoreLocation: one(flags, 'firestore-location') ?? region,
    bucket: one(flags, 'bucket'),
    archiveRetentionDays: days === undefined ? undefined : Number(days),
    oauthClientSecretFile: one(flags, 'oauth-client-secret-file'),
    appServiceAccounts: list(flags, 'app-service-account'),
    env,
    notificationChannels: list(flags, 'notification-channel'),
    sourceHash: hash,
    sourceDir: SOURCE_DIR,
  };
}

/** The bucket lifecycle rule file gcloud reads (`--lifecycle-file`), next to the staged source. */
function writeLifecycle(days: number): void {
  const file = join(dirname(SOURCE_DIR), `lifecycle-${days}d.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ rule: [{ action: { type: 'Delete' }, condition: { age: days } }] }));
}

async function confirm(project: string, what: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${what}\nType the project id (${project}) to go ahead: `);
    return answer.trim() === project;
  } finally {
    rl.close();
  }
}

async function main(): Promise<void> {
  const { command, flags } = parseArgs(process.argv.slice(2));
  const dryRun = flags.has('dry-run');
  const print = (line: string) => console.log(line);
  const info = (line: string) => console.error(line);
  const gcloud: Gcloud = dryRun ? new DryRunGcloud(print) : new CliGcloud(print);
  if (command === 'deploy') {
    const s = settings(flags, dryRun);
    if (dryRun) info(`dry run: nothing is built or changed; commands as they would run on an empty project (source ${s.sourceHash})`);
    const report = await new Deployer(gcloud, s, info).run();
    const changed = report.created.length + report.updated.length;
    info(
      changed === 0
        ? `deploy: no changes, everything is up to date (${report.unchanged.length} resources checked)`
        : `deploy: ${report.created.length} created, ${report.updated.length} updated, ${report.unchanged.length} unchanged`,
    );
    return;
  }
  const project = required(flags, 'project', /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'a Google Cloud project id');
  const region = required(flags, 'region', /^[a-z]+-[a-z]+\d+$/, 'a Cloud Functions region such as europe-west1');
  const destroyer = new Destroyer(gcloud, { project, region, database: one(flags, 'database') ?? '(default)', bucket: one(flags, 'bucket') }, info);
  if (!dryRun && !flags.has('yes')) {
    const ok = await confirm(
      project,
      `This deletes the functions, subscriptions, topics, scheduler jobs, service accounts, IAM bindings, secret, indexes, TTL policies, log metric and alert policies of the deployment in ${project}. It keeps the KMS key, the Firestore database and the archive bucket's objects.`,
    );
    if (!ok) {
      info('destroy: cancelled');
      process.exitCode = 1;
      return;
    }
  }
  const deleted = await destroyer.run();
  info(deleted === 0 ? 'destroy: nothing left to delete' : `destroy: ${deleted} deleted`);
}

main().catch((err: unknown) => {
  console.error(err instanceof GcloudError || err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
