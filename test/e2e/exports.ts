import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { crc32c } from '@node-rs/crc32';
import { storageOptions } from '../../functions/platform/clients.js';
import { prefixed } from '../../functions/platform/config.js';
import { notYet, waitUntil } from '../fixtures/wait.js';
import { connectViaAutomation, newConnectSession, type E2EStack, type SandboxCall } from './stack.js';

/**
 * Helpers of the export-pipeline end-to-end tests (scenarios 6–8): consents, export requests,
 * bounded waits, the bucket's objects, what the sandbox served, Pub/Sub duplicates and sweeps.
 */

/** A bundle as `GET /v1/bundles/{id}` (and the requests that create one) answer it. */
export interface BundleJson {
  name: string;
  subject?: string;
  state: string;
  format: string;
  object: string;
  bytes?: number;
  crc32c?: string;
  exports: string[];
  failedExports?: string[];
  detail?: string;
}

/** A bundle's `manifest.json`: each export (and its grant), each packed file with its size and CRC32C. */
export interface BundleManifestJson {
  bundle: string;
  subject?: string;
  format: string;
  exports: { export: string; grant?: string; resource?: string; state: string; files: { path: string; object: string; bytes: number; crc32c: string }[] }[];
  failedExports: string[];
}

/** An export of either grant kind, as the API lists it: a consent's or a tenant's. */
export type AnyExportJson = Omit<ExportJson, 'consent'> & { consent?: string; tenant?: string; source: string };

export const TERMINAL = new Set(['DELIVERED', 'EXHAUSTED', 'NOT_GRANTED', 'FAILED', 'CANCELLED', 'ABORTED']);

export interface ExportJson {
  name: string;
  consent: string;
  resource: string;
  state: string;
  upstreamJobId?: string;
  upstreamJobHistory: string[];
  files: { name: string; object: string; state: string; bytes?: number; crc32c?: string }[];
  manifest?: string;
  detail?: string;
  exportTime?: string;
}

export interface ConsentJson {
  name: string;
  state: string;
  appUserId: string;
}

export { prng } from '../fixtures/prng.js';

/** A user connects and grants `resources` one-time; returns `consents/{id}`. */
export async function oneTimeConsent(stack: E2EStack, appUserId: string, resources: string[]): Promise<string> {
  const session = await newConnectSession(stack, appUserId, resources);
  const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME', user: `${appUserId}@example.com` });
  const consent = flow.query['consent'];
  if (flow.query['outcome'] !== 'granted' || !consent) throw new Error(`consent for ${appUserId}: ${flow.location}`);
  return consent;
}

export async function requestExports(stack: E2EStack, body: Record<string, unknown>): Promise<ExportJson[]> {
  const res = await stack.api('/v1/exports', { body });
  if (res.status !== 200) throw new Error(`POST /v1/exports: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { exports: ExportJson[] }).exports;
}

export async function listExports(stack: E2EStack, consent: string): Promise<ExportJson[]> {
  const res = await stack.api(`/v1/exports?consent=${encodeURIComponent(consent)}&pageSize=100`);
  if (res.status !== 200) throw new Error(`GET /v1/exports: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { exports: ExportJson[] }).exports;
}

export async function getConsent(stack: E2EStack, consent: string): Promise<ConsentJson> {
  const res = await stack.api(`/v1/${consent}`);
  if (res.status !== 200) throw new Error(`GET /v1/${consent}: HTTP ${res.status}`);
  return (await res.json()) as ConsentJson;
}

/** Waits until the consent has `count` exports, all terminal. */
export async function waitTerminal(stack: E2EStack, consent: string, count: number, timeoutMs: number): Promise<ExportJson[]> {
  return waitUntil(
    async () => {
      const jobs = await listExports(stack, consent);
      return jobs.length === count && jobs.every((j) => TERMINAL.has(j.state)) ? jobs : notYet(jobs.map((j) => `${j.resource} ${j.state}`));
    },
    { what: `${count} terminal exports of ${consent}`, timeoutMs, intervalMs: 400 },
  );
}

