import { randomBytes, randomUUID } from 'node:crypto';
import { LocalKeyWrapper } from '../../functions/adapters/local-key-wrapper.js';
import { NodeRsCrc32c } from '../../functions/adapters/node-rs-crc32c.js';
import { TarStreamBundlePacker } from '../../functions/adapters/tar-stream-bundle-packer.js';
import { YazlBundlePacker } from '../../functions/adapters/yazl-bundle-packer.js';
import type { Bundle, BundleMember } from '../../functions/core/bundles/model.js';
import type { Consent } from '../../functions/core/consent/model.js';
import type { ExportDeps } from '../../functions/core/exports/deps.js';
import type { ExportJob, ExportLane } from '../../functions/core/exports/model.js';
import { ConsentCredentials } from '../../functions/core/consent/credentials.js';
import { Upstream } from '../../functions/core/sources/upstream.js';
import type { Tenant } from '../../functions/core/tenants/model.js';
import { TokenVault } from '../../functions/core/token-vault.js';
import { FakeAuthorizationServer, ManualClock } from './fake-oauth.js';
import { FakeConsentTokens } from './fake-consent-tokens.js';
import { FakeExportSource } from './fake-export-source.js';
import { FakeDownloader, MemoryArchiveStore } from './memory-archive.js';
import { MemoryRecordStore } from './memory-record-store.js';
import { MemoryWorkQueue } from './memory-work-queue.js';

/** Export use-case dependencies on fakes, with one ACTIVE one-time consent `c1` for two groups. */
export async function exportDepsWithFakes(settings: Partial<ExportDeps['settings']> = {}) {
  const clock = new ManualClock();
  const jobs = new MemoryRecordStore<ExportJob>();
  const lanes = new MemoryRecordStore<ExportLane>();
  const consents = new MemoryRecordStore<Consent>();
  const tenants = new MemoryRecordStore<Tenant>();
  const source = new FakeExportSource();
  const queue = new MemoryWorkQueue();
  const archive = new MemoryArchiveStore();
  const downloader = new FakeDownloader();
  const vault = new TokenVault(new LocalKeyWrapper(randomBytes(32)));
  await consents.create('c1', {
    appUserId: 'user 1',
    groups: [
      { resource: 'myactivity.search', accessType: 'ONE_TIME' },
      { resource: 'chrome.history', accessType: 'ONE_TIME' },
    ],
    grantedAt: clock.now(),
    expiresAt: null,
    status: 'ACTIVE',
    updatedAt: clock.now(),
    token: await vault.seal('1//refresh', 'c1'),
  });
  const credentials = new ConsentCredentials({ consents, tokens: new FakeConsentTokens({ clock, consents, queue }) });
  const deps: ExportDeps = {
    clock,
    jobs,
    lanes,
    consents,
    tenants,
    upstream: new Upstream({ google: { source, credentials } }),
    queue,
    archive,
    downloader,
    crc32c: new NodeRsCrc32c(),
    vault,
    settings: {
      objectPrefix: 'exports',
      leaseSeconds: 600,
      transferBudgetSeconds: 420,
      checkpointBytes: 256 * 1024,
      sweepLimit: 100,
      tickBatch: 50,
      expiringLeadSeconds: 7 * 86_400,
      ...settings,
    },
    bundles: new MemoryRecordStore<Bundle>(),
    bundleMembers: new MemoryRecordStore<BundleMember>(),
    packers: { zip: new YazlBundlePacker(), 'tar.gz': new TarStreamBundlePacker() },
    newOwner: () => randomUUID(),
    oauth: new FakeAuthorizationServer(clock).provider,
  };
  return { deps, clock, jobs, lanes, consents, tenants, source, credentials, queue, archive, downloader };
}
