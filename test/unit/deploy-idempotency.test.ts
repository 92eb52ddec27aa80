import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Deployer, type DeploySettings } from '../../infra/deploy/deploy.js';
import { CliGcloud } from '../../infra/deploy/gcloud.js';
import { FUNCTIONS, eventFunctions } from '../../infra/topology.js';
// @ts-expect-error: a plain JavaScript stand-in (also runnable as a `gcloud` binary), no types.
import { fakeGcloud } from '../fixtures/fake-gcloud.mjs';

/**
 * The deploy runner against a recorded stand-in for gcloud (test/fixtures/fake-gcloud.mjs, called
 * in-process here for speed; `GCLOUD=test/fixtures/fake-gcloud.mjs npm run deploy` uses it as a binary): it
 * answers describe/list from a state file and records every other command. An empty state gets
 * everything created; the resulting state gets nothing created or deleted; a changed setting
 * updates only its resource.
 */
const dir = mkdtempSync(join(tmpdir(), 'deploy-fake-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const secretFile = join(dir, 'secret.txt');
writeFileSync(secretFile, 'client-secret-1');

function settings(over: Partial<DeploySettings> = {}): DeploySettings {
  return {
    project: 'my-project-1',
    region: 'europe-west1',
    database: '(default)',
    firestoreLocation: 'europe-west1',
    bucket: undefined,
    archiveRetentionDays: 30,
    oauthClientSecretFile: secretFile,
    appServiceAccounts: undefined,
    env: { OAUTH_CLIENT_ID: 'client-1.apps.googleusercontent.com', RETURN_URL_ALLOWLIST: 'https://app.example.com/return,https://app.example.com/other' },
    notificationChannels: undefined,
    sourceHash: 'aaaa000011112222',
    sourceDir: join(dir, 'source'),
    ...over,
  };
}
writeFileSync(join(dir, 'lifecycle-30d.json'), JSON.stringify({ rule: [{ action: { type: 'Delete' }, condition: { age: 30 } }] }));
writeFileSync(join(dir, 'lifecycle-60d.json'), JSON.stringify({ rule: [{ action: { type: 'Delete' }, condition: { age: 60 } }] }));

async function deploy(s: DeploySettings, state: string): Promise<{ commands: string[][]; report: Awaited<ReturnType<Deployer['run']>> }> {
  const log = join(dir, `log-${Math.random()}`);
  writeFileSync(log, '');
  const env = { FAKE_GCLOUD_STATE: state, FAKE_GCLOUD_LOG: log };
  const exec = async (args: readonly string[]) => fakeGcloud([...args], env);
  const report = await new Deployer(new CliGcloud(() => undefined, exec, 1), s, () => undefined).run();
  const commands = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as string[]);
  return { commands, report };
}

const READ = /^(describe|list|get-iam-policy|access)$/;
const writes = (commands: string[][]) => commands.filter((c) => !c.some((w) => READ.test(w)) && !(c[0] === 'projects' && c[1] === 'describe'));
const isCreate = (c: string[]) => c.includes('create') || c.includes('deploy') || c.includes('enable') || (c.includes('versions') && c.includes('add'));
const isDelete = (c: string[]) => c.includes('delete') || c.some((w) => w.startsWith('remove-'));

describe('deploy idempotency (recorded fake gcloud)', () => {
  const state = join(dir, 'state.json');

  it('creates everything on an empty project, then changes nothing on a second run, then updates only what changed', async () => {
    const first = await deploy(settings(), state);
    const created = writes(first.commands);
    for (const f of FUNCTIONS) expect(created.some((c) => c[0] === 'functions' && c[1] === 'deploy' && c[2] === f.name)).toBe(true);
    // Each worker's push subscription, the dead-letter pull subscription and the application's export-events subscription.
    expect(created.filter((c) => c[0] === 'pubsub' && c[1] === 'subscriptions' && c[2] === 'create')).toHaveLength(eventFunctions().length + 2);
    expect(created.filter((c) => c[0] === 'scheduler' && c[3] === 'create')).toHaveLength(0);
    expect(created.filter((c) => c[0] === 'scheduler' && c[2] === 'create')).toHaveLength(3);
    expect(created.some(isDelete)).toBe(false);
    expect(first.report.created.length).toBeGreaterThan(50);

    const second = await deploy(settings(), state);
    const again = writes(second.commands);
    expect(again.filter(isCreate)).toEqual([]);
    expect(again.filter(isDelete)).toEqual([]);
    expect(again).toEqual([]);
    expect(second.report.created).toEqual([]);
    expect(second.report.updated).toEqual([]);

    // A changed setting: the lifecycle rule's age. Only the bucket is updated.
    const third = await deploy(settings({ archiveRetentionDays: 60 }), state);
    expect(writes(third.commands).map((c) => c.slice(0, 4))).toEqual([['storage', 'buckets', 'update', 'gs://my-project-1-dataportability-archives']]);
    expect(third.report.updated).toEqual(['bucket gs://my-project-1-dataportability-archives']);

    // New code: every function is redeployed, nothing else.
    const fourth = await deploy(settings({ archiveRetentionDays: 60, sourceHash: 'bbbb000011112222' }), state);
    expect(writes(fourth.commands).map((c) => `${c[0]} ${c[1]} ${c[2]}`)).toEqual(FUNCTIONS.map((f) => `functions deploy ${f.name}`));

    // A tuning variable: only the functions that read it (per functions/platform/config.ts) are redeployed; a second run is quiet again.
    const tuned = { archiveRetentionDays: 60, sourceHash: 'bbbb000011112222' };
    const fifth = await deploy(settings({ ...tuned, env: { SCHEDULE_BATCH_SIZE: '100' } }), state);
    expect(writes(fifth.commands).map((c) => `${c[0]} ${c[1]} ${c[2]}`)).toEqual(['functions deploy scheduler', 'functions deploy schedule']);
    expect(fifth.report.updated).toEqual(['function scheduler', 'function schedule']);
    const sixth = await deploy(settings({ ...tuned, env: {} }), state);
    expect(writes(sixth.commands)).toEqual([]);

    // The deploy settings of a function in infra/topology.ts are what it gets.
    const deployed = JSON.parse(readFileSync(state, 'utf8')) as { resources: Record<string, { serviceConfig: Record<string, unknown> }> };
    const transfer = deployed.resources['function/transfer']?.serviceConfig;
    expect(transfer?.['timeoutSeconds']).toBe(540);
    expect(transfer?.['serviceAccountEmail']).toBe('dp-transfer@my-project-1.iam.gserviceaccount.com');
    expect(Object.keys((deployed.resources['function/deadletter']?.serviceConfig['environmentVariables'] ?? {}) as object).sort()).toEqual([
      'APP_ENV',
      'GOOGLE_CLOUD_PROJECT',
      'LOG_EXECUTION_ID',
    ]);
  }, 120_000);
});
