import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import { pubsubOptions } from '../../functions/platform/clients.js';
import { prefixed } from '../../functions/platform/config.js';
import { FUNCTIONS } from '../topology.js';
import { startEmulators, type Emulators } from './emulators.js';
import { serveFunction, type ServedFunction } from './functions.js';
import { provisionTopology, type ProvisionedTopology, type RetrySettings } from './pubsub-topology.js';

/** What runs where; written to `.local/stack.json` (fields documented in the README). */
export interface StackInfo {
  readonly projectId: string;
  readonly resourcePrefix: string;
  readonly functions: Readonly<Record<string, { readonly url: string; readonly pid: number }>>;
  readonly services: {
    readonly firestore: { readonly host: string };
    readonly pubsub: { readonly host: string };
  };
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
}

export const LOCAL_RETRY: RetrySettings = { minimumBackoffSeconds: 1, maximumBackoffSeconds: 10, maxDeliveryAttempts: 5 };

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
    const env: Record<string, string> = {
      GOOGLE_CLOUD_PROJECT: projectId,
      APP_ENV: 'development',
      LOG_FORMAT: 'pretty',
      LOG_LEVEL: 'debug',
      RESOURCE_PREFIX: resourcePrefix,
      FIRESTORE_EMULATOR_HOST: emulators.firestoreHost,
      PUBSUB_EMULATOR_HOST: emulators.pubsubHost,
    };
    const served = await Promise.all(
      FUNCTIONS.map((spec) => serveFunction(spec, { ...process.env, ...env }, logDir)),
    );
    stops.push(async () => {
      await Promise.all(served.map((f) => f.process.stop()));
    });
    processes.push(...served.map((f) => ({ name: f.process.name, pid: f.process.pid })));
    const byName = new Map<string, ServedFunction>(served.map((f) => [f.name, f]));
    const pubsub = new PubSub(pubsubOptions(projectId, emulators.pubsubHost));
    const topology = await provisionTopology(pubsub, {
      projectId,
      physicalName: (name) => prefixed({ resourcePrefix }, name),
      functionUrl: (name) => byName.get(name)?.url ?? '',
      retry: options.retry ?? LOCAL_RETRY,
    }).finally(() => pubsub.close());
    const info: StackInfo = {
      projectId,
      resourcePrefix,
      functions: Object.fromEntries(served.map((f) => [f.name, { url: f.url, pid: f.process.pid }])),
      services: { firestore: { host: emulators.firestoreHost }, pubsub: { host: emulators.pubsubHost } },
      topics: topology.topics,
      subscriptions: topology.subscriptions,
      env: { GOOGLE_CLOUD_PROJECT: projectId, FIRESTORE_EMULATOR_HOST: emulators.firestoreHost, PUBSUB_EMULATOR_HOST: emulators.pubsubHost },
      logDir,
      processes,
    };
    writeFileSync(join(options.dir, 'stack.json'), JSON.stringify(info, null, 2) + '\n');
    return { info, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
