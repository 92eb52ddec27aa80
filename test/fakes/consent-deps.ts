import { randomBytes } from 'node:crypto';
import { LocalKeyWrapper } from '../../functions/adapters/local-key-wrapper.js';
import { AccessTokens } from '../../functions/core/consent/access-tokens.js';
import type { ConsentDeps } from '../../functions/core/consent/deps.js';
import type { AuditEntry, ConnectSession, Consent, OAuthAttempt } from '../../functions/core/consent/model.js';
import { ConsentCredentials } from '../../functions/core/consent/credentials.js';
import { Upstream } from '../../functions/core/sources/upstream.js';
import { TokenVault } from '../../functions/core/token-vault.js';
import { FakeExportSource } from './fake-export-source.js';
import { FakeAuthorizationServer, ManualClock } from './fake-oauth.js';
import { MemoryRecordStore } from './memory-record-store.js';
import { MemoryWorkQueue } from './memory-work-queue.js';

export const RETURN_URL = 'https://app.example.com/connected';

/** Consent use-case dependencies on fakes (and the real local key wrapper, which is fast). */
export function consentDepsWithFakes() {
  const clock = new ManualClock();
  const server = new FakeAuthorizationServer(clock);
  const consents = new MemoryRecordStore<Consent>();
  const sessions = new MemoryRecordStore<ConnectSession>();
  const attempts = new MemoryRecordStore<OAuthAttempt>();
  const audit = new MemoryRecordStore<AuditEntry>();
  const queue = new MemoryWorkQueue();
  const vault = new TokenVault(new LocalKeyWrapper(randomBytes(32)));
  const tokens = new AccessTokens({ clock, consents, vault, oauth: server.provider, queue });
  // The export source's release is the authorization server's reset (any live access token is its own grant).
  const source = new FakeExportSource({ identify: (token) => token, onRelease: (token) => server.reset(token) });
  const deps: ConsentDeps = {
    clock,
    sessions,
    attempts,
    consents,
    audit,
    oauth: server.provider,
    grants: server.grants,
    vault,
    tokens,
    upstream: new Upstream({ google: { source, credentials: new ConsentCredentials({ consents, tokens }) } }),
    queue,
    settings: {
      returnUrlAllowlist: [RETURN_URL],
      connectSessionTtlSeconds: 1800,
      stateTtlSeconds: 600,
      connectBaseUrl: 'https://connect.example.com',
      confirmationCodeTtlSeconds: 300,
    },
  };
  return { deps, clock, server, consents, sessions, attempts, audit, queue, vault };
}
