import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import type * as FirestoreLibrary from '@google-cloud/firestore';
import { createRequire } from 'node:module';
import { GcsArchiveReader } from '../adapters/gcs-archive-reader.js';
import { GcsArchiveStore } from '../adapters/gcs-archive-store.js';
import type { ArchiveReader } from '../core/ports/archive-reader.js';
import { SandboxClock } from '../adapters/sandbox-clock.js';
import { GoogleExportSource } from '../adapters/google-export-source.js';
import { HttpArchiveDownloader } from '../adapters/http-archive-downloader.js';
import { NodeRsCrc32c } from '../adapters/node-rs-crc32c.js';
import { TarStreamBundlePacker } from '../adapters/tar-stream-bundle-packer.js';
import { YazlBundlePacker } from '../adapters/yazl-bundle-packer.js';
import type { Bundle, BundleMember } from '../core/bundles/model.js';
import type { ExportDeps, ExportSettings } from '../core/exports/deps.js';
import type { ExportJob, ExportLane } from '../core/exports/model.js';
import type { ArchiveDownloader } from '../core/ports/archive-download.js';
import type { ArchiveStore } from '../core/ports/archive-store.js';
import type { ExportSource } from '../core/ports/export-source.js';
import type { PubSub } from '@google-cloud/pubsub';
import { PubSubWorkQueue } from '../adapters/pubsub-work-queue.js';
import { GoogleIdTokenVerifier } from '../adapters/google-id-token-verifier.js';
import { GoogleOAuthProvider, type OAuthEndpoints } from '../adapters/google-oauth-provider.js';
import { GooglePortabilityClient } from '../adapters/google-portability-client.js';
import { GooglePortabilityGrants } from '../adapters/google-portability-grants.js';
import { KmsKeyWrapper } from '../adapters/kms-key-wrapper.js';
import { LocalKeyWrapper } from '../adapters/local-key-wrapper.js';
import { NodeWebhookTransport } from '../adapters/node-webhook-transport.js';
import type { WebhookTransport } from '../core/ports/webhook-transport.js';
import type { WebhookDeps } from '../core/webhooks/deps.js';
import { DEFAULT_WEBHOOK_SETTINGS, type Webhook } from '../core/webhooks/model.js';
import { AccessTokens } from '../core/consent/access-tokens.js';
import { ConsentCredentials } from '../core/consent/credentials.js';
import { Upstream } from '../core/sources/upstream.js';
import { TenantCredentials } from '../core/tenants/credentials.js';
import { MEWS_ENTITY_TYPES, MewsExportSource } from '../adapters/mews-export-source.js';
import type { Tenant } from '../core/tenants/model.js';
import type { TenantDeps } from '../core/tenants/tenants.js';
import type { ConsentDeps } from '../core/consent/deps.js';
import type { AuditEntry, ConnectSession, Consent, OAuthAttempt } from '../core/consent/model.js';
import type { CallerVerifier } from '../core/ports/caller-verifier.js';
import { systemClock, type Clock } from '../core/ports/clock.js';
import type { KeyWrapper } from '../core/ports/key-wrapper.js';
import type { OAuthProvider } from '../core/ports/oauth-provider.js';
import type { PortabilityGrants } from '../core/ports/portability-grants.js';
import { TokenVault } from '../core/token-vault.js';
import type { RecordStore } from '../core/ports/record-store.js';
import type { WorkQueue } from '../core/ports/work-queue.js';
import type { UndeliverableDeps, UndeliverableMessage } from '../core/undeliverable.js';
import { firestoreOptions, pubsubOptions, storageOptions } from './clients.js';
import { LazyRecordStore } from './lazy-record-store.js';
import { ConfigError, parseConfig, prefixed, type Config, type FunctionName } from './config.js';
import { createLogger, type Logger } from './logger.js';

/** Logical collection names; the physical name carries the deployment's prefix. */
export const COLLECTIONS = ['undeliverable', 'connectSessions', 'oauthAttempts', 'consents', 'audit', 'jobs', 'lanes', 'bundles', 'bundleMembers', 'webhooks', 'tenants'] as const;
export type Collection = (typeof COLLECTIONS)[number];

