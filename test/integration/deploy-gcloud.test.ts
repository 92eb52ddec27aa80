import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '../../functions/core/ports/work-queue.js';
import { Deployer } from '../../infra/deploy/deploy.js';
import { CliGcloud, commandLine } from '../../infra/deploy/gcloud.js';
import { SCHEDULER_JOBS } from '../../infra/scheduler-jobs.js';
import { FUNCTIONS, MAX_DELIVERY_ATTEMPTS, RETRY_POLICY, eventFunctions } from '../../infra/topology.js';
// @ts-expect-error: a plain JavaScript stand-in for gcloud, no types.
import { fakeGcloud } from '../fixtures/fake-gcloud.mjs';

/**
 * `npm run deploy -- --dry-run` (and `npm run destroy -- --dry-run`) print every command; each is
 * run through the installed gcloud with no credentials (a throw-away CLOUDSDK_CONFIG): gcloud
 * checks a command's arguments before it looks for an account, so a well-formed command fails only
 * for the missing account. The same plan is checked for what it must contain.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'deploy-gcloud-'));
const secretFile = join(dir, 'oauth-client-secret.txt');
writeFileSync(secretFile, 'not-a-real-secret');
const PROJECT = 'dp-dry-run-1';
const REGION = 'europe-west1';
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NO_ACCOUNT = /You do not currently have an active account selected|Please run:\s+\$ gcloud auth login/;
const PARSE_ERROR =
  /unrecognized arguments|Invalid choice|Bad syntax|argument [^\n]*: (expected|Invalid|Bad)|Invalid value for|is not a valid|must be specified|cannot be specified|mutually exclusive/i;

/** Splits one printed command line as a POSIX shell would (the runner quotes with single quotes only). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur: string | undefined;
  const token = /'([^']*)'|\\'|[^\s'\\]+|\s+/gy;
  for (let m = token.exec(line); m; m = token.exec(line)) {
    if (/^\s+$/.test(m[0])) {
      if (cur !== undefined) words.push(cur);
      cur = undefined;
    } else cur = (cur ?? '') + (m[1] ?? (m[0] === "\\'" ? "'" : m[0]));
  }
  if (cur !== undefined) words.push(cur);
  return words;
}

/**
 * The update commands (which an empty project never needs): the runner against the recorded fake
 * gcloud, once on an empty state, then on that state with every setting drifted.
 */
