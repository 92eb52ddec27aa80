import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GoogleExportSource } from '../../functions/adapters/google-export-source.js';
import { GooglePortabilityClient } from '../../functions/adapters/google-portability-client.js';
import { LocalKeyWrapper } from '../../functions/adapters/local-key-wrapper.js';
import { AccessTokens } from '../../functions/core/consent/access-tokens.js';
import type { Consent } from '../../functions/core/consent/model.js';
import { newPkce, newState } from '../../functions/core/consent/pkce.js';
import { systemClock } from '../../functions/core/ports/clock.js';
import { scopeOf, type ResourceGroup } from '../../functions/core/resource-groups.js';
import { TokenVault } from '../../functions/core/token-vault.js';
import { startSandbox } from '../../infra/sandbox/server.js';
import { exportSourceContract } from '../contracts/export-source.contract.js';
import { FakeExportSource } from '../fakes/fake-export-source.js';
import { MemoryRecordStore } from '../fakes/memory-record-store.js';
import { MemoryWorkQueue } from '../fakes/memory-work-queue.js';
import { registerSandboxClient } from '../fixtures/sandbox-oauth.js';

// The ExportSource contract on the fake and on the Google adapter against the sandbox.
const dir = mkdtempSync(join(tmpdir(), 'dp-source-contracts-'));
let sandbox: Awaited<ReturnType<typeof startSandbox>>;
beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, cacheDir: dir, config: { jobDurationSeconds: 3600, archiveBytes: 4096 } });
});
afterAll(async () => {
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

exportSourceContract('fake', async () => {
  const source = new FakeExportSource();
  let n = 0;
  return {
    source,
    grant: async () => `consent${++n}`,
    complete: async (id) => source.complete(id, [{ name: 'archive-001.zip', url: `https://signed/${id}` }]),
    fail: async (id) => source.setState(id, 'FAILED'),
  };
});

exportSourceContract('Google adapter (sandbox)', async () => (await googleSource()).t);

async function googleSource() {
  const post = (path: string, body: unknown) => fetch(`${sandbox.baseUrl}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const { oauth } = await registerSandboxClient(sandbox.baseUrl, 'source');
  const consents = new MemoryRecordStore<Consent>();
  const vault = new TokenVault(new LocalKeyWrapper(randomBytes(32)));
  const tokens = new AccessTokens({ clock: systemClock, consents, vault, oauth, queue: new MemoryWorkQueue() });
  let users = 0;
  const t = {
    source: new GoogleExportSource(new GooglePortabilityClient(sandbox.baseUrl), tokens),
    grant: async (resources: string[]) => {
      const state = newState();
      const pkce = newPkce();
      const authorizeUrl = oauth.authorizationUrl({ scopes: resources.map((r) => scopeOf(r as ResourceGroup)), state, codeChallenge: pkce.challenge });
      const res = await post('/sandbox/v1/consent', { authorizeUrl, grant: { duration: 'ONE_TIME' }, user: `source-user-${++users}@example.com` });
      const code = new URL(((await res.json()) as { redirectUrl: string }).redirectUrl).searchParams.get('code') ?? '';
      const grant = await oauth.exchangeCode(code, pkce.verifier);
      const consentId = `c${randomBytes(6).toString('hex')}`;
      await consents.create(consentId, {
        appUserId: 'u',
        groups: resources.map((r) => ({ resource: r as ResourceGroup, accessType: 'ONE_TIME' })),
        grantedAt: new Date(),
        expiresAt: null,
        status: 'ACTIVE',
        updatedAt: new Date(),
        token: await vault.seal(grant.refreshToken ?? '', consentId),
      });
      return consentId;
    },
    complete: async (id: string) => {
      await post(`/sandbox/v1/jobs/${id}:complete`, {});
    },
    fail: async (id: string) => {
      await post(`/sandbox/v1/jobs/${id}:fail`, {});
    },
  };
  return { t, consents, post };
}

describe('Google adapter: a 401 is checked with a fresh token before the consent is parked', () => {
  it('one 401 (a token revoked early, clock skew) refreshes the access token and the call succeeds; the consent stays ACTIVE', async () => {
    const { t, consents, post } = await googleSource();
    const consentId = await t.grant(['chrome.history']);
    const started = await t.source.start({ consentId }, { resource: 'chrome.history', startTime: null, endTime: null });
    if (started.kind !== 'started') throw new Error(started.kind);
    const faults = await post('/sandbox/v1/faults', { rules: [{ path: `/v1/archiveJobs/${started.upstreamId}/portabilityArchiveState`, action: 'status:401', times: 1 }] });
    expect(faults.status).toBe(200);
    expect((await t.source.state({ consentId }, started.upstreamId)).state).toBe('IN_PROGRESS');
    expect((await consents.get(consentId))?.status).toBe('ACTIVE');
  });

  it('a 401 again with the fresh token parks the consent as NEEDS_RECONSENT', async () => {
    const { t, consents, post } = await googleSource();
    const consentId = await t.grant(['chrome.history']);
    await post('/sandbox/v1/faults', { rules: [{ path: '/v1/portabilityArchive:initiate', action: 'status:401', times: 2 }] });
    await expect(t.source.start({ consentId }, { resource: 'chrome.history', startTime: null, endTime: null })).rejects.toMatchObject({ reason: 'CONSENT_NEEDS_RECONSENT' });
    expect((await consents.get(consentId))?.status).toBe('NEEDS_RECONSENT');
  });
});