/** Ports a test may replace with fakes; anything not given is built from the SDKs. */
export interface PortOverrides {
  readonly clock?: Clock;
  readonly queue?: WorkQueue;
  readonly store?: <T>(collection: Collection) => RecordStore<T>;
  readonly oauth?: OAuthProvider;
  readonly grants?: PortabilityGrants;
  readonly keyWrapper?: KeyWrapper;
  readonly callers?: CallerVerifier;
  readonly schedulerCallers?: CallerVerifier;
  readonly source?: ExportSource;
  readonly mewsSource?: ExportSource;
  readonly archive?: ArchiveStore;
  readonly downloader?: ArchiveDownloader;
  readonly webhookTransport?: WebhookTransport;
}

/** How this integration names itself to the Mews Connector API (`Client`). */
const MEWS_CLIENT = 'Dataportability 1.0.0';

/** How long one authorization attempt (`state`) stays valid: at most 10 minutes. */
export const STATE_TTL_SECONDS = 600;

/**
 * The composition root: configuration parsed once, one logger, and SDK clients built once per
 * instance, lazily (a function that never publishes never loads a Pub/Sub channel).
 */
export class Runtime {
  readonly clock: Clock;
  private firestoreClient: Firestore | undefined;
  private pubsubClient: Promise<PubSub> | undefined;
  private queueInstance: WorkQueue | undefined;
  private readonly stores = new Map<Collection, RecordStore<unknown>>();

  constructor(
    readonly config: Config,
    readonly logger: Logger,
    private readonly overrides: PortOverrides = {},
  ) {
    this.clock = overrides.clock ?? (config.sandboxClockUrl ? new SandboxClock(config.sandboxClockUrl) : systemClock);
  }

  /** The Firestore client, built (and its library loaded) on first use. */
  firestore(): Firestore {
    const { projectId, firestore } = this.config;
    if (!this.firestoreClient) {
      const { Firestore: Client } = load<typeof FirestoreLibrary>('@google-cloud/firestore');
      this.firestoreClient = new Client(firestoreOptions(projectId, firestore.databaseId, firestore.emulatorHost));
    }
    return this.firestoreClient;
  }

  /** The Pub/Sub client, built (and its library loaded, ~13 MiB) on the first publish. */
  private pubsub(): Promise<PubSub> {
    this.pubsubClient ??= import('@google-cloud/pubsub').then(({ PubSub }) => new PubSub(pubsubOptions(this.config.projectId, this.config.pubsub.emulatorHost)));
    return this.pubsubClient;
  }

  queue(): WorkQueue {
    // A function not configured to publish fails here, naming the settings it lacks.
    if (!this.overrides.queue) void this.config.pubsub;
    this.queueInstance ??=
      this.overrides.queue ??
      new PubSubWorkQueue(
        () => this.pubsub(),
        (t) => prefixed(this.config, t),
      );
    return this.queueInstance;
  }

  store<T>(collection: Collection): RecordStore<T> {
    let store = this.stores.get(collection);
    if (!store) {
      store = this.overrides.store ? this.overrides.store<unknown>(collection) : firestoreStore<unknown>(() => this.firestore(), prefixed(this.config, collection));
      this.stores.set(collection, store);
    }
    return store as RecordStore<T>;
  }

  private consentDepsInstance: ConsentDeps | undefined;
  private callerVerifier: CallerVerifier | undefined;
  private portabilityClient: GooglePortabilityClient | undefined;

  portability(): GooglePortabilityClient {
    this.portabilityClient ??= new GooglePortabilityClient(this.config.portabilityApiUrl);
    return this.portabilityClient;
  }

  callers(): CallerVerifier {
    this.callerVerifier ??= this.overrides.callers ?? new GoogleIdTokenVerifier(this.config.callers);
    return this.callerVerifier;
  }

  keyWrapper(): KeyWrapper {
    if (this.overrides.keyWrapper) return this.overrides.keyWrapper;
    const key = this.config.tokenKey;
    return key.provider === 'local' ? new LocalKeyWrapper(key.key) : new KmsKeyWrapper(this.config.projectId, key.keyName);
  }

