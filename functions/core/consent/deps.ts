import type { Clock } from '../ports/clock.js';
import type { OAuthProvider } from '../ports/oauth-provider.js';
import type { PortabilityGrants } from '../ports/portability-grants.js';
import type { RecordStore } from '../ports/record-store.js';
import type { WorkQueue } from '../ports/work-queue.js';
import type { Upstream } from '../sources/upstream.js';
import type { TokenVault } from '../token-vault.js';
import type { AccessTokens } from './access-tokens.js';
import type { AuditEntry, ConnectSession, Consent, OAuthAttempt } from './model.js';

export interface ConsentSettings {
  readonly returnUrlAllowlist: readonly string[];
  readonly connectSessionTtlSeconds: number;
  /** How long one authorization attempt (state) stays valid. */
  readonly stateTtlSeconds: number;
  /** Public base URL of the oauth function. */
  readonly connectBaseUrl: string;
  /** How long a completion code (and so an unconfirmed consent) stays valid. */
  readonly confirmationCodeTtlSeconds: number;
}

export interface ConsentDeps {
  readonly clock: Clock;
  readonly sessions: RecordStore<ConnectSession>;
  readonly attempts: RecordStore<OAuthAttempt>;
  readonly consents: RecordStore<Consent>;
  readonly audit: RecordStore<AuditEntry>;
  readonly oauth: OAuthProvider;
  readonly grants: PortabilityGrants;
  readonly vault: TokenVault;
  readonly tokens: AccessTokens;
  /** Upstream calls under a consent's grant (releasing it on revocation). */
  readonly upstream: Upstream;
  readonly queue: WorkQueue;
  readonly settings: ConsentSettings;
}
