import type { EventType } from '../events.js';
import type { SealedSecret } from '../token-vault.js';

/**
 * An application's webhook endpoint. The signing secret is stored only sealed (envelope
 * encryption, the record name `webhooks/{id}` as associated data); after a rotation the previous
 * secret stays valid until `previousSecretExpiresAt` and deliveries are signed with both.
 */
export interface Webhook {
  readonly url: string;
  /** The event types delivered; empty means every event. */
  readonly eventTypes: readonly EventType[];
  readonly secret: SealedSecret;
  readonly previousSecret?: SealedSecret;
  readonly previousSecretExpiresAt?: Date;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface WebhookSettings {
  /** Production: only https URLs. */
  readonly requireHttps: boolean;
  /** Production: only public addresses, at registration and at every delivery (no SSRF). */
  readonly publicAddressesOnly: boolean;
  /** How long the previous secret stays valid after a rotation. */
  readonly rotationGraceSeconds: number;
  /** One delivery attempt, connection included. */
  readonly attemptTimeoutMs: number;
  /** The most of a receiver's answer that is read (then the connection is closed). */
  readonly maxResponseBytes: number;
  /** After this long since the event was fanned out, a failed attempt gives up (dead-letter record). */
  readonly giveUpAfterSeconds: number;
  /** Webhooks a deployment may register. */
  readonly maxWebhooks: number;
}

export const DEFAULT_WEBHOOK_SETTINGS: Omit<WebhookSettings, 'requireHttps' | 'publicAddressesOnly'> = {
  rotationGraceSeconds: 24 * 3600,
  attemptTimeoutMs: 10_000,
  maxResponseBytes: 64 * 1024,
  giveUpAfterSeconds: 24 * 3600,
  maxWebhooks: 50,
};

export function webhookName(id: string): string {
  return `webhooks/${id}`;
}

/** The associated data that binds a sealed secret to its webhook. */
export function secretRecordId(id: string): string {
  return webhookName(id);
}

/** A Pub/Sub message of the `webhook-delivery` topic: one event for one webhook (no secret). */
export interface WebhookDelivery {
  readonly webhook: string;
  readonly event: { readonly id: string; readonly type: string } & Readonly<Record<string, unknown>>;
  /** When the event was fanned out: the retry window starts here. */
  readonly enqueuedAt: string;
}
