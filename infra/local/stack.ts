import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import { pubsubOptions } from '../../functions/platform/clients.js';
import { prefixed } from '../../functions/platform/config.js';
import { FUNCTIONS } from '../topology.js';
import { localSchedulerClient, upsertSchedulerJobs } from '../deploy/scheduler-jobs.js';
import { SCHEDULER_JOBS } from '../scheduler-jobs.js';
import { startSandbox, type SandboxConfig } from '../sandbox/server.js';
import { cronEvery } from '../sandbox/scheduler/schedule.js';
import { startConsoleProxy } from './console-proxy.js';
import { startEmulators, type Emulators } from './emulators.js';
import { serveFunction, type ServedFunction } from './functions.js';
import { freePort } from './processes.js';
import { provisionTopology, type ProvisionedTopology, type RetrySettings } from './pubsub-topology.js';
import { startReturnPage } from './return-page.js';

/** What runs where; written to `.local/stack.json` (fields documented in the README). */
export interface StackInfo {
  readonly projectId: string;
  readonly resourcePrefix: string;
  readonly functions: Readonly<Record<string, { readonly url: string; readonly pid: number }>>;
  readonly services: {
    readonly firestore: { readonly host: string };
    readonly pubsub: { readonly host: string };
    /** The Google sandbox: OAuth, Data Portability API, signed archive URLs, OIDC issuer. */
    readonly sandbox: { readonly url: string };
  };
  /** The caller the api function accepts locally: mint its ID token with the sandbox's `POST /sandbox/v1/idTokens`. */
  readonly caller: { readonly email: string; readonly audience: string };
  /** Allowed `returnUrl`s for connect sessions (a local page that shows the outcome; the console's return page). */
  readonly returnUrls: readonly string[];
  /**
   * The web console, through its local proxy (which adds the allowed caller's ID token, as
   * `gcloud run services proxy` does in production): `url` is the page to open.
   */
  readonly console: { readonly url: string; readonly proxy: string };
  /** The archive bucket (in the sandbox's Cloud Storage). */
  readonly bucket: string;
  /**
   * The local Cloud Scheduler (the sandbox's, at `endpoint`, jobs under `parent`) and the identity
   * its jobs' OIDC tokens carry when they call the scheduler function (Cloud Scheduler's service
   * account, in production). `jobs`: the provisioned job names (none when `sweepIntervalMs` is 0).
   */
  readonly scheduler: {
    readonly email: string;
    readonly audience: string;
    readonly sweepIntervalMs: number;
    readonly endpoint: string;
    readonly parent: string;
    readonly jobs: readonly string[];
  };
  /** The OAuth client registered with the sandbox. */
  readonly oauthClient: { readonly clientId: string; readonly redirectUri: string };
  readonly topics: ProvisionedTopology['topics'];
  readonly subscriptions: ProvisionedTopology['subscriptions'];
  /** Environment a script needs to reach the same emulators with the client libraries. */
  readonly env: Readonly<Record<string, string>>;
  readonly logDir: string;
  /** Process groups the launcher started (each stopped as a group). */
  readonly processes: readonly { readonly name: string; readonly pid: number }[];
}

export interface Stack {
  readonly info: StackInfo;
  stop(): Promise<void>;
  /**
   * Stops one served function's process group (default SIGTERM; SIGKILL simulates a crash) and
   * serves it again on the same port with the same environment, as a new instance would come up.
   * `info.functions[name].pid` and `info.processes` follow the new process. `downMs` keeps it
   * down that long first (pushes to it fail meanwhile, as to a crashed instance).
   */
  restartFunction(name: string, options?: { readonly signal?: NodeJS.Signals; readonly downMs?: number }): Promise<{ readonly pid: number }>;
}

