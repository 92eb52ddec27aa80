import { recordUndeliverable } from '../core/undeliverable.js';
import { pubsubFunction, safeIdPart } from '../platform/events.js';
import type { Runtime } from '../platform/runtime.js';

/**
 * Subscribed to the dead-letter topic: records every message whose delivery attempts ran out, with
 * the subscription it came from, so operators can see, replay or discard it. Idempotent per
 * (subscription, message id).
 */
export function deadletter(rt: Runtime) {
  return pubsubFunction(
    'deadletter',
    rt,
    (message) => message,
    async (message, ctx) => {
      const source = safeIdPart(message.attributes['CloudPubSubDeadLetterSourceSubscription'] ?? 'unknown-subscription', 'sha256-', true);
      const created = await recordUndeliverable(rt.undeliverableDeps(), message, {
        kind: 'DEAD_LETTERED',
        source,
        errorCode: null,
        errorMessage: null,
        violations: [],
      });
      ctx.logger.warn({ source, created }, 'dead-lettered message recorded');
    },
  );
}
