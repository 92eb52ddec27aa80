// The sandbox's OpenID Connect issuer: one RS256 key, served as JWKS and as PEM like Google's
// federated sign-on endpoints, minting ID tokens shaped like Google's for service accounts.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { StateStore } from '../lib/store.js';
import { selfSignedCertificate } from './certificate.js';

export const ID_TOKEN_LIFETIME_SECONDS = 3600;

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** A stable numeric subject for a service-account email (Google uses the account's unique id). */
export function subjectOf(email: string): string {
  const digest = createHash('sha256').update(email.toLowerCase()).digest();
  return '1' + (digest.readBigUInt64BE(0) % 10n ** 20n).toString().padStart(20, '0');
}

export class OidcIssuer {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  readonly kid: string;
  private readonly publicPem: string;

  constructor(store: StateStore) {
    let record = store.state.oidcKey;
    if (!record) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const spki = publicKey.export({ type: 'spki', format: 'der' });
      const kid = createHash('sha256').update(spki).digest('hex').slice(0, 40);
      record = {
        kid,
        privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        publicPem: selfSignedCertificate(privateKey, publicKey, 'sandbox-oidc.dataportability.local'),
      };
      store.state.oidcKey = record;
      store.changed();
    }
    this.privateKey = createPrivateKey(record.privateKeyPem);
    this.publicKey = createPublicKey(this.privateKey);
    this.kid = record.kid;
    this.publicPem = record.publicPem;
  }

  jwks(): { keys: Record<string, unknown>[] } {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return { keys: [{ kty: 'RSA', alg: 'RS256', use: 'sig', kid: this.kid, n: jwk.n, e: jwk.e }] };
  }

  pemCerts(): Record<string, string> {
    return { [this.kid]: this.publicPem };
  }

  mint(issuer: string, audience: string, email: string, options: { issuedAtSeconds?: number; lifetimeSeconds?: number; emailVerified?: boolean } = {}): string {
    const iat = options.issuedAtSeconds ?? Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', kid: this.kid, typ: 'JWT' };
    const sub = subjectOf(email);
    const payload = {
      aud: audience,
      azp: sub,
      email,
      email_verified: options.emailVerified ?? true,
      exp: iat + (options.lifetimeSeconds ?? ID_TOKEN_LIFETIME_SECONDS),
      iat,
      iss: issuer,
      sub,
    };
    const signed = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    return `${signed}.${b64url(sign('sha256', Buffer.from(signed), this.privateKey))}`;
  }

  /** The claims of a token signed by this issuer and not expired (real time), else undefined. */
  verify(token: string, issuer: string): Record<string, unknown> | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [h = '', p = '', s = ''] = parts;
    try {
      const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
      if (header.alg !== 'RS256' || header.kid !== this.kid) return undefined;
      if (!verify('sha256', Buffer.from(`${h}.${p}`), this.publicKey, Buffer.from(s, 'base64url'))) return undefined;
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
      if (claims.iss !== issuer || typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return undefined;
      return claims;
    } catch {
      return undefined;
    }
  }

  discovery(issuer: string): Record<string, unknown> {
    return {
      issuer,
      authorization_endpoint: `${issuer}/o/oauth2/v2/auth`,
      token_endpoint: `${issuer}/token`,
      revocation_endpoint: `${issuer}/revoke`,
      jwks_uri: `${issuer}/oauth2/v3/certs`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'email'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      claims_supported: ['aud', 'azp', 'email', 'email_verified', 'exp', 'iat', 'iss', 'sub'],
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
    };
  }
}