export interface StackOptions {
  /** Folder for logs and stack.json (default `.local` in the repository). */
  readonly dir: string;
  readonly projectId?: string;
  readonly resourcePrefix?: string;
  /** Local default: fast redelivery so failures show within seconds. */
  readonly retry?: RetrySettings;
  /** Already running emulators to use (the test harness shares one pair per run). */
  readonly emulators?: Pick<Emulators, 'firestoreHost' | 'pubsubHost'>;
  /** Sandbox settings at start (job duration, archive size, token lifetime…). */
  readonly sandboxConfig?: Partial<SandboxConfig>;
  /** `json` to read function logs by machine (tests scan them for secrets). */
  readonly logFormat?: 'json' | 'pretty';
  /**
   * How often the local Cloud Scheduler runs the poll sweep (production: every minute); 0 = no job.
   * Becomes a cron (`*\/5 * * * * *` for 5 s: the sandbox's seconds extension, switched on here).
   */
  readonly sweepIntervalMs?: number;
  /**
   * How often the local Cloud Scheduler runs the exports tick and the expiry tick (production:
   * every 5 and 15 minutes); 0 or absent = no such jobs (tests that do not follow schedules keep
   * time-based consents to themselves).
   */
  readonly tickIntervalMs?: number;
  /** Extra environment for the functions (e.g. a small TRANSFER_CHUNK_BYTES in tests). */
  readonly functionEnv?: Readonly<Record<string, string>>;
  /**
   * Fixed secrets instead of fresh random ones (tests that drive core classes against the stack
   * need the OAuth client secret and the local token key). Default: random per start.
   */
  readonly secrets?: { readonly oauthClientSecret?: string; readonly localTokenKey?: string };
}

export const LOCAL_RETRY: RetrySettings = { minimumBackoffSeconds: 1, maximumBackoffSeconds: 10, maxDeliveryAttempts: 5 };

/** Cloud Scheduler location of the local jobs. */
export const LOCAL_SCHEDULER_LOCATION = 'local';

