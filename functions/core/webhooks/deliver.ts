import { AppError } from '../errors.js';
import type { JsonValue } from '../ports/work-queue.js';
import { isPublicAddress } from './addresses.js';
import type { WebhookDeps } from './deps.js';
import { secretRecordId, webhookName, type Webhook, type WebhookDelivery } from './model.js';
import { signatureHeader } from './signature.js';

/** An event of `export-events` as the fan-out reads it (the rest of its fields are passed on as they are). */
export type WebhookEvent = WebhookDelivery['event'];

const FANOUT_PAGE = 100;

/**
 * Fan-out: one `webhook-delivery` message per webhook that takes this event type. At least once: a
 * repeated event (or a retried fan-out) queues the deliveries again; receivers drop repeats by
 * `Webhook-Id`, the event id.
 */
export async function fanOutEvent(deps: Pick<WebhookDeps, 'webhooks' | 'queue' | 'clock'>, event: WebhookEvent): Promise<{ readonly deliveries: number }> {
  const enqueuedAt = deps.clock.now().toISOString();
  let deliveries = 0;
  let pageToken: string | undefined;
  do {
    const page = await deps.webhooks.list({ pageSize: FANOUT_PAGE, ...(pageToken ? { pageToken } : {}) });
    const matching = page.items.filter(({ value }) => takes(value, event.type));
    await Promise.all(
      matching.map(({ id }) => {
        const delivery: WebhookDelivery = { webhook: id, event, enqueuedAt };
        return deps.queue.publish('webhook-delivery', delivery as unknown as JsonValue, { webhook: id, eventId: event.id.slice(0, 1024) });
      }),
    );
    deliveries += matching.length;
    pageToken = page.nextPageToken;
  } while (pageToken);
  return { deliveries };
}

function takes(webhook: Webhook, type: string): boolean {
  return webhook.eventTypes.length === 0 || (webhook.eventTypes as readonly string[]).includes(type);
}

export type DeliveryResult = 'DELIVERED' | 'WEBHOOK_GONE' | 'NOT_SUBSCRIBED';

/**
 * One delivery attempt: POSTs the event, signed, to the webhook. A 2xx answer delivers it. Any other
 * outcome (another status, a redirect, a timeout, a refused connection) throws a retryable error,
 * so Pub/Sub redelivers it with backoff, until `giveUpAfterSeconds` after the fan-out: then the
 * failure is permanent and the worker records the delivery as undeliverable. An address outside the
 * policy (a name that now resolves to a private address) is refused at once, permanently. A
 * webhook deleted meanwhile drops the delivery.
 */
export async function deliverWebhook(deps: WebhookDeps, delivery: WebhookDelivery): Promise<DeliveryResult> {
  const webhook = await deps.webhooks.get(delivery.webhook);
  if (!webhook) return 'WEBHOOK_GONE';
  if (!takes(webhook, delivery.event.type)) return 'NOT_SUBSCRIBED';
  const now = deps.clock.now();
  const secrets = [await deps.vault.open(webhook.secret, secretRecordId(delivery.webhook))];
  if (webhook.previousSecret && webhook.previousSecretExpiresAt && webhook.previousSecretExpiresAt > now) {
    secrets.push(await deps.vault.open(webhook.previousSecret, secretRecordId(delivery.webhook)));
  }
  const body = JSON.stringify(delivery.event);
  const timestamp = Math.floor(now.getTime() / 1000);
  const { settings } = deps;
  const outcome = await deps.transport.post({
    url: webhook.url,
    headers: {
      'Content-Type': 'application/json',
      'User-Agent': 'dataportability-webhooks/1',
      'Webhook-Id': delivery.event.id,
      'Webhook-Timestamp': String(timestamp),
      'Webhook-Signature': signatureHeader(secrets, timestamp, body),
    },
    body,
    timeoutMs: settings.attemptTimeoutMs,
    maxResponseBytes: settings.maxResponseBytes,
    addressAllowed: settings.publicAddressesOnly ? isPublicAddress : () => true,
  });
  if (outcome.kind === 'answered' && outcome.status >= 200 && outcome.status < 300) return 'DELIVERED';
  const what = outcome.kind === 'answered' ? `answered HTTP ${outcome.status}` : outcome.reason;
  const about = `${webhookName(delivery.webhook)}, event ${delivery.event.id}`;
  if (outcome.kind === 'refused') {
    throw new AppError('FAILED_PRECONDITION', `WEBHOOK_ADDRESS_REFUSED: ${about}: ${what}`, { reason: 'WEBHOOK_ADDRESS_REFUSED', metadata: { webhook: delivery.webhook } });
  }
  const enqueuedAt = Date.parse(delivery.enqueuedAt);
  if (!(now.getTime() - enqueuedAt < settings.giveUpAfterSeconds * 1000)) {
    throw new AppError('FAILED_PRECONDITION', `WEBHOOK_GAVE_UP: ${about}: still failing ${settings.giveUpAfterSeconds} s after the fan-out; the last attempt ${what}`, {
      reason: 'WEBHOOK_GAVE_UP',
      metadata: { webhook: delivery.webhook },
    });
  }
  throw new AppError('UNAVAILABLE', `${about}: ${what}; will retry`, { reason: 'WEBHOOK_ATTEMPT_FAILED' });
}
