import type { Clock } from '../ports/clock.js';
import type { RecordStore } from '../ports/record-store.js';
import type { WebhookTransport } from '../ports/webhook-transport.js';
import type { WorkQueue } from '../ports/work-queue.js';
import type { TokenVault } from '../token-vault.js';
import type { Webhook, WebhookSettings } from './model.js';

export interface WebhookDeps {
  readonly clock: Clock;
  readonly webhooks: RecordStore<Webhook>;
  readonly queue: WorkQueue;
  readonly vault: TokenVault;
  readonly transport: WebhookTransport;
  readonly settings: WebhookSettings;
}