export async function startStack(options: StackOptions): Promise<Stack> {
  const projectId = options.projectId ?? 'demo-dataportability';
  const resourcePrefix = options.resourcePrefix ?? '';
  const logDir = join(options.dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const processes: { name: string; pid: number }[] = [];
    let emulators = options.emulators;
    if (!emulators) {
      const own = await startEmulators({ projectId, logDir });
      stops.push(own.stop);
      processes.push(...own.processes.map((p) => ({ name: p.name, pid: p.pid })));
      emulators = own;
    }
    // The seconds extension of the sandbox's Cloud Scheduler lets the sweep run every few seconds.
    const sandbox = await startSandbox({ port: 0, cacheDir: join(options.dir, 'archive-cache'), config: { schedulerSecondsSchedules: true, ...options.sandboxConfig } });
    stops.push(() => sandbox.close());
    const returnPage = await startReturnPage();
    stops.push(() => returnPage.close());

    const ports = new Map<string, number>();
    for (const spec of FUNCTIONS) ports.set(spec.name, await freePort());
    // CONSOLE_PORT fixes the console proxy's port (default: a free one).
    const consolePort = Number(process.env['CONSOLE_PORT'] ?? 0) || (await freePort());
    const consoleReturnUrl = `http://127.0.0.1:${consolePort}/console/connected`;
    const urlOf = (name: string) => `http://127.0.0.1:${ports.get(name) ?? 0}`;
    const oauthClient = {
      clientId: 'local-pipeline.apps.googleusercontent.com',
      clientSecret: options.secrets?.oauthClientSecret ?? randomBytes(24).toString('base64url'),
      redirectUri: `${urlOf('oauth')}/oauth2/callback`,
    };
    const registered = await fetch(`${sandbox.baseUrl}/sandbox/v1/clients`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ clientId: oauthClient.clientId, clientSecret: oauthClient.clientSecret, redirectUris: [oauthClient.redirectUri] }),
    });
    if (!registered.ok) throw new Error(`the sandbox refused the OAuth client: ${registered.status} ${await registered.text()}`);
    const caller = { email: `local-app@${projectId}.iam.gserviceaccount.com`, audience: urlOf('api') };
    const sweepIntervalMs = options.sweepIntervalMs ?? 5_000;
    const schedulerCaller = { email: `local-scheduler@${projectId}.iam.gserviceaccount.com`, audience: urlOf('scheduler'), sweepIntervalMs };
    const schedulerParent = `projects/${projectId}/locations/${LOCAL_SCHEDULER_LOCATION}`;
    const bucket = `${projectId}-archives`;
    const created = await fetch(`${sandbox.baseUrl}/storage/v1/b?project=${projectId}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: bucket }),
    });
    if (!created.ok && created.status !== 409) throw new Error(`the sandbox refused the bucket: ${created.status} ${await created.text()}`);

    const env: Record<string, string> = {
      GOOGLE_CLOUD_PROJECT: projectId,
      APP_ENV: 'development',
      LOG_FORMAT: options.logFormat ?? 'pretty',
      LOG_LEVEL: 'debug',
      RESOURCE_PREFIX: resourcePrefix,
      FIRESTORE_EMULATOR_HOST: emulators.firestoreHost,
      PUBSUB_EMULATOR_HOST: emulators.pubsubHost,
      OAUTH_CLIENT_ID: oauthClient.clientId,
      OAUTH_CLIENT_SECRET: oauthClient.clientSecret,
      OAUTH_PUBLIC_URL: urlOf('oauth'),
      GOOGLE_ACCOUNTS_URL: sandbox.baseUrl,
      GOOGLE_OAUTH2_URL: sandbox.baseUrl,
      PORTABILITY_API_URL: sandbox.baseUrl,
      // Mews tenants may be registered with the sandbox's Mews as platform address (`{base}/mews`).
      MEWS_PLATFORM_ALLOWLIST: `${sandbox.baseUrl}/mews`,
      RETURN_URL_ALLOWLIST: `${returnPage.url},${consoleReturnUrl}`,
      API_AUDIENCE: caller.audience,
      API_ALLOWED_CALLERS: caller.email,
      ID_TOKEN_ISSUERS: sandbox.baseUrl,
      ID_TOKEN_CERTS_URL: `${sandbox.baseUrl}/oauth2/v1/certs`,
      TOKEN_KEY_PROVIDER: 'local',
      LOCAL_TOKEN_KEY: options.secrets?.localTokenKey ?? randomBytes(32).toString('base64'),
      ARCHIVE_BUCKET: bucket,
      STORAGE_EMULATOR_HOST: sandbox.baseUrl,
      // One clock: the functions follow the sandbox's (clock:advance moves both).
      SANDBOX_CLOCK_URL: `${sandbox.baseUrl}/sandbox/v1/clock`,
      SCHEDULER_AUDIENCE: schedulerCaller.audience,
      SCHEDULER_ALLOWED_CALLERS: schedulerCaller.email,
      ...options.functionEnv,
    };
    const served = await Promise.all(FUNCTIONS.map((spec) => serveFunction(spec, { ...process.env, ...env }, logDir, ports.get(spec.name) ?? 0)));
    // Restarts replace entries of `served` (stop() stops whatever runs now).
    stops.push(async () => {
      await Promise.all(served.map((f) => f.process.stop()));
    });
    processes.push(...served.map((f) => ({ name: f.process.name, pid: f.process.pid })));
    const byName = new Map<string, ServedFunction>(served.map((f) => [f.name, f]));
    // The ticks as production runs them: Cloud Scheduler jobs, provisioned by the deploy code,
    // fired by the sandbox's Cloud Scheduler with an OIDC token, on the sandbox's clock.
    const tickIntervalMs = options.tickIntervalMs ?? 0;
    const schedulerJobs = SCHEDULER_JOBS.filter((j) => (j.id === 'poll-sweep' ? sweepIntervalMs > 0 : tickIntervalMs > 0));
    const schedulerClient = localSchedulerClient(sandbox.baseUrl);
    const provisioned = await upsertSchedulerJobs(
      schedulerClient,
      {
        projectId,
        location: LOCAL_SCHEDULER_LOCATION,
        functionUrl: (name) => urlOf(name),
        serviceAccountEmail: () => schedulerCaller.email,
        schedules: {
          ...(sweepIntervalMs > 0 ? { 'poll-sweep': cronEvery(sweepIntervalMs) } : {}),
          ...(tickIntervalMs > 0 ? { 'exports-tick': cronEvery(tickIntervalMs), 'expiry-tick': cronEvery(tickIntervalMs) } : {}),
        },
      },
      schedulerJobs,
      (line) => appendFileSync(join(logDir, 'scheduler-jobs.log'), `${new Date().toISOString()} ${line}\n`),
    ).finally(() => schedulerClient.close());
    const pubsub = new PubSub(pubsubOptions(projectId, emulators.pubsubHost));
    const topology = await provisionTopology(pubsub, {
      projectId,
      physicalName: (name) => prefixed({ resourcePrefix }, name),
      functionUrl: (name) => byName.get(name)?.url ?? '',
      retry: options.retry ?? LOCAL_RETRY,
    }).finally(() => pubsub.close());
    const consoleProxy = await startConsoleProxy({
      port: consolePort,
      target: urlOf('api'),
      mintToken: async () => {
        const minted = await fetch(`${sandbox.baseUrl}/sandbox/v1/idTokens`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ audience: caller.audience, email: caller.email }),
        });
        if (!minted.ok) throw new Error(`HTTP ${minted.status}`);
        // Sandbox ID tokens live an hour (real time).
        return { token: ((await minted.json()) as { idToken: string }).idToken, expiresAt: Date.now() + 3_600_000 };
      },
    });
    stops.push(() => consoleProxy.close());
    const functionsInfo: Record<string, { url: string; pid: number }> = Object.fromEntries(served.map((f) => [f.name, { url: f.url, pid: f.process.pid }]));
    const info: StackInfo = {
      projectId,
      resourcePrefix,
      functions: functionsInfo,
      services: { firestore: { host: emulators.firestoreHost }, pubsub: { host: emulators.pubsubHost }, sandbox: { url: sandbox.baseUrl } },
      caller,
      returnUrls: [returnPage.url, consoleReturnUrl],
      console: { url: `${consoleProxy.url}/console/`, proxy: consoleProxy.url },
      bucket,
      scheduler: { ...schedulerCaller, endpoint: sandbox.baseUrl, parent: schedulerParent, jobs: provisioned.map((p) => p.name) },
      oauthClient: { clientId: oauthClient.clientId, redirectUri: oauthClient.redirectUri },
      topics: topology.topics,
      subscriptions: topology.subscriptions,
      env: { GOOGLE_CLOUD_PROJECT: projectId, FIRESTORE_EMULATOR_HOST: emulators.firestoreHost, PUBSUB_EMULATOR_HOST: emulators.pubsubHost },
      logDir,
      processes,
    };
    writeFileSync(join(options.dir, 'stack.json'), JSON.stringify(info, null, 2) + '\n');
    let restarting = Promise.resolve();
    const restartFunction = (name: string, restartOptions: { readonly signal?: NodeJS.Signals; readonly downMs?: number } = {}) => {
      // One restart at a time, so two callers never serve the same port twice.
      const run = restarting.then(async () => {
        const index = served.findIndex((f) => f.name === name);
        const spec = FUNCTIONS.find((f) => f.name === name);
        const old = served[index];
        if (!spec || !old) throw new Error(`restartFunction: no served function named ${name}`);
        await old.process.kill(restartOptions.signal ?? 'SIGTERM');
        if (restartOptions.downMs) await new Promise((r) => setTimeout(r, restartOptions.downMs));
        const fresh = await serveFunction(spec, { ...process.env, ...env }, logDir, ports.get(name) ?? 0);
        served[index] = fresh;
        functionsInfo[name] = { url: fresh.url, pid: fresh.process.pid };
        const entry = processes.findIndex((p) => p.pid === old.process.pid);
        if (entry >= 0) processes[entry] = { name: fresh.process.name, pid: fresh.process.pid };
        writeFileSync(join(options.dir, 'stack.json'), JSON.stringify(info, null, 2) + '\n');
        return { pid: fresh.process.pid };
      });
      restarting = run.then(
        () => undefined,
        () => undefined,
      );
      return run;
    };
    return { info, stop, restartFunction };
  } catch (error) {
    await stop();
    throw error;
  }
}
