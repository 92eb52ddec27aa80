import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * OAuth `state` and PKCE (RFC 7636, S256). The state is 256 random bits; only its SHA-256 is
 * stored (as the record id). The verifier (43 base64url characters) is stored encrypted under a
 * key derived from the state, so the stored record alone reveals neither.
 */
export interface PkcePair {
  readonly verifier: string;
  readonly challenge: string;
}

export function newState(): string {
  return randomBytes(32).toString('base64url');
}

export function newPkce(): PkcePair {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: challengeOf(verifier) };
}

export function challengeOf(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

export function hashState(state: string): string {
  return createHash('sha256').update(state, 'utf8').digest('hex');
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface SealedVerifier {
  readonly iv: string;
  readonly ciphertext: string;
  readonly tag: string;
}

function stateKey(state: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(state, 'utf8'), Buffer.from('dp-pkce-v1'), Buffer.from('verifier'), 32));
}

export function sealVerifier(verifier: string, state: string): SealedVerifier {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', stateKey(state), iv);
  const ciphertext = Buffer.concat([cipher.update(verifier, 'utf8'), cipher.final()]);
  return { iv: iv.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
}

/** The verifier, or undefined if the state does not open it. */
export function openVerifier(sealed: SealedVerifier, state: string): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', stateKey(state), Buffer.from(sealed.iv, 'base64'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