async function updateCommands(): Promise<string[]> {
  const state = join(dir, 'drift-state.json');
  const log = join(dir, 'drift-log');
  writeFileSync(join(dir, 'lifecycle-365d.json'), JSON.stringify({ rule: [{ action: { type: 'Delete' }, condition: { age: 365 } }] }));
  const lines: string[] = [];
  const settings = {
    project: PROJECT,
    region: REGION,
    database: '(default)',
    firestoreLocation: REGION,
    bucket: undefined,
    archiveRetentionDays: 365,
    oauthClientSecretFile: secretFile,
    appServiceAccounts: undefined,
    env: { OAUTH_CLIENT_ID: '123-abc.apps.googleusercontent.com', RETURN_URL_ALLOWLIST: 'https://app.example.com/return' },
    notificationChannels: undefined,
    sourceHash: 'aaaa000011112222',
    sourceDir: join(dir, 'source'),
  };
  const run = (print: (l: string) => void) =>
    new Deployer(new CliGcloud(print, async (args) => fakeGcloud([...args], { FAKE_GCLOUD_STATE: state, FAKE_GCLOUD_LOG: log }), 1), settings, () => undefined).run();
  await run(() => undefined);
  type Drifted = { resources: Record<string, Record<string, unknown>>; iam: Record<string, { bindings: { role: string; members: string[] }[] }> };
  const s = JSON.parse(readFileSync(state, 'utf8')) as Drifted;
  for (const [key, r] of Object.entries(s.resources)) {
    if (key.startsWith('subscription/'))
      Object.assign(r, {
        ackDeadlineSeconds: 11,
        retryPolicy: {},
        expirationPolicy: undefined,
        pushConfig: {},
        deadLetterPolicy: { deadLetterTopic: 'x', maxDeliveryAttempts: 9 },
      });
    if (key.startsWith('job/')) Object.assign(r, { schedule: '0 0 * * *' });
    if (key.startsWith('key/')) Object.assign(r, { rotationPeriod: '1s' });
    if (key.startsWith('sa/')) Object.assign(r, { displayName: 'old' });
    if (key.startsWith('metric/')) Object.assign(r, { filter: 'old' });
    if (key.startsWith('bucket/')) Object.assign(r, { iamConfiguration: {}, lifecycle: undefined });
    if (key === 'policies') for (const p of r as unknown as Record<string, unknown>[]) p['combiner'] = 'AND';
  }
  for (const policy of Object.values(s.iam)) for (const b of policy.bindings) b.members = b.members.map((m) => (m.startsWith('serviceAccount:dp-') ? m.replace('dp-', 'dp-x') : m));
  s.iam[`projects/${PROJECT}`]?.bindings.push({ role: 'roles/pubsub.publisher', members: [`serviceAccount:dp-api@${PROJECT}.iam.gserviceaccount.com`] });
  s.iam['run/initiate']?.bindings.push({ role: 'roles/run.invoker', members: [`serviceAccount:dp-api@${PROJECT}.iam.gserviceaccount.com`] });
  writeFileSync(state, JSON.stringify(s));
  await run((l) => lines.push(l));
  expect(lines.length).toBeGreaterThan(40);
  return lines.map((l) => (l.startsWith('gcloud ') ? l : commandLine([l])));
}

function npmRun(script: string, args: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '-s', script, '--', ...args], { cwd: ROOT });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out.split('\n').filter((l) => l.startsWith('gcloud '))) : reject(new Error(`npm run ${script} failed: ${err}`))));
  });
}

const gcloudEnv = (config: string) => ({ ...process.env, CLOUDSDK_CONFIG: config, CLOUDSDK_CORE_DISABLE_PROMPTS: '1', CLOUDSDK_CORE_CHECK_GCE_METADATA: 'false' });

/**
 * Runs command lines through the installed gcloud: its own CLI (parser and command code) loaded
 * once in one Python process (test/fixtures/gcloud-batch.py) instead of a 1–2 s start per command.
 */
function gcloudBatch(commands: string[][], config: string, python: string, sdkRoot: string): Promise<{ code: number; output: string }[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [join(ROOT, 'test', 'fixtures', 'gcloud-batch.py')], { env: { ...gcloudEnv(config), GCLOUD_LIB: join(sdkRoot, 'lib') } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out) as { code: number; output: string }[]);
      } catch {
        reject(new Error(`gcloud batch exited ${code}: ${err.slice(-2000)}`));
      }
    });
    child.stdin.end(JSON.stringify(commands));
  });
}

