import type { WebhookOutcome, WebhookRequest, WebhookTransport } from '../../functions/core/ports/webhook-transport.js';

/**
 * In-memory WebhookTransport: a DNS table, the requests posted (those whose address the request's
 * policy refused are not sent, as the adapter does), and scripted outcomes (default: HTTP 200).
 */
export class FakeWebhookTransport implements WebhookTransport {
  readonly hosts = new Map<string, readonly string[]>();
  readonly sent: WebhookRequest[] = [];
  readonly outcomes: WebhookOutcome[] = [];

  async resolve(hostname: string): Promise<readonly string[]> {
    return this.hosts.get(hostname) ?? [];
  }

  async post(request: WebhookRequest): Promise<WebhookOutcome> {
    const host = new URL(request.url).hostname.replace(/^\[|\]$/g, '');
    const addresses = this.hosts.get(host) ?? [host];
    if (!addresses.some(request.addressAllowed)) return { kind: 'refused', reason: 'the host resolves to no public address' };
    this.sent.push(request);
    return this.outcomes.shift() ?? { kind: 'answered', status: 200 };
  }
}
