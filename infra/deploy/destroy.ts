/**
 * Removes what deploy made, in reverse dependency order, each only if it exists (running it twice
 * is harmless). Kept: the KMS key ring and key (a deleted key's name can never be used again, and
 * it still opens the data keys of stored tokens), the Firestore database (it may be shared, and
 * deleting it cannot be undone) and the archive bucket's objects (the bucket itself is deleted
 * only when empty).
 */
import { TOPICS } from '../../functions/core/ports/work-queue.js';
import { SCHEDULER_JOBS } from '../scheduler-jobs.js';
import { FUNCTIONS, eventFunctions } from '../topology.js';
import type { Gcloud } from './gcloud.js';
import { pushSubscription } from './monitoring.js';
import { APP_EVENTS_SUBSCRIPTION, CRYPTO_KEY, DEAD_LETTER_HOLD, KEY_RING, LOG_METRIC, OAUTH_SECRET, POLICY_PREFIX, emailOf, serviceAccounts } from './resources.js';

export interface DestroySettings {
  readonly project: string;
  readonly region: string;
  readonly database: string;
  readonly bucket: string | undefined;
}

type Json = Record<string, unknown>;

export class Destroyer {
  private deleted = 0;
  private readonly p: string;

  constructor(
    private readonly gcloud: Gcloud,
    private readonly s: DestroySettings,
    private readonly info: (line: string) => void,
  ) {
    this.p = `--project=${s.project}`;
  }

  /** Deletes `what` when `describe` finds it. */
  private async remove(what: string, describe: string[], del: string[]): Promise<void> {
    if ((await this.gcloud.read([...describe, this.p, '--format=value(name)'])) === undefined) return;
    await this.gcloud.write([...del, this.p, '--quiet']);
    this.deleted++;
    this.info(`${what}: deleted`);
  }

  async run(): Promise<number> {
    const r = `--region=${this.s.region}`;
    const loc = `--location=${this.s.region}`;
    const policies = (await this.gcloud.read(['alpha', 'monitoring', 'policies', 'list', this.p, '--format=json'], { dryRun: '[]' })) ?? '[]';
    for (const p of JSON.parse(policies.trim() || '[]') as Json[]) {
      if (!String(p['displayName'] ?? '').startsWith(POLICY_PREFIX)) continue;
      await this.gcloud.write(['alpha', 'monitoring', 'policies', 'delete', String(p['name']), this.p, '--quiet']);
      this.deleted++;
    }
    await this.remove(`log metric ${LOG_METRIC}`, ['logging', 'metrics', 'describe', LOG_METRIC], ['logging', 'metrics', 'delete', LOG_METRIC]);
    for (const job of SCHEDULER_JOBS) await this.remove(`scheduler job ${job.id}`, ['scheduler', 'jobs', 'describe', job.id, loc], ['scheduler', 'jobs', 'delete', job.id, loc]);
    for (const sub of [...eventFunctions().map((f) => pushSubscription(f.name)), DEAD_LETTER_HOLD, APP_EVENTS_SUBSCRIPTION])
      await this.remove(`subscription ${sub}`, ['pubsub', 'subscriptions', 'describe', sub], ['pubsub', 'subscriptions', 'delete', sub]);
    for (const f of FUNCTIONS) await this.remove(`function ${f.name}`, ['functions', 'describe', f.name, '--gen2', r], ['functions', 'delete', f.name, '--gen2', r]);
    for (const t of TOPICS) await this.remove(`topic ${t}`, ['pubsub', 'topics', 'describe', t], ['pubsub', 'topics', 'delete', t]);
    await this.remove(`secret ${OAUTH_SECRET}`, ['secrets', 'describe', OAUTH_SECRET], ['secrets', 'delete', OAUTH_SECRET]);
    await this.projectBindings();
    await this.keyBindings();
    await this.bucket();
    const indexes = (await this.gcloud.read(['firestore', 'indexes', 'composite', 'list', `--database=${this.s.database}`, this.p, '--format=value(name)'], { dryRun: '' })) ?? '';
    const wanted = new Set(['jobs', 'consents']);
    for (const name of indexes.split(/\s+/).filter(Boolean)) {
      const parts = name.split('/');
      if (!wanted.has(parts[5] ?? '')) continue;
      await this.gcloud.write(['firestore', 'indexes', 'composite', 'delete', parts.pop() ?? name, `--database=${this.s.database}`, this.p, '--quiet']);
      this.deleted++;
    }
    for (const sa of serviceAccounts()) {
      const email = emailOf(sa.id, this.s.project);
      await this.remove(`service account ${sa.id}`, ['iam', 'service-accounts', 'describe', email], ['iam', 'service-accounts', 'delete', email]);
    }
    this.info(`kept: KMS key ${KEY_RING}/${CRYPTO_KEY} (never deleted), Firestore database ${this.s.database} and its data, the archive bucket's objects`);
    return this.deleted;
  }

  private ourMember(member: string): boolean {
    return serviceAccounts().some((sa) => member === `serviceAccount:${emailOf(sa.id, this.s.project)}`);
  }

  /** The project-level Firestore grants of our accounts (with their condition). */
  private async projectBindings(): Promise<void> {
    const policy = JSON.parse((await this.gcloud.read(['projects', 'get-iam-policy', this.s.project, '--format=json'], { dryRun: '{}' }))?.trim() || '{}') as Json;
    for (const b of (policy['bindings'] ?? []) as Json[]) {
      const c = b['condition'] as { title: string; expression: string } | undefined;
      for (const m of ((b['members'] ?? []) as string[]).filter((x) => this.ourMember(x))) {
        await this.gcloud.write([
          'projects',
          'remove-iam-policy-binding',
          this.s.project,
          `--member=${m}`,
          `--role=${String(b['role'])}`,
          c ? `--condition=expression=${c.expression},title=${c.title}` : '--condition=None',
        ]);
        this.deleted++;
      }
    }
  }

  /** The key stays; our accounts' grants on it go. */
  private async keyBindings(): Promise<void> {
    const key = [CRYPTO_KEY, `--keyring=${KEY_RING}`, `--location=${this.s.region}`];
    const policy = JSON.parse((await this.gcloud.read(['kms', 'keys', 'get-iam-policy', ...key, this.p, '--format=json'], { dryRun: '{}' }))?.trim() || '{}') as Json;
    for (const b of (policy['bindings'] ?? []) as Json[]) {
      for (const m of ((b['members'] ?? []) as string[]).filter((x) => this.ourMember(x))) {
        await this.gcloud.write(['kms', 'keys', 'remove-iam-policy-binding', ...key, `--member=${m}`, `--role=${String(b['role'])}`, this.p]);
        this.deleted++;
      }
    }
  }

  /** Deleted only when empty: archives are the application's data. */
  private async bucket(): Promise<void> {
    const url = `gs://${this.s.bucket ?? `${this.s.project}-dataportability-archives`}`;
    if ((await this.gcloud.read(['storage', 'buckets', 'describe', url, this.p, '--format=value(name)'])) === undefined) return;
    const deleted = await this.gcloud.write(['storage', 'buckets', 'delete', url, this.p, '--quiet'], { refusal: /not empty|409|BucketNotEmpty/i });
    if (deleted) {
      this.deleted++;
      this.info(`bucket ${url}: deleted (it was empty)`);
    } else this.info(`bucket ${url}: kept, it holds archives (delete them yourself if you mean to)`);
  }
}
