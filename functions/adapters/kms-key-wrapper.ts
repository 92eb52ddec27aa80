import type { KeyManagementServiceClient } from '@google-cloud/kms';
import { AppError } from '../core/errors.js';
import type { KeyWrapper } from '../core/ports/key-wrapper.js';
import { fromGrpcError } from './grpc-errors.js';

/**
 * KeyWrapper on Cloud KMS: `encrypt`/`decrypt` with the record id as additional authenticated
 * data. The key's primary version wraps; KMS finds the version itself when unwrapping.
 */
export class KmsKeyWrapper implements KeyWrapper {
  private client: Promise<KeyManagementServiceClient> | undefined;

  constructor(
    private readonly projectId: string,
    private readonly keyName: string,
  ) {}

  /** The KMS client is loaded on first use: functions that never open a token never pay for it. */
  private get kms(): Promise<KeyManagementServiceClient> {
    this.client ??= import('@google-cloud/kms').then((m) => new m.KeyManagementServiceClient({ projectId: this.projectId }));
    return this.client;
  }

  async wrap(dataKey: Buffer, aad: string) {
    try {
      const [result] = await (await this.kms).encrypt({ name: this.keyName, plaintext: dataKey, additionalAuthenticatedData: Buffer.from(aad, 'utf8') });
      if (!result.ciphertext) throw new AppError('UNAVAILABLE', 'KMS encrypt returned no ciphertext');
      return { wrappedKey: Buffer.from(result.ciphertext as Uint8Array), keyRef: this.keyName };
    } catch (error) {
      throw fromGrpcError(error, 'KMS encrypt');
    }
  }

  async unwrap(wrappedKey: Buffer, keyRef: string, aad: string): Promise<Buffer> {
    try {
      const [result] = await (await this.kms).decrypt({ name: keyRef, ciphertext: wrappedKey, additionalAuthenticatedData: Buffer.from(aad, 'utf8') });
      if (!result.plaintext) throw new AppError('INTERNAL', 'KMS decrypt returned no plaintext');
      return Buffer.from(result.plaintext as Uint8Array);
    } catch (error) {
      const mapped = fromGrpcError(error, 'KMS decrypt');
      // A wrong key or associated data is INVALID_ARGUMENT from KMS: an integrity failure, not bad input.
      throw mapped.code === 'INVALID_ARGUMENT' ? new AppError('INTERNAL', 'data key does not unwrap for this record', { cause: error }) : mapped;
    }
  }
}