  consentDeps(): ConsentDeps {
    if (!this.consentDepsInstance) {
      const { oauth } = this.config;
      const consents = this.store<Consent>('consents');
      const vault = new TokenVault(this.keyWrapper());
      const provider = this.overrides.oauth ?? new GoogleOAuthProvider(oauthEndpoints(this.config), this.clock);
      const queue = this.queue();
      const grants = this.overrides.grants;
      // What only the connect flow reads (api, oauth) is read when used: another function, not
      // configured with it, fails there with a ConfigError naming the variables.
      const settings: ConsentDeps['settings'] = {
        get returnUrlAllowlist() {
          return oauth.returnUrlAllowlist;
        },
        get connectSessionTtlSeconds() {
          return oauth.connectSessionTtlSeconds;
        },
        stateTtlSeconds: STATE_TTL_SECONDS,
        get connectBaseUrl() {
          return oauth.publicUrl;
        },
        get confirmationCodeTtlSeconds() {
          return oauth.confirmationCodeTtlSeconds;
        },
      };
      const tokens = new AccessTokens({ clock: this.clock, consents, vault, oauth: provider, queue });
      this.consentDepsInstance = {
        clock: this.clock,
        sessions: this.store<ConnectSession>('connectSessions'),
        attempts: this.store<OAuthAttempt>('oauthAttempts'),
        consents,
        audit: this.store<AuditEntry>('audit'),
        oauth: provider,
        grants: grants ?? new GooglePortabilityGrants(this.portability()),
        vault,
        tokens,
        upstream: new Upstream({
          google: { source: this.overrides.source ?? new GoogleExportSource(this.portability()), credentials: new ConsentCredentials({ consents, tokens }) },
          mews: {
            source: this.overrides.mewsSource ?? new MewsExportSource(MEWS_CLIENT),
            credentials: new TenantCredentials({ tenants: this.store<Tenant>('tenants'), vault, clock: this.clock }),
            units: MEWS_ENTITY_TYPES,
          },
        }),
        queue,
        settings,
      };
    }
    return this.consentDepsInstance;
  }

  private exportDepsInstance: ExportDeps | undefined;
  private schedulerVerifier: CallerVerifier | undefined;

  schedulerCallers(): CallerVerifier {
    this.schedulerVerifier ??=
      this.overrides.schedulerCallers ??
      new GoogleIdTokenVerifier({
        issuers: this.config.callers.issuers,
        certsUrl: this.config.callers.certsUrl,
        audience: this.config.scheduler.audience,
        allowedEmails: this.config.scheduler.allowedEmails,
      });
    return this.schedulerVerifier;
  }

  exportDeps(): ExportDeps {
    if (!this.exportDepsInstance) {
      const consent = this.consentDeps();
      const { archive, projectId, scheduler } = this.config;
      let archiveStore = this.overrides.archive;
      // The bucket and the settings only some functions use are read when used (see consentDeps).
      const settings: ExportSettings = {
        get objectPrefix() {
          return archive.prefix;
        },
        get leaseSeconds() {
          return archive.leaseSeconds;
        },
        get transferBudgetSeconds() {
          return archive.transferBudgetSeconds;
        },
        get checkpointBytes() {
          return archive.checkpointBytes;
        },
        // Records each of the sweep's queries takes per run: 2,500 running Mews exports are checked in one sweep.
        sweepLimit: 5_000,
        get tickBatch() {
          return scheduler.batchSize;
        },
        get expiringLeadSeconds() {
          return scheduler.expiringLeadSeconds;
        },
      };
      this.exportDepsInstance = {
        clock: this.clock,
        jobs: this.store<ExportJob>('jobs'),
        lanes: this.store<ExportLane>('lanes'),
        consents: consent.consents,
        tenants: this.store<Tenant>('tenants'),
        upstream: consent.upstream,
        queue: this.queue(),
        get archive(): ArchiveStore {
          archiveStore ??= new GcsArchiveStore(
            async () => new (await import('@google-cloud/storage')).Storage(storageOptions(projectId, archive.storageEmulatorHost)),
            archive.bucket,
            archive.chunkBytes === 0 ? undefined : archive.chunkBytes,
            !archive.storageEmulatorHost,
          );
          return archiveStore;
        },
        downloader: this.overrides.downloader ?? new HttpArchiveDownloader(),
        crc32c: new NodeRsCrc32c(),
        vault: consent.vault,
        settings,
        bundles: this.store<Bundle>('bundles'),
        bundleMembers: this.store<BundleMember>('bundleMembers'),
        packers: { zip: new YazlBundlePacker(), 'tar.gz': new TarStreamBundlePacker() },
        newOwner: () => randomUUID(),
        oauth: consent.oauth,
      };
    }
    return this.exportDepsInstance;
  }

