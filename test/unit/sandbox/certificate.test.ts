import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { positiveInteger, selfSignedCertificate } from '../../../infra/sandbox/oidc/certificate.js';

describe('the sandbox certificate encoder', () => {
  it('encodes unsigned integers the way DER requires: minimal, with a zero byte only before a high bit', () => {
    const hex = (bytes: number[]) => positiveInteger(Buffer.from(bytes)).toString('hex');
    expect(hex([0x05])).toBe('020105');
    expect(hex([0x80])).toBe('02020080');
    // A leading zero before a byte below 0x80 is "illegal padding" to OpenSSL: it is dropped.
    expect(hex([0x00, 0x05])).toBe('020105');
    expect(hex([0x00, 0x00, 0x80])).toBe('02020080');
    expect(hex([0x00, 0x00])).toBe('020100');
    expect(hex([])).toBe('020100');
  });

  it('every certificate it makes parses and verifies (random serials start with a zero byte 1 in 256 times: 300 certificates meet one 69 % of the time)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    for (let i = 0; i < 300; i += 1) {
      const cert = new X509Certificate(selfSignedCertificate(privateKey, publicKey, 'sandbox'));
      expect(cert.verify(publicKey)).toBe(true);
      expect(cert.subject).toBe('CN=sandbox');
    }
    // Half a second alone; 15 s on a loaded machine (a limit, not a speed check).
  }, 60_000);
});
