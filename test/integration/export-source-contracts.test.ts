import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GoogleExportSource } from '../../functions/adapters/google-export-source.js';
import { GooglePortabilityClient } from '../../functions/adapters/google-portability-client.js';
import { LocalKeyWrapper } from '../../functions/adapters/local-key-wrapper.js';
import { AccessTokens } from '../../functions/core/consent/access-tokens.js';
import { ConsentCredentials } from '../../functions/core/consent/credentials.js';
import type { Consent } from '../../functions/core/consent/model.js';
import { newPkce, newState } from '../../functions/core/consent/pkce.js';
import { systemClock } from '../../functions/core/ports/clock.js';
import { scopeOf, type ResourceGroup } from '../../functions/core/resource-groups.js';
import { Upstream } from '../../functions/core/sources/upstream.js';
import { TokenVault } from '../../functions/core/token-vault.js';
import { startSandbox } from '../../infra/sandbox/server.js';
import { exportSourceContract } from '../contracts/export-source.contract.js';
import { FakeExportSource, fakeAccessToken } from '../fakes/fake-export-source.js';
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
    grant: async () => ({ kind: 'access_token' as const, accessToken: fakeAccessToken(`consent${++n}`) }),
    complete: async (id) => source.complete(id, [{ name: 'archive-001.zip', url: `https://signed/${id}` }]),
    fail: async (id) => source.setState(id, 'FAILED'),
  };
});

exportSourceContract('Google adapter (sandbox)', async () => {
  const { t, connect } = await googleSource();
  return { ...t, grant: async (resources: string[]) => ({ kind: 'access_token' as const, accessToken: (await connect(resources)).accessToken }) };
});

async function googleSource() {
  const post = (path: string, body: unknown) => fetch(`${sandbox.baseUrl}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const { oauth } = await registerSandboxClient(sandbox.baseUrl, 'source');
  const consents = new MemoryRecordStore<Consent>();
  const vault = new TokenVault(new LocalKeyWrapper(randomBytes(32)));
  const tokens = new AccessTokens({ clock: systemClock, consents, vault, oauth, queue: new MemoryWorkQueue() });
  const source = new GoogleExportSource(new GooglePortabilityClient(sandbox.baseUrl));
  // The core's service, as the composition root wires it: the consent's credentials for Google's source.
  const upstream = new Upstream({ google: { source, credentials: new ConsentCredentials({ consents, tokens }) } });
  let users = 0;
  const connect = async (resources: string[]) => {
    const state = newState();
    const pkce = newPkce();
    const authorizeUrl = oauth.authorizationUrl({ scopes: resources.map((r) => scopeOf(r as ResourceGroup)), state, codeChallenge: pkce.challenge });
    const res = await post('/sandbox/v1/consent', { authorizeUrl, grant: { duration: 'ONE_TIME' }, user: `source-user-${++users}@example.com` });
    const code = new URL(((await res.json()) as { redirectUrl: string }).redirectUrl).searchParams.get('code') ?? '';
    return oauth.exchangeCode(code, pkce.verifier);
  };
  const t = {
    source,
    /** A consent on record for a new grant: its id. */
    consent: async (resources: string[]) => {
      const grant = await connect(resources);
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
  return { t, consents, post, connect, upstream };
}

describe('the core upstream service on the Google adapter: a 401 is checked with a fresh token before the consent is parked', () => {
  it('one 401 (a token revoked early, clock skew) refreshes the access token and the call succeeds; the consent stays ACTIVE', async () => {
    const { t, consents, post, upstream } = await googleSource();
    const consentId = await t.consent(['chrome.history']);
    const grant = { source: 'google' as const, id: consentId };
    const started = await upstream.start(grant, { resource: 'chrome.history', startTime: null, endTime: null });
    if (started.kind !== 'started') throw new Error(started.kind);
    const faults = await post('/sandbox/v1/faults', { rules: [{ path: `/v1/archiveJobs/${started.upstreamId}/portabilityArchiveState`, action: 'status:401', times: 1 }] });
    expect(faults.status).toBe(200);
    expect((await upstream.state(grant, started.upstreamId)).state).toBe('IN_PROGRESS');
    expect((await consents.get(consentId))?.status).toBe('ACTIVE');
  });

  it('a 401 again with the fresh token parks the consent as NEEDS_RECONSENT', async () => {
    const { t, consents, post, upstream } = await googleSource();
    const consentId = await t.consent(['chrome.history']);
    await post('/sandbox/v1/faults', { rules: [{ path: '/v1/portabilityArchive:initiate', action: 'status:401', times: 2 }] });
    await expect(upstream.start({ source: 'google', id: consentId }, { resource: 'chrome.history', startTime: null, endTime: null })).rejects.toMatchObject({
      reason: 'CONSENT_NEEDS_RECONSENT',
    });
    expect((await consents.get(consentId))?.status).toBe('NEEDS_RECONSENT');
  });

  it('release: a token refused even fresh counts as released (not parked); after a release the consent is parked and then refused by the core', async () => {
    const { t, consents, post, upstream } = await googleSource();
    const consentId = await t.consent(['chrome.history']);
    const grant = { source: 'google' as const, id: consentId };
    await post('/sandbox/v1/faults', { rules: [{ path: '/v1/authorization:reset', action: 'status:401', times: 2 }] });
    expect(await upstream.release(grant)).toBe('already_released');
    expect((await consents.get(consentId))?.status).toBe('ACTIVE');
    expect(await upstream.release(grant)).toBe('released');
    // The refresh token died with the reset: invalid_grant parks the consent.
    await expect(upstream.start(grant, { resource: 'chrome.history', startTime: null, endTime: null })).rejects.toMatchObject({ reason: 'CONSENT_NEEDS_RECONSENT' });
    expect((await consents.get(consentId))?.status).toBe('NEEDS_RECONSENT');
    // Parked: the core refuses before any upstream call.
    await expect(upstream.state(grant, 'anything')).rejects.toMatchObject({ reason: 'CONSENT_NEEDS_RECONSENT', message: 'consent is NEEDS_RECONSENT' });
  });
});
