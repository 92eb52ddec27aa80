import type { Clock } from './ports/clock.js';
import type { JsonValue, WorkQueue } from './ports/work-queue.js';

/** Events the application receives on the `export-events` topic. */
export const EVENT_TYPES = [
  'consent.granted',
  'consent.revoked',
  'consent.needs_reconsent',
  'consent.closed',
  'consent.expiring',
  'consent.expired',
  'export.delivered',
  'export.failed',
  'bundle.delivered',
  'bundle.failed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Publishes one application event. `id` is deterministic (type + subject + discriminator), so a
 * repeated publish (at-least-once) carries the same id and the application can drop duplicates.
 * Payloads name records and never carry secrets.
 */
export async function publishEvent(
  deps: { queue: WorkQueue; clock: Clock },
  event: { type: EventType; subject: string; appUserId: string; data: Record<string, JsonValue>; discriminator?: string },
): Promise<string> {
  const id = `${event.type}/${event.subject}${event.discriminator ? `/${event.discriminator}` : ''}`;
  return deps.queue.publish(
    'export-events',
    { id, type: event.type, subject: event.subject, appUserId: event.appUserId, time: deps.clock.now().toISOString(), data: event.data },
    { type: event.type, subject: event.subject, eventId: id },
  );
}
