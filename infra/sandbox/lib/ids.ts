import { randomBytes, randomUUID } from 'node:crypto';

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function newJobId(): string {
  return randomUUID();
}
