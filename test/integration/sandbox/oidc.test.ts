// The OIDC issuer: ID tokens minted by the sandbox verify with google-auth-library exactly as the
// pipeline verifies Google's, and fail for another audience.
import { X509Certificate, createPublicKey } from 'node:crypto';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestSandbox } from './helpers.js';
import type { TestSandbox } from './helpers.js';

let sb: TestSandbox;
const SA = 'scheduler@my-project.iam.gserviceaccount.com';
const AUDIENCE = 'https://api.example.test/v1';

beforeAll(async () => {
  sb = await startTestSandbox();
});
afterAll(async () => {
  await sb.stop();
});

function verifier(): OAuth2Client {
  return new OAuth2Client({
    endpoints: {
      oauth2FederatedSignonPemCertsUrl: `${sb.baseUrl}/oauth2/v1/certs`,
      oauth2FederatedSignonJwkCertsUrl: `${sb.baseUrl}/oauth2/v3/certs`,
    },
    issuers: [sb.baseUrl],
  });
}

async function mint(audience: string, email = SA): Promise<string> {
  const res = await call(sb.baseUrl, 'POST', '/sandbox/v1/idTokens', { audience, email });
  expect(res.status).toBe(200);
  return String(res.body.idToken);
}

describe('OIDC issuer', () => {
  it('serves a discovery document, JWKS and PEM certificates for one key', async () => {
    const discovery = await call(sb.baseUrl, 'GET', '/.well-known/openid-configuration');
    expect(discovery.body).toMatchObject({ issuer: sb.baseUrl, jwks_uri: `${sb.baseUrl}/oauth2/v3/certs`, id_token_signing_alg_values_supported: ['RS256'] });
    const jwks = (await call(sb.baseUrl, 'GET', '/oauth2/v3/certs')).body.keys as Array<Record<string, string>>;
    expect(jwks).toHaveLength(1);
    expect(jwks[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
    const pems = (await call(sb.baseUrl, 'GET', '/oauth2/v1/certs')).body as Record<string, string>;
    const pem = pems[jwks[0]?.kid ?? ''] ?? '';
    const cert = new X509Certificate(pem);
    expect(cert.verify(cert.publicKey)).toBe(true);
    const fromJwk = createPublicKey({ key: { kty: 'RSA', n: jwks[0]?.n ?? '', e: jwks[0]?.e ?? '' }, format: 'jwk' });
    expect(fromJwk.export({ type: 'spki', format: 'pem' })).toBe(cert.publicKey.export({ type: 'spki', format: 'pem' }));
  });

  it('verifyIdToken (PEM certs fetched from the sandbox) accepts a minted token with Google-like claims', async () => {
    const ticket = await verifier().verifyIdToken({ idToken: await mint(AUDIENCE), audience: AUDIENCE });
    const payload = ticket.getPayload();
    expect(payload).toMatchObject({ iss: sb.baseUrl, aud: AUDIENCE, email: SA, email_verified: true });
    expect(payload?.sub).toMatch(/^\d{21}$/);
    expect(payload?.azp).toBe(payload?.sub);
    expect((payload?.exp ?? 0) - (payload?.iat ?? 0)).toBe(3600);
  });

  it('verifySignedJwtWithCertsAsync with the fetched certs; another audience fails', async () => {
    const client = verifier();
    const { certs } = await client.getFederatedSignonCertsAsync();
    const ticket = await client.verifySignedJwtWithCertsAsync(await mint(AUDIENCE), certs, AUDIENCE, [sb.baseUrl]);
    expect(ticket.getPayload()?.email).toBe(SA);
    await expect(client.verifySignedJwtWithCertsAsync(await mint('https://other.example.test'), certs, AUDIENCE, [sb.baseUrl])).rejects.toThrow(/Wrong recipient/);
    await expect(client.verifySignedJwtWithCertsAsync(await mint(AUDIENCE), certs, AUDIENCE, ['https://accounts.google.com'])).rejects.toThrow(/Invalid issuer/);
    const token = await mint(AUDIENCE);
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await expect(client.verifySignedJwtWithCertsAsync(forged, certs, AUDIENCE, [sb.baseUrl])).rejects.toThrow();
  });

  it('can mint expired or unverified tokens for negative tests; verification refuses them', async () => {
    const client = verifier();
    const { certs } = await client.getFederatedSignonCertsAsync();
    const old = await call(sb.baseUrl, 'POST', '/sandbox/v1/idTokens', {
      audience: AUDIENCE,
      email: SA,
      issuedAtSeconds: Math.floor(Date.now() / 1000) - 7200,
      lifetimeSeconds: 600,
    });
    await expect(client.verifySignedJwtWithCertsAsync(String(old.body.idToken), certs, AUDIENCE, [sb.baseUrl])).rejects.toThrow(/Token used too late/);
    const unverified = await call(sb.baseUrl, 'POST', '/sandbox/v1/idTokens', { audience: AUDIENCE, email: SA, emailVerified: false });
    const ticket = await client.verifySignedJwtWithCertsAsync(String(unverified.body.idToken), certs, AUDIENCE, [sb.baseUrl]);
    expect(ticket.getPayload()?.email_verified).toBe(false);
  });

  it('tokeninfo?id_token= answers the claims of a valid token only', async () => {
    const ok = await call(sb.baseUrl, 'GET', `/tokeninfo?id_token=${await mint(AUDIENCE)}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ aud: AUDIENCE, email: SA, email_verified: 'true' });
    expect((await call(sb.baseUrl, 'GET', '/tokeninfo?id_token=a.b.c')).status).toBe(400);
  });

  it('refuses a bad mint request', async () => {
    expect((await call(sb.baseUrl, 'POST', '/sandbox/v1/idTokens', { audience: AUDIENCE })).status).toBe(400);
    expect((await call(sb.baseUrl, 'POST', '/sandbox/v1/idTokens', { audience: '', email: SA })).status).toBe(400);
  });
});
