import { describe, expect, it } from 'vitest';
import { TOPICS } from '../../functions/core/ports/work-queue.js';
import { FUNCTIONS, MAX_DELIVERY_ATTEMPTS, RETRY_POLICY, eventFunctions } from '../../infra/topology.js';

/** The deployment as data stays within what Pub/Sub and Cloud Functions accept. */
describe('topology', () => {
  it('push subscriptions: ack deadlines 10–600 s, retry backoff 0–600 s, 5–100 delivery attempts', () => {
    for (const f of eventFunctions()) {
      expect(f.ackDeadlineSeconds).toBeGreaterThanOrEqual(10);
      expect(f.ackDeadlineSeconds).toBeLessThanOrEqual(600);
      expect(f.maxDeliveryAttempts ?? MAX_DELIVERY_ATTEMPTS).toBeGreaterThanOrEqual(5);
      expect(f.maxDeliveryAttempts ?? MAX_DELIVERY_ATTEMPTS).toBeLessThanOrEqual(100);
    }
    expect(RETRY_POLICY.minimumBackoffSeconds).toBeGreaterThanOrEqual(0);
    expect(RETRY_POLICY.maximumBackoffSeconds).toBeLessThanOrEqual(600);
    expect(RETRY_POLICY.minimumBackoffSeconds).toBeLessThanOrEqual(RETRY_POLICY.maximumBackoffSeconds);
    expect(MAX_DELIVERY_ATTEMPTS).toBeGreaterThanOrEqual(5);
    expect(MAX_DELIVERY_ATTEMPTS).toBeLessThanOrEqual(100);
  });

  it('every worker topic is a known topic with exactly one function, and function names are unique', () => {
    const topics = eventFunctions().map((f) => f.topic);
    expect(new Set(topics).size).toBe(topics.length);
    for (const t of topics) expect(TOPICS).toContain(t);
    expect(new Set(FUNCTIONS.map((f) => f.name)).size).toBe(FUNCTIONS.length);
    expect(FUNCTIONS.filter((f) => f.trigger === 'http' && f.public).map((f) => f.name)).toEqual(['oauth']);
  });
});