describe('npm run deploy -- --dry-run, every command through the installed gcloud', () => {
  let deploy: string[];
  let destroy: string[];
  let updates: string[];

  beforeAll(async () => {
    const probe = spawnSync('gcloud', ['version'], { encoding: 'utf8', env: { ...process.env, CLOUDSDK_CONFIG: mkdtempSync(join(dir, 'probe-')) } });
    if (probe.error || probe.status !== 0) {
      throw new Error(
        'gcloud (the Google Cloud CLI) is needed by this test and was not found: install it (apt-get install google-cloud-cli, or https://cloud.google.com/sdk/docs/install) and the alpha component (gcloud components install alpha, or apt-get install google-cloud-cli)',
      );
    }
    [deploy, destroy, updates] = await Promise.all([
      npmRun('deploy', [
        '--dry-run',
        `--project=${PROJECT}`,
        `--region=${REGION}`,
        `--oauth-client-secret-file=${secretFile}`,
        '--env=OAUTH_CLIENT_ID=123-abc.apps.googleusercontent.com',
        '--env=RETURN_URL_ALLOWLIST=https://app.example.com/return,https://app.example.com/other',
        '--archive-retention-days=365',
        `--notification-channel=projects/${PROJECT}/notificationChannels/123`,
      ]),
      npmRun('destroy', ['--dry-run', `--project=${PROJECT}`, `--region=${REGION}`]),
      updateCommands(),
    ]);
  }, 180_000);

  it('every command parses: each fails only for lack of an account', async () => {
    const started = Date.now();
    const config = mkdtempSync(join(dir, 'gcloud-config-'));
    const info = spawnSync('gcloud', ['info', '--format=value(basic.python_location,installation.sdk_root)'], { encoding: 'utf8', env: gcloudEnv(config) });
    const [python, sdkRoot] = info.stdout.trim().split('\t');
    expect(python && sdkRoot, `gcloud info: ${info.stderr}`).toBeTruthy();
    const lines = [...new Set([...deploy, ...destroy, ...updates])];
    for (const kind of [
      'subscriptions update',
      'scheduler jobs update http',
      'kms keys update',
      'service-accounts update',
      'metrics update',
      'buckets update',
      'policies update',
      'remove-iam-policy-binding',
      'remove-invoker-policy-binding',
    ])
      expect(
        updates.some((l) => l.includes(kind)),
        kind,
      ).toBe(true);
    // Two processes, each with half of the commands (two cores).
    const halves = [lines.filter((_, i) => i % 2 === 0), lines.filter((_, i) => i % 2 === 1)];
    const results = await Promise.all(
      halves.map((h) =>
        gcloudBatch(
          h.map((l) => shellWords(l).slice(1)),
          config,
          python ?? '',
          sdkRoot ?? '',
        ),
      ),
    );
    const failures: string[] = [];
    halves.forEach((h, k) =>
      h.forEach((line, i) => {
        const r = results[k]?.[i];
        if (!r || r.code === 0 || !NO_ACCOUNT.test(r.output) || PARSE_ERROR.test(r.output))
          failures.push(`${line}\n  → ${(r?.output ?? 'no result').trim().split('\n').slice(0, 4).join('\n    ')}`);
      }),
    );
    console.log(`deploy-gcloud: ${lines.length} commands checked by gcloud in ${((Date.now() - started) / 1000).toFixed(1)} s (2 processes)`);
    expect(failures).toEqual([]);
  }, 240_000);

  it('the plan has every function, topic, push subscription, scheduler job and index, and only oauth is public', () => {
    const words = deploy.map(shellWords);
    const flag = (cmd: string[], name: string) => cmd.find((w) => w.startsWith(`--${name}=`))?.slice(name.length + 3);
    for (const f of FUNCTIONS) {
      const deploys = words.filter((c) => c[1] === 'functions' && c[2] === 'deploy' && c[3] === f.name);
      expect(deploys.length, f.name).toBeGreaterThan(0);
      for (const c of deploys) {
        expect(c).toContain('--trigger-http');
        expect(c).toContain('--gen2');
        expect(c).toContain(f.name === 'oauth' ? '--allow-unauthenticated' : '--no-allow-unauthenticated');
        expect(flag(c, 'service-account')).toMatch(new RegExp(`^dp-${f.name}@${PROJECT}\\.iam\\.gserviceaccount\\.com$`));
        expect(Number.parseInt(flag(c, 'timeout') ?? '', 10)).toBeLessThanOrEqual(f.trigger === 'topic' ? Math.min(540, f.ackDeadlineSeconds) : 3600);
      }
    }
    expect(deploy.filter((l) => l.includes('--allow-unauthenticated')).every((l) => / functions deploy oauth /.test(l))).toBe(true);
    expect(deploy.filter((l) => l.includes('allUsers')).every((l) => / oauth /.test(l))).toBe(true);
    for (const t of TOPICS) expect(deploy, t).toContain(`gcloud pubsub topics create ${t} --project=${PROJECT}`);
    for (const f of eventFunctions()) {
      const c = words.find((w) => w[1] === 'pubsub' && w[2] === 'subscriptions' && w[3] === 'create' && w[4] === `${f.name}-push`);
      expect(c, f.name).toBeDefined();
      if (!c) continue;
      expect(flag(c, 'topic')).toBe(f.topic);
      expect(flag(c, 'push-endpoint')).toMatch(/^https:\/\//);
      expect(flag(c, 'push-auth-service-account')).toBe(`dp-push@${PROJECT}.iam.gserviceaccount.com`);
      expect(flag(c, 'push-auth-token-audience')).toBe(flag(c, 'push-endpoint'));
      expect(flag(c, 'ack-deadline')).toBe(String(f.ackDeadlineSeconds));
      expect(flag(c, 'min-retry-delay')).toBe(`${RETRY_POLICY.minimumBackoffSeconds}s`);
      expect(flag(c, 'max-retry-delay')).toBe(`${RETRY_POLICY.maximumBackoffSeconds}s`);
      expect(flag(c, 'expiration-period')).toBe('never');
      if (f.deadLetter) {
        expect(flag(c, 'dead-letter-topic')).toBe(`projects/${PROJECT}/topics/dead-letter`);
        expect(flag(c, 'max-delivery-attempts')).toBe(String(f.maxDeliveryAttempts ?? MAX_DELIVERY_ATTEMPTS));
      }
    }
    const hold = words.find((w) => w[2] === 'subscriptions' && w[3] === 'create' && flag(w, 'topic') === 'dead-letter' && !flag(w, 'push-endpoint'));
    expect(hold && flag(hold, 'expiration-period')).toBe('never');
    for (const job of SCHEDULER_JOBS) {
      const c = words.find((w) => w[1] === 'scheduler' && w[3] === 'create' && w[4] === 'http' && w[5] === job.id);
      expect(c, job.id).toBeDefined();
      if (!c) continue;
      expect(flag(c, 'oidc-service-account-email')).toBe(`${job.oidc.serviceAccount}@${PROJECT}.iam.gserviceaccount.com`);
      expect(flag(c, 'uri')).toBe(`${flag(c, 'oidc-token-audience')}${job.target.route}`);
      expect(flag(c, 'schedule')).toBe(job.schedule);
    }
    const indexes = JSON.parse(readFileSync(join(ROOT, 'infra', 'deploy', 'firestore.indexes.json'), 'utf8')) as {
      indexes: { collectionGroup: string; fields: { fieldPath: string; order: string }[] }[];
    };
    for (const index of indexes.indexes) {
      const configs = index.fields.map((f) => `--field-config=field-path=${f.fieldPath},order=${f.order.toLowerCase()}`).join(' ');
      expect(deploy.some((l) => l.includes(`indexes composite create --collection-group=${index.collectionGroup} `) && l.includes(configs))).toBe(true);
    }
    const ttl = JSON.parse(readFileSync(join(ROOT, 'infra', 'deploy', 'firestore-ttl.json'), 'utf8')) as { policies: { collectionGroup: string; field: string }[] };
    for (const p of ttl.policies) expect(deploy.some((l) => l.includes(`fields ttls update ${p.field} --collection-group=${p.collectionGroup} --enable-ttl`))).toBe(true);
  });

  it('grants no project-level role beyond those the README table justifies', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const justified = new Set(
      readme
        .split('\n')
        .filter((l) => /^\|[^|]*\|\s*project\b/.test(l))
        .flatMap((l) => [...l.matchAll(/`(roles\/[A-Za-z.]+)`/g)].map((m) => m[1])),
    );
    const granted = deploy.map(shellWords).filter((c) => c[1] === 'projects' && c[2] === 'add-iam-policy-binding');
    expect(granted.length).toBeGreaterThan(0);
    for (const c of granted) expect(justified, c.join(' ')).toContain(c.find((w) => w.startsWith('--role='))?.slice(7));
  });
});
