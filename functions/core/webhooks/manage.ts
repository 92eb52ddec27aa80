import { randomBytes } from 'node:crypto';
import { AppError, invalidArgument } from '../errors.js';
import type { EventType } from '../events.js';
import { keep, put, remove } from '../ports/record-store.js';
import { ipLiteral, isPublicAddress } from './addresses.js';
import type { WebhookDeps } from './deps.js';
import { secretRecordId, webhookName, type Webhook } from './model.js';
import { newSigningSecret } from './signature.js';

/** The API representation of a webhook: never its secret, sealed or not. */
export function webhookResource(id: string, w: Webhook, now: Date) {
  const grace = w.previousSecret && w.previousSecretExpiresAt && w.previousSecretExpiresAt > now ? w.previousSecretExpiresAt : undefined;
  return {
    name: webhookName(id),
    url: w.url,
    eventTypes: [...w.eventTypes],
    createTime: w.createdAt.toISOString(),
    updateTime: w.updatedAt.toISOString(),
    ...(grace ? { previousSecretExpireTime: grace.toISOString() } : {}),
  };
}

/**
 * Checks a webhook URL against the deployment's policy: https in production, and no address that
 * is not on the public internet (a literal one, or any address the name resolves to). The URL's
 * shape (http(s), no credentials, no fragment) is checked at the edge. A violation names `url`.
 */
export async function checkWebhookUrl(deps: Pick<WebhookDeps, 'transport' | 'settings'>, url: string): Promise<void> {
  const parsed = new URL(url);
  if (deps.settings.requireHttps && parsed.protocol !== 'https:') throw urlViolation('must be an https URL');
  if (!deps.settings.publicAddressesOnly) return;
  const literal = ipLiteral(parsed.hostname);
  if (literal !== undefined) {
    if (!isPublicAddress(literal)) throw urlViolation('must not point at a private, loopback, link-local or reserved address');
    return;
  }
  const addresses = await deps.transport.resolve(parsed.hostname);
  if (addresses.length === 0) throw urlViolation(`names a host that does not resolve (${parsed.hostname})`);
  if (!addresses.every(isPublicAddress)) throw urlViolation(`names a host that resolves to a private, loopback, link-local or reserved address (${parsed.hostname})`);
}

function urlViolation(description: string): AppError {
  return invalidArgument([{ field: 'url', description }]);
}

/** `POST /v1/webhooks`: a new webhook and its signing secret, shown here once and never again. */
export async function registerWebhook(deps: WebhookDeps, input: { url: string; eventTypes?: readonly EventType[] }) {
  await checkWebhookUrl(deps, input.url);
  const existing = await deps.webhooks.list({ pageSize: deps.settings.maxWebhooks });
  if (existing.items.length >= deps.settings.maxWebhooks) {
    throw new AppError('RESOURCE_EXHAUSTED', `at most ${deps.settings.maxWebhooks} webhooks can be registered; delete one first`, { reason: 'WEBHOOK_LIMIT' });
  }
  const id = randomBytes(16).toString('hex');
  const secret = newSigningSecret();
  const now = deps.clock.now();
  const webhook: Webhook = {
    url: input.url,
    eventTypes: [...new Set(input.eventTypes ?? [])],
    secret: await deps.vault.seal(secret, secretRecordId(id)),
    createdAt: now,
    updatedAt: now,
  };
  await deps.webhooks.create(id, webhook);
  return { ...webhookResource(id, webhook, now), secret };
}

export async function listWebhooks(deps: Pick<WebhookDeps, 'webhooks' | 'clock'>, query: { pageSize: number; pageToken?: string }) {
  const page = await deps.webhooks.list({ pageSize: query.pageSize, ...(query.pageToken ? { pageToken: query.pageToken } : {}) });
  const now = deps.clock.now();
  return {
    webhooks: page.items.map((i) => webhookResource(i.id, i.value, now)),
    ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
  };
}

export async function getWebhook(deps: Pick<WebhookDeps, 'webhooks' | 'clock'>, id: string) {
  const webhook = await deps.webhooks.get(id);
  if (!webhook) throw new AppError('NOT_FOUND', `${webhookName(id)} not found`);
  return webhookResource(id, webhook, deps.clock.now());
}

/** `DELETE /v1/webhooks/{id}`: deliveries already queued for it are dropped when they come. */
export async function deleteWebhook(deps: Pick<WebhookDeps, 'webhooks'>, id: string): Promise<Record<string, never>> {
  const found = await deps.webhooks.update(id, (w) => (w ? remove(true) : keep(false)));
  if (!found) throw new AppError('NOT_FOUND', `${webhookName(id)} not found`);
  return {};
}

/**
 * `POST /v1/webhooks/{id}:rotateSecret`: a new signing secret, shown once. The one it replaces stays
 * valid for the grace period (deliveries carry both signatures meanwhile), so a receiver can roll
 * the new secret out without dropping a delivery; a secret older than that is forgotten.
 */
export async function rotateWebhookSecret(deps: WebhookDeps, id: string) {
  if (!(await deps.webhooks.get(id))) throw new AppError('NOT_FOUND', `${webhookName(id)} not found`);
  const secret = newSigningSecret();
  const sealed = await deps.vault.seal(secret, secretRecordId(id));
  const now = deps.clock.now();
  const graceEnds = new Date(now.getTime() + deps.settings.rotationGraceSeconds * 1000);
  const rotated = await deps.webhooks.update(id, (w) => {
    if (!w) return keep(undefined);
    const { previousSecret: _old, previousSecretExpiresAt: _oldEnd, ...rest } = w;
    const next: Webhook = { ...rest, secret: sealed, previousSecret: w.secret, previousSecretExpiresAt: graceEnds, updatedAt: now };
    return put(next, next);
  });
  if (!rotated) throw new AppError('NOT_FOUND', `${webhookName(id)} not found`);
  return { ...webhookResource(id, rotated, now), secret };
}
