import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures. Each delivery carries
 *
 * - `Webhook-Id`: the event id (the same on every retry and every repeat: drop duplicates by it);
 * - `Webhook-Timestamp`: the attempt's time, in Unix seconds;
 * - `Webhook-Signature`: `v1=<hex>` where hex is HMAC-SHA256, keyed with the signing secret (its
 *   UTF-8 bytes, `whsec_` prefix included), over `<timestamp>.<body>`. During a rotation's grace
 *   period the header lists one signature per valid secret, comma-separated (`v1=<new>,v1=<old>`);
 *   a receiver accepts the delivery when any of them matches.
 */
export const SIGNATURE_VERSION = 'v1';
/** How far a timestamp may be from the receiver's clock before `verifyWebhookSignature` refuses it. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** A fresh signing secret: `whsec_` and 256 random bits, base64url. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

export function signPayload(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** The `Webhook-Signature` header value for the given secrets (current first). */
export function signatureHeader(secrets: readonly string[], timestamp: number, body: string): string {
  return secrets.map((s) => `${SIGNATURE_VERSION}=${signPayload(s, timestamp, body)}`).join(',');
}

/**
 * The receiver's check (the README shows the same code without imports): true when the timestamp
 * is within `toleranceSeconds` of `now` and one `v1=` signature of the header matches the body.
 * `body` must be the raw request body, exactly as received.
 */
export function verifyWebhookSignature(input: {
  readonly secret: string;
  readonly body: string;
  readonly timestamp: string | null | undefined;
  readonly signature: string | null | undefined;
  readonly now?: Date;
  readonly toleranceSeconds?: number;
}): boolean {
  const { secret, body, timestamp, signature } = input;
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  const nowSeconds = Math.floor((input.now ?? new Date()).getTime() / 1000);
  if (Math.abs(nowSeconds - Number(timestamp)) > (input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex'), 'utf8');
  return signature.split(',').some((part) => {
    const [version, value = ''] = part.trim().split('=', 2);
    const given = Buffer.from(value, 'utf8');
    return version === SIGNATURE_VERSION && given.length === expected.length && timingSafeEqual(given, expected);
  });
}
