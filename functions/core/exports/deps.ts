import type { Bundle, BundleMember } from '../bundles/model.js';
import type { Consent } from '../consent/model.js';
import type { ArchiveDownloader } from '../ports/archive-download.js';
import type { ArchiveStore } from '../ports/archive-store.js';
import type { BundleFormat, BundlePacker } from '../ports/bundle-packer.js';
import type { Crc32cFactory } from '../ports/checksum.js';
import type { Clock } from '../ports/clock.js';
import type { OAuthProvider } from '../ports/oauth-provider.js';
import type { RecordStore } from '../ports/record-store.js';
import type { WorkQueue } from '../ports/work-queue.js';
import type { Upstream } from '../sources/upstream.js';
import type { Tenant } from '../tenants/model.js';
import type { TokenVault } from '../token-vault.js';
import type { ExportJob, ExportLane } from './model.js';

export interface ExportSettings {
  /** Object names start with this prefix (no trailing slash; may be empty). */
  readonly objectPrefix: string;
  /** How long a claim or a transfer lease holds before another worker may take over. */
  readonly leaseSeconds: number;
  /** A transfer hands over to a new invocation after this long (the function's limit is 9 min). */
  readonly transferBudgetSeconds: number;
  /** A running checksum mark is recorded (and the checkpoint saved) every this many bytes. */
  readonly checkpointBytes: number;
  /** How many due records one sweep handles per kind. */
  readonly sweepLimit: number;
  /** How many consents one page of a scheduler tick handles. */
  readonly tickBatch: number;
  /** How long before a time-based grant ends `consent.expiring` is sent. */
  readonly expiringLeadSeconds: number;
}

export interface ExportDeps {
  readonly clock: Clock;
  readonly jobs: RecordStore<ExportJob>;
  /** One lane per (consent, resource group): which job runs it (see `laneId`). */
  readonly lanes: RecordStore<ExportLane>;
  readonly consents: RecordStore<Consent>;
  /** The tenants whose API keys authorise tenant jobs (`grantKind` tenant). */
  readonly tenants: RecordStore<Tenant>;
  /** Every upstream call of a job's source, with the grant checked and its credential handed in. */
  readonly upstream: Upstream;
  readonly queue: WorkQueue;
  readonly archive: ArchiveStore;
  readonly downloader: ArchiveDownloader;
  readonly crc32c: Crc32cFactory;
  readonly vault: TokenVault;
  readonly settings: ExportSettings;
  /** The authorization server: the consent sweep revokes grants that were never confirmed. */
  readonly oauth: OAuthProvider;
  /** Bundles of export requests, and which bundles wait for which job. */
  readonly bundles: RecordStore<Bundle>;
  readonly bundleMembers: RecordStore<BundleMember>;
  /** One packer per bundle format. */
  readonly packers: Readonly<Record<BundleFormat, BundlePacker>>;
  /** A unique id for one worker's claim or lease. */
  readonly newOwner: () => string;
}
