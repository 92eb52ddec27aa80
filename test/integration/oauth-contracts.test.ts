import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { GooglePortabilityClient } from '../../functions/adapters/google-portability-client.js';
import { GoogleExportSource } from '../../functions/adapters/google-export-source.js';
import { GooglePortabilityGrants } from '../../functions/adapters/google-portability-grants.js';
import { systemClock } from '../../functions/core/ports/clock.js';
import { startSandbox } from '../../infra/sandbox/server.js';
import { authorizationContract } from '../contracts/oauth.contract.js';
import { FakeAuthorizationServer } from '../fakes/fake-oauth.js';
import { registerSandboxClient } from '../fixtures/sandbox-oauth.js';

// The authorization contracts on the fake and on the Google adapters against the sandbox.
const dir = mkdtempSync(join(tmpdir(), 'dp-oauth-contracts-'));
let sandbox: Awaited<ReturnType<typeof startSandbox>>;
beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, cacheDir: dir });
});
afterAll(async () => {
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

authorizationContract('fake authorization server', async () => {
  const server = new FakeAuthorizationServer(systemClock);
  return {
    oauth: server.provider,
    grants: server.grants,
    reset: (accessToken) => server.reset(accessToken),
    approve: async (_url, state, groups, duration) =>
      server.approve(
        state,
        groups.map((g) => `https://www.googleapis.com/auth/dataportability.${g}`),
        duration,
      ),
  };
});

authorizationContract('Google adapters (sandbox)', async () => {
  const { oauth } = await registerSandboxClient(sandbox.baseUrl, 'contract');
  let users = 0;
  return {
    oauth,
    grants: new GooglePortabilityGrants(new GooglePortabilityClient(sandbox.baseUrl)),
    reset: (accessToken) => new GoogleExportSource(new GooglePortabilityClient(sandbox.baseUrl)).release({ kind: 'access_token', accessToken }),
    approve: async (authorizeUrl, _state, groups, duration) => {
      const res = await fetch(`${sandbox.baseUrl}/sandbox/v1/consent`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ authorizeUrl, grant: { resources: groups, duration }, user: `user-${++users}@example.com` }),
      });
      const { redirectUrl } = (await res.json()) as { redirectUrl: string };
      return new URL(redirectUrl).searchParams.get('code') ?? '';
    },
  };
});