/**
 * Waits until the consent is neither ACTIVE nor CLOSING: CLOSING is the moment between one worker
 * claiming the release and the grant being reset upstream, so it is never a final state.
 */
export async function waitConsentSettled(stack: E2EStack, consent: string, timeoutMs: number): Promise<ConsentJson> {
  return waitUntil(
    async () => {
      const c = await getConsent(stack, consent);
      return c.state === 'ACTIVE' || c.state === 'CLOSING' ? notYet(c.state) : c;
    },
    { what: `${consent} to settle (neither ACTIVE nor CLOSING)`, timeoutMs },
  );
}

export interface BucketObject {
  readonly name: string;
  readonly size: number;
  readonly crc32c: string;
}

export function storageOf(stack: E2EStack): Storage {
  return new Storage(storageOptions(stack.info.projectId, stack.info.services.sandbox.url));
}

/** Every object of the archive bucket under `prefix`. */
export async function bucketObjects(stack: E2EStack, prefix = ''): Promise<BucketObject[]> {
  const [files] = await storageOf(stack).bucket(stack.info.bucket).getFiles({ prefix, autoPaginate: true });
  return files.map((f) => ({ name: f.name, size: Number(f.metadata.size ?? -1), crc32c: String(f.metadata.crc32c ?? '') }));
}

/** Downloads an object and computes its size and CRC32C here (independent of the stored metadata). */
export async function downloadDigest(stack: E2EStack, object: string): Promise<{ size: number; crc32c: string }> {
  const [data] = await storageOf(stack).bucket(stack.info.bucket).file(object).download({ validation: false });
  return { size: data.length, crc32c: crc32cBase64(data) };
}

export function crc32cBase64(data: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32c(data) >>> 0);
  return out.toString('base64');
}

/**
 * What the sandbox served: every archive part it generated (its cache keeps `<key>.json` with the
 * size, CRC32C and MD5 of the exact bytes it streams for a signed URL).
 */
export function servedParts(stack: E2EStack): { size: number; crc32c: string; md5: string }[] {
  const dir = join(stack.dir, 'archive-cache');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => /^[0-9a-f]{40}\.json$/.test(n)).map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as { size: number; crc32c: string; md5: string });
}

