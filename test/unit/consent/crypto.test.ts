import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LocalKeyWrapper } from '../../../functions/adapters/local-key-wrapper.js';
import { challengeOf, hashState, newPkce, newState, openVerifier, sealVerifier } from '../../../functions/core/consent/pkce.js';
import { TokenVault } from '../../../functions/core/token-vault.js';

describe('token vault (envelope encryption)', () => {
  const vault = new TokenVault(new LocalKeyWrapper(randomBytes(32)));

  it('seals with a fresh data key per record and opens only for the same record', async () => {
    const a = await vault.seal('1//refresh-CANARY', 'consent-a');
    const b = await vault.seal('1//refresh-CANARY', 'consent-a');
    expect(a.wrappedKey).not.toBe(b.wrappedKey);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(JSON.stringify(a)).not.toContain('CANARY');
    expect(await vault.open(a, 'consent-a')).toBe('1//refresh-CANARY');
    await expect(vault.open(a, 'consent-b')).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('detects tampering with the ciphertext, tag or wrapped key', async () => {
    const sealed = await vault.seal('secret-value', 'c1');
    const flip = (b64: string) => {
      const buf = Buffer.from(b64, 'base64');
      buf[0] = (buf[0] ?? 0) ^ 1;
      return buf.toString('base64');
    };
    for (const field of ['ciphertext', 'tag', 'wrappedKey', 'iv'] as const) {
      await expect(vault.open({ ...sealed, [field]: flip(sealed[field]) }, 'c1')).rejects.toMatchObject({ code: 'INTERNAL' });
    }
  });

  it('refuses a record sealed under another local key', async () => {
    const other = new TokenVault(new LocalKeyWrapper(randomBytes(32)));
    const sealed = await other.seal('x', 'c1');
    await expect(vault.open(sealed, 'c1')).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});

describe('scenario 3: PKCE and state', () => {
  it('thousands of attempts: S256 challenges of unique 43-character verifiers, 256-bit unique states', () => {
    const verifiers = new Set<string>();
    const states = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const { verifier, challenge } = newPkce();
      expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(challenge).toBe(createHash('sha256').update(verifier).digest('base64url'));
      expect(challengeOf(verifier)).toBe(challenge);
      verifiers.add(verifier);
      const state = newState();
      expect(Buffer.from(state, 'base64url')).toHaveLength(32);
      states.add(state);
    }
    expect(verifiers.size).toBe(5000);
    expect(states.size).toBe(5000);
    // Under a second alone; a limit of 5 s was passed on a loaded machine (a limit, not a speed check).
  }, 60_000);

  it('stores the verifier sealed under the state, and the state only as a hash', () => {
    const state = newState();
    const { verifier } = newPkce();
    const sealed = sealVerifier(verifier, state);
    expect(JSON.stringify(sealed)).not.toContain(verifier);
    expect(openVerifier(sealed, state)).toBe(verifier);
    expect(openVerifier(sealed, newState())).toBeUndefined();
    expect(hashState(state)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashState(state)).not.toContain(state);
  });
});
