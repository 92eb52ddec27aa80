import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { FirestoreRecordStore } from '../adapters/firestore-record-store.js';
import { PubSubWorkQueue } from '../adapters/pubsub-work-queue.js';
import { systemClock, type Clock } from '../core/ports/clock.js';
import type { RecordStore } from '../core/ports/record-store.js';
import type { WorkQueue } from '../core/ports/work-queue.js';
import type { UndeliverableDeps, UndeliverableMessage } from '../core/undeliverable.js';
import { firestoreOptions, pubsubOptions } from './clients.js';
import { parseConfig, prefixed, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';

/** Logical collection names; the physical name carries the deployment's prefix. */
export const COLLECTIONS = ['undeliverable'] as const;
export type Collection = (typeof COLLECTIONS)[number];

/** Ports a test may replace with fakes; anything not given is built from the SDKs. */
export interface PortOverrides {
  readonly clock?: Clock;
  readonly queue?: WorkQueue;
  readonly store?: <T>(collection: Collection) => RecordStore<T>;
}

/**
 * The composition root: configuration parsed once, one logger, and SDK clients built once per
 * instance, lazily (a function that never publishes never loads a Pub/Sub channel).
 */
export class Runtime {
  readonly clock: Clock;
  private firestoreClient: Firestore | undefined;
  private pubsubClient: PubSub | undefined;
  private queueInstance: WorkQueue | undefined;
  private readonly stores = new Map<Collection, RecordStore<unknown>>();

  constructor(
    readonly config: Config,
    readonly logger: Logger,
    private readonly overrides: PortOverrides = {},
  ) {
    this.clock = overrides.clock ?? systemClock;
  }

  firestore(): Firestore {
    const { projectId, firestore } = this.config;
    this.firestoreClient ??= new Firestore(firestoreOptions(projectId, firestore.databaseId, firestore.emulatorHost));
    return this.firestoreClient;
  }

  pubsub(): PubSub {
    this.pubsubClient ??= new PubSub(pubsubOptions(this.config.projectId, this.config.pubsub.emulatorHost));
    return this.pubsubClient;
  }

  queue(): WorkQueue {
    this.queueInstance ??= this.overrides.queue ?? new PubSubWorkQueue(this.pubsub(), (t) => prefixed(this.config, t));
    return this.queueInstance;
  }

  store<T>(collection: Collection): RecordStore<T> {
    let store = this.stores.get(collection);
    if (!store) {
      store = this.overrides.store
        ? this.overrides.store<unknown>(collection)
        : new FirestoreRecordStore<unknown>(this.firestore(), prefixed(this.config, collection));
      this.stores.set(collection, store);
    }
    return store as RecordStore<T>;
  }

  undeliverableDeps(): UndeliverableDeps {
    return { undeliverable: this.store<UndeliverableMessage>('undeliverable'), clock: this.clock };
  }

  async close(): Promise<void> {
    await Promise.all([this.firestoreClient?.terminate(), this.pubsubClient?.close()]);
  }
}

/** Builds the runtime from an environment; a bad configuration throws ConfigError naming the variable. */
export function createRuntime(env: Readonly<Record<string, string | undefined>>, overrides?: PortOverrides): Runtime {
  const config = parseConfig(env);
  return new Runtime(config, createLogger(config), overrides);
}
