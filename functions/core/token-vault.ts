import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppError } from './errors.js';
import type { KeyWrapper } from './ports/key-wrapper.js';

/**
 * A secret sealed with envelope encryption: a fresh 256-bit data key per record encrypts the
 * secret with AES-256-GCM; the data key is stored only wrapped by the key wrapper (KMS). Both
 * layers bind the record id as associated data, so a ciphertext moved to another record (another
 * user's consent) fails to open.
 */
export interface SealedSecret {
  readonly keyRef: string;
  readonly wrappedKey: string;
  readonly iv: string;
  readonly ciphertext: string;
  readonly tag: string;
}

export class TokenVault {
  constructor(private readonly wrapper: KeyWrapper) {}

  async seal(plaintext: string, recordId: string): Promise<SealedSecret> {
    const dataKey = randomBytes(32);
    try {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
      cipher.setAAD(Buffer.from(recordId, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const { wrappedKey, keyRef } = await this.wrapper.wrap(dataKey, recordId);
      return {
        keyRef,
        wrappedKey: wrappedKey.toString('base64'),
        iv: iv.toString('base64'),
        ciphertext: ciphertext.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
      };
    } finally {
      dataKey.fill(0);
    }
  }

  async open(sealed: SealedSecret, recordId: string): Promise<string> {
    const dataKey = await this.wrapper.unwrap(Buffer.from(sealed.wrappedKey, 'base64'), sealed.keyRef, recordId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(sealed.iv, 'base64'));
      decipher.setAAD(Buffer.from(recordId, 'utf8'));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
    } catch (error) {
      throw new AppError('INTERNAL', 'sealed secret does not open for this record', { cause: error });
    } finally {
      dataKey.fill(0);
    }
  }
}