/** Runs the poll sweep as Cloud Scheduler would (OIDC token of the scheduler identity). */
export async function sweep(stack: E2EStack): Promise<{ polls: number; starts: number; transfers: number }> {
  const token = await stack.callerToken(stack.info.scheduler.email, stack.info.scheduler.audience);
  const res = await fetch(`${stack.info.functions['scheduler']!.url}/ticks/poll-sweep`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'X-CloudScheduler': 'true' },
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status !== 200) throw new Error(`poll-sweep: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as { polls: number; starts: number; transfers: number };
}

export type WorkerTopic = 'export-requested' | 'job-poll' | 'archive-transfer';

/** Publishes one message on one of the stack's topics; returns its message id. */
export async function publish(stack: E2EStack, topic: WorkerTopic, payload: unknown): Promise<string> {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload));
  return stack.pubsub.topic(stack.info.topics[topic]).publishMessage({ data });
}

export const jobIdOf = (name: string) => name.slice('exports/'.length);

/** The archive GETs of the sandbox's signed URLs in a call log. */
export const archiveGets = (calls: readonly SandboxCall[]) => calls.filter((c) => c.method === 'GET' && c.path.startsWith('/dataportability-sandbox-archives/'));

export const callsTo = (calls: readonly SandboxCall[], method: string, pattern: RegExp) => calls.filter((c) => c.method === method && pattern.test(c.path));

export interface UndeliverableDoc {
  id: string;
  kind: string;
  source: string;
  messageId: string;
  errorCode: string | null;
  violations: { field: string; description: string }[];
}

export async function undeliverable(stack: E2EStack): Promise<UndeliverableDoc[]> {
  const snap = await stack.firestore.collection(prefixed(stack.info, 'undeliverable')).get();
  return snap.docs.map((d) => ({ id: d.id, ...(d.data() as Omit<UndeliverableDoc, 'id'>) }));
}

/** The raw job record (leases, attempts, checkpoints): what the API does not show. */
export interface JobDoc {
  state: string;
  files: {
    index: number;
    object: string;
    state: string;
    attempts: number;
    lease: { owner: string; until: { toMillis(): number } } | null;
    checkpoint: { marks: { offset: number }[] } | null;
  }[];
  retries: number;
}

export async function jobDoc(stack: E2EStack, id: string): Promise<JobDoc | undefined> {
  const snap = await stack.firestore.collection(prefixed(stack.info, 'jobs')).doc(id).get();
  return snap.exists ? (snap.data() as JobDoc) : undefined;
}

/**
 * Checks the delivered objects of one consent's jobs against the bucket and the sandbox: exactly
 * the job files plus one manifest per delivered job, each file byte-identical (size and CRC32C,
 * recomputed from a download) to a part the sandbox served. Returns a list of violations.
 */
export async function deliveryViolations(stack: E2EStack, consent: string, jobs: readonly ExportJson[]): Promise<string[]> {
  const problems: string[] = [];
  const consentId = consent.slice('consents/'.length);
  const objects = (await bucketObjects(stack)).filter((o) => o.name.split('/')[1] === consentId);
  const served = servedParts(stack);
  const expected = new Set<string>();
  for (const job of jobs) {
    if (job.state !== 'DELIVERED') continue;
    if (!job.manifest) problems.push(`${job.name}: delivered without a manifest`);
    else expected.add(job.manifest);
    for (const f of job.files) {
      expected.add(f.object);
      const stored = objects.filter((o) => o.name === f.object);
      if (stored.length !== 1) {
        problems.push(`${job.name} ${f.name}: ${stored.length} objects`);
        continue;
      }
      const digest = await downloadDigest(stack, f.object);
      if (digest.size !== f.bytes || digest.crc32c !== f.crc32c) problems.push(`${job.name} ${f.name}: record ${f.bytes}/${f.crc32c} vs bucket ${digest.size}/${digest.crc32c}`);
      if (!served.some((p) => p.size === digest.size && p.crc32c === digest.crc32c))
        problems.push(`${job.name} ${f.name}: ${digest.size} bytes / ${digest.crc32c} match no part the sandbox served`);
    }
    if (job.manifest) {
      const [text] = await storageOf(stack).bucket(stack.info.bucket).file(job.manifest).download();
      const manifest = JSON.parse(text.toString('utf8')) as { files: { object: string; bytes: number; crc32c: string }[] };
      const listed = manifest.files.map((f) => `${f.object}:${f.bytes}:${f.crc32c}`).sort();
      const recorded = job.files.map((f) => `${f.object}:${f.bytes}:${f.crc32c}`).sort();
      if (JSON.stringify(listed) !== JSON.stringify(recorded)) problems.push(`${job.name}: manifest ${JSON.stringify(listed)} vs job ${JSON.stringify(recorded)}`);
    }
  }
  for (const o of objects) if (!expected.has(o.name)) problems.push(`unexpected object ${o.name}`);
  return problems;
}

const HAS_UNZIP = spawnSync('unzip', ['-v']).status === 0;

/**
 * Opens a bundle with the standard tools and extracts it into `out`: `tar -tzf` / `tar -xzf`, or
 * `unzip -t` (which must find no errors), `unzip -Z1` and `unzip -q`. Returns the archive's listing
 * in order; undefined for a zip where `unzip` is not installed (the caller checks what it can).
 */
export function openBundleFile(file: string, format: string, out: string): string[] | undefined {
  mkdirSync(out, { recursive: true });
  if (format === 'tar.gz') {
    const listed = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n');
    execFileSync('tar', ['-xzf', file, '-C', out]);
    return listed;
  }
  if (!HAS_UNZIP) {
    console.info('unzip is not installed: the zip bundle is not opened with a standard tool here');
    return undefined;
  }
  const tested = execFileSync('unzip', ['-t', file], { encoding: 'utf8' });
  if (!/No errors detected/.test(tested)) throw new Error(`unzip -t ${file} found errors:\n${tested}`);
  const listed = execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' }).trim().split('\n');
  execFileSync('unzip', ['-q', file, '-d', out]);
  return listed;
}
