// Google's own generated client (`googleapis`, dataportability v1) and google-auth-library's
// OAuth2Client (googleapis' own copy) drive the sandbox: proof that the sandbox speaks Google's shapes.
import { google } from 'googleapis';
import type { dataportability_v1 } from 'googleapis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIRECT_URI, call, connect, startTestSandbox } from './helpers.js';
import type { TestSandbox } from './helpers.js';

let sb: TestSandbox;

beforeAll(async () => {
  sb = await startTestSandbox({ config: { jobDurationSeconds: 600 } });
});
afterAll(async () => {
  await sb.stop();
});

type OAuth2Client = InstanceType<typeof google.auth.OAuth2>;

function oauthClient(clientId: string, clientSecret: string): OAuth2Client {
  return new google.auth.OAuth2({
    clientId,
    clientSecret,
    redirectUri: REDIRECT_URI,
    endpoints: {
      oauth2AuthBaseUrl: `${sb.baseUrl}/o/oauth2/v2/auth`,
      oauth2TokenUrl: `${sb.baseUrl}/token`,
      oauth2RevokeUrl: `${sb.baseUrl}/revoke`,
      tokenInfoUrl: `${sb.baseUrl}/tokeninfo`,
    },
  });
}

function portability(auth: OAuth2Client): dataportability_v1.Dataportability {
  return google.dataportability({ version: 'v1', rootUrl: `${sb.baseUrl}/`, auth });
}

describe('googleapis dataportability v1 against the sandbox', () => {
  it('drives all six methods; the refresh token is used by OAuth2Client through /token', async () => {
    const groups = ['myactivity.shopping', 'play.purchases'];
    const c = await connect(sb.baseUrl, groups, { duration: 'DAYS_30' });
    const auth = oauthClient(c.client.clientId, c.client.clientSecret);
    auth.setCredentials({ refresh_token: c.refreshToken ?? '' });
    const dp = portability(auth);

    const check = await dp.accessType.check({ requestBody: {} });
    expect(check.data).toEqual({ timeBasedResources: groups });

    const started = await dp.portabilityArchive.initiate({
      requestBody: { resources: ['myactivity.shopping'], startTime: '2024-01-01T00:00:00Z' },
    });
    expect(started.status).toBe(200);
    expect(started.data.accessType).toBe('ACCESS_TYPE_TIME_BASED');
    const id = started.data.archiveJobId ?? '';
    expect(auth.credentials.access_token).toMatch(/^ya29\./);

    const state = await dp.archiveJobs.getPortabilityArchiveState({ name: `archiveJobs/${id}/portabilityArchiveState` });
    expect(state.data).toMatchObject({ name: `archiveJobs/${id}/portabilityArchiveState`, state: 'IN_PROGRESS', startTime: '2024-01-01T00:00:00Z' });

    await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${id}:fail`, {});
    const retried = await dp.archiveJobs.retry({ name: `archiveJobs/${id}`, requestBody: {} });
    const retryId = retried.data.archiveJobId ?? '';
    expect(retryId).not.toBe(id);

    const cancelled = await dp.archiveJobs.cancel({ name: `archiveJobs/${retryId}`, requestBody: {} });
    expect(cancelled.data).toEqual({});
    const after = await dp.archiveJobs.getPortabilityArchiveState({ name: `archiveJobs/${retryId}/portabilityArchiveState` });
    expect(after.data.state).toBe('CANCELLED');

    const second = await dp.portabilityArchive.initiate({ requestBody: { resources: ['play.purchases'] } });
    await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${second.data.archiveJobId ?? ''}:complete`, {});
    const complete = await dp.archiveJobs.getPortabilityArchiveState({ name: `archiveJobs/${second.data.archiveJobId ?? ''}/portabilityArchiveState` });
    expect(complete.data.state).toBe('COMPLETE');
    expect(complete.data.urls?.length).toBe(1);

    const reset = await dp.authorization.reset({ requestBody: {} });
    expect(reset.status).toBe(200);
    expect(reset.data).toEqual({});
    await expect(dp.accessType.check({ requestBody: {} })).rejects.toThrow(/invalid authentication credentials/);
  });

  it('surfaces the error envelope to the client (429 RESOURCE_EXHAUSTED_ONE_TIME)', async () => {
    const c = await connect(sb.baseUrl, ['youtube.channel']);
    const auth = oauthClient(c.client.clientId, c.client.clientSecret);
    auth.setCredentials({ access_token: c.accessToken });
    const dp = portability(auth);
    const first = await dp.portabilityArchive.initiate({ requestBody: { resources: ['youtube.channel'] } });
    expect(first.data.accessType).toBe('ACCESS_TYPE_ONE_TIME');
    await call(sb.baseUrl, 'POST', `/sandbox/v1/jobs/${first.data.archiveJobId ?? ''}:complete`, {});
    const err = (await dp.portabilityArchive.initiate({ requestBody: { resources: ['youtube.channel'] } }).catch((e: unknown) => e)) as {
      status?: number;
      response?: { data?: { error?: { status?: string; details?: Array<Record<string, unknown>> } } };
    };
    expect(err.status).toBe(429);
    expect(err.response?.data?.error?.status).toBe('RESOURCE_EXHAUSTED');
    const info = err.response?.data?.error?.details?.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo');
    expect(info).toMatchObject({ reason: 'RESOURCE_EXHAUSTED_ONE_TIME', metadata: { previous_job_ids: first.data.archiveJobId } });
  });

  it('OAuth2Client.generateAuthUrl + getToken work with the sandbox endpoints', async () => {
    const c = await connect(sb.baseUrl, ['search_ugc.comments']);
    const auth = oauthClient(c.client.clientId, c.client.clientSecret);
    const { codeVerifier, codeChallenge } = await auth.generateCodeVerifierAsync();
    const url = auth.generateAuthUrl({
      access_type: 'offline',
      prompt: 'consent',
      scope: ['https://www.googleapis.com/auth/dataportability.search_ugc.comments'],
      state: 'xyz',
      code_challenge: codeChallenge ?? '',
      code_challenge_method: 'S256' as never,
    });
    const decided = await call(sb.baseUrl, 'POST', '/sandbox/v1/consent', { authorizeUrl: url, grant: { duration: 'ONE_TIME' } });
    const code = new URL(String(decided.body.redirectUrl)).searchParams.get('code') ?? '';
    const { tokens } = await auth.getToken({ code, codeVerifier });
    expect(tokens.scope).toBe('https://www.googleapis.com/auth/dataportability.search_ugc.comments');
    expect(tokens.refresh_token).toBeTruthy();
    const info = await auth.getTokenInfo(tokens.access_token ?? '');
    expect(info.scopes).toEqual(['https://www.googleapis.com/auth/dataportability.search_ugc.comments']);
    await auth.revokeToken(tokens.refresh_token ?? '');
    const revoked = oauthClient(c.client.clientId, c.client.clientSecret);
    revoked.setCredentials({ refresh_token: tokens.refresh_token ?? '' });
    await expect(revoked.getAccessToken()).rejects.toThrow(/invalid_grant/);
  });
});
