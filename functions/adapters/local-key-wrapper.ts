import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { AppError } from '../core/errors.js';
import type { KeyWrapper } from '../core/ports/key-wrapper.js';

/**
 * KeyWrapper with a local 256-bit key (AES-256-GCM), for development and tests only: the
 * configuration refuses it in production. `keyRef` names the key by a fingerprint, so data sealed
 * under another local key fails clearly.
 */
export class LocalKeyWrapper implements KeyWrapper {
  private readonly ref: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('local key must be 32 bytes');
    this.ref = `local:${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
  }

  async wrap(dataKey: Buffer, aad: string) {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    return { wrappedKey: Buffer.concat([iv, cipher.getAuthTag(), body]), keyRef: this.ref };
  }

  async unwrap(wrappedKey: Buffer, keyRef: string, aad: string): Promise<Buffer> {
    if (keyRef !== this.ref) throw new AppError('INTERNAL', 'data key was wrapped by another key');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, wrappedKey.subarray(0, 12));
      decipher.setAuthTag(wrappedKey.subarray(12, 28));
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      return Buffer.concat([decipher.update(wrappedKey.subarray(28)), decipher.final()]);
    } catch (error) {
      throw new AppError('INTERNAL', 'data key does not unwrap for this record', { cause: error });
    }
  }
}
