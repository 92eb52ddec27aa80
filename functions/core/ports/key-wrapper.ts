/**
 * Wraps and unwraps data keys (envelope encryption). Production: Cloud KMS; development: a local
 * key. `aad` (associated data, the consent id) must be given again to unwrap: a wrapped key
 * cannot be moved to another record. Failures to unwrap reject with AppError `INTERNAL` (wrong
 * key or associated data) or a retryable AppError (KMS unavailable).
 */
export interface KeyWrapper {
  wrap(dataKey: Buffer, aad: string): Promise<{ readonly wrappedKey: Buffer; readonly keyRef: string }>;
  unwrap(wrappedKey: Buffer, keyRef: string, aad: string): Promise<Buffer>;
}
