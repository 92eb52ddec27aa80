import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GoogleIdTokenVerifier } from '../../functions/adapters/google-id-token-verifier.js';
import { AppError } from '../../functions/core/errors.js';
import { OidcIssuer } from '../../infra/sandbox/oidc/issuer.js';
import type { StateStore } from '../../infra/sandbox/lib/store.js';

/** Issue 14: an expired ID token says "expired", distinct from a wrong audience, issuer or signature. */
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'https://api.test';
const issuer = new OidcIssuer({ state: {}, changed: () => undefined } as unknown as StateStore);
const stranger = new OidcIssuer({ state: {}, changed: () => undefined } as unknown as StateStore);
let server: Server;
let verifier: GoogleIdTokenVerifier;

beforeAll(async () => {
  server = createServer((_req, res) => res.setHeader('Content-Type', 'application/json').end(JSON.stringify(issuer.pemCerts())));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const certsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs`;
  verifier = new GoogleIdTokenVerifier({ audience: AUDIENCE, allowedEmails: ['app@example.com'], issuers: [ISSUER], certsUrl });
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

async function refusal(token: string): Promise<{ code: string; reason: string | undefined; message: string }> {
  try {
    await verifier.verify(`Bearer ${token}`);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    const e = error as AppError;
    return { code: e.code, reason: e.reason, message: e.message };
  }
  throw new Error('accepted');
}

describe('GoogleIdTokenVerifier says why a token is refused', () => {
  const now = Math.floor(Date.now() / 1000);

  it('accepts a fresh token of an allowed caller', async () => {
    expect(await verifier.verify(`Bearer ${issuer.mint(ISSUER, AUDIENCE, 'app@example.com')}`)).toEqual({ email: 'app@example.com' });
  });

  it('an expired token → "expired"; a wrong audience, issuer or signature → each its own words', async () => {
    const expired = await refusal(issuer.mint(ISSUER, AUDIENCE, 'app@example.com', { issuedAtSeconds: now - 7200 }));
    expect(expired).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'ID_TOKEN_EXPIRED' });
    expect(expired.message).toMatch(/has expired/);
    const audience = await refusal(issuer.mint(ISSUER, 'https://other.test', 'app@example.com'));
    expect(audience).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'ID_TOKEN_WRONG_AUDIENCE' });
    expect(audience.message).toMatch(/audience/);
    const wrongIssuer = await refusal(issuer.mint('https://evil.test', AUDIENCE, 'app@example.com'));
    expect(wrongIssuer).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'ID_TOKEN_WRONG_ISSUER' });
    expect(wrongIssuer.message).toMatch(/issuer/);
    const [h, p] = stranger.mint(ISSUER, AUDIENCE, 'app@example.com').split('.');
    const forged = `${h}.${p}.${issuer.mint(ISSUER, AUDIENCE, 'app@example.com').split('.')[2]}`;
    expect(await refusal(forged)).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'ID_TOKEN_BAD_SIGNATURE' });
    for (const r of [expired, audience, wrongIssuer]) expect(r.message).not.toMatch(/app@example\.com|\{/);
  });

  it('a missing header and a caller off the allow-list keep their own answers', async () => {
    expect(await refusal('')).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'INVALID_ID_TOKEN' });
    expect(await refusal(issuer.mint(ISSUER, AUDIENCE, 'other@example.com'))).toMatchObject({ code: 'PERMISSION_DENIED', reason: 'CALLER_NOT_ALLOWED' });
  });
});