  private archiveReaderInstance: ArchiveReader | undefined;

  /** Reads delivered objects of the archive bucket (the console's downloads). */
  archiveReader(): ArchiveReader {
    const { archive, projectId } = this.config;
    this.archiveReaderInstance ??= new GcsArchiveReader(
      async () => new (await import('@google-cloud/storage')).Storage(storageOptions(projectId, archive.storageEmulatorHost)),
      archive.bucket,
    );
    return this.archiveReaderInstance;
  }

  private webhookDepsInstance: WebhookDeps | undefined;

  /** What the webhook fan-out needs: the webhooks and the queue (no key: it never opens a secret). */
  webhookFanOutDeps(): Pick<WebhookDeps, 'clock' | 'webhooks' | 'queue'> {
    return { clock: this.clock, webhooks: this.store<Webhook>('webhooks'), queue: this.queue() };
  }

  /** Webhooks: production allows only https URLs and public addresses (development reaches local receivers). */
  webhookDeps(): WebhookDeps {
    const production = this.config.env === 'production';
    this.webhookDepsInstance ??= {
      clock: this.clock,
      webhooks: this.store<Webhook>('webhooks'),
      queue: this.queue(),
      vault: new TokenVault(this.keyWrapper()),
      transport: this.overrides.webhookTransport ?? new NodeWebhookTransport(),
      settings: { ...DEFAULT_WEBHOOK_SETTINGS, requireHttps: production, publicAddressesOnly: production },
    };
    return this.webhookDepsInstance;
  }

  private tenantDepsInstance: TenantDeps | undefined;

  /** Tenants (sources authorised by configured API keys); their keys are sealed with the consents' vault. */
  tenantDeps(): TenantDeps {
    const consent = this.consentDeps();
    this.tenantDepsInstance ??= {
      clock: this.clock,
      tenants: this.store<Tenant>('tenants'),
      audit: consent.audit,
      vault: consent.vault,
      settings: { platformAllowlist: this.config.mews.platformAllowlist, requireHttps: this.config.env === 'production' },
      units: (source) => consent.upstream.units(source),
    };
    return this.tenantDepsInstance;
  }

  undeliverableDeps(): UndeliverableDeps {
    return { undeliverable: this.store<UndeliverableMessage>('undeliverable'), clock: this.clock };
  }

  async close(): Promise<void> {
    await Promise.all([
      this.firestoreClient?.terminate(),
      this.pubsubClient?.then(
        (p) => p.close(),
        () => undefined, // never built
      ),
    ]);
  }
}

/**
 * Builds the runtime of function `fn` (every use case when not given: tools and tests) from an
 * environment; a bad configuration throws ConfigError naming the variable.
 */
export function createRuntime(env: Readonly<Record<string, string | undefined>>, overrides?: PortOverrides, fn?: FunctionName): Runtime {
  const config = parseConfig(env, fn);
  return new Runtime(config, createLogger(config), overrides);
}

/**
 * The OAuth client's endpoints; the redirect URI and the authorization endpoint only where the
 * connect flow runs (a worker refreshes and revokes tokens, it never sends a browser to consent).
 */
function oauthEndpoints(config: Config): OAuthEndpoints {
  const { oauth } = config;
  const client = { clientId: oauth.clientId, clientSecret: oauth.clientSecret, tokenEndpoint: oauth.tokenEndpoint, revokeEndpoint: oauth.revokeEndpoint };
  try {
    return { ...client, redirectUri: oauth.redirectUri, authorizationEndpoint: oauth.authorizationEndpoint };
  } catch (error) {
    if (error instanceof ConfigError) return client;
    throw error;
  }
}

/** A CommonJS library, loaded when first used (a function that never uses it never loads it). */
const load = createRequire(import.meta.url) as <T>(id: string) => T;

/** A Firestore-backed store whose adapter and client library load on its first call. */
function firestoreStore<T>(firestore: () => Firestore, collection: string): RecordStore<T> {
  return new LazyRecordStore<T>(async () => {
    const { FirestoreRecordStore } = await import('../adapters/firestore-record-store.js');
    return new FirestoreRecordStore<T>(firestore(), collection);
  });
}
