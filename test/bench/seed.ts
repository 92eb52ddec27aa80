// Seeding shared by the benchmarks: the records they need, written straight to Firestore (not timed).
import type { Consent } from '../../functions/core/consent/model.js';
import { withSchedule } from '../../functions/core/consent/schedule.js';
import type { ResourceGroup } from '../../functions/core/resource-groups.js';

/** The document id of the n-th seeded consent. */
export const benchConsentId = (n: number): string => `c${String(n).padStart(6, '0')}`;

/** The n-th seeded consent: ACTIVE, time-based for 30 days on the given groups, its first export due now. */
export function benchConsent(n: number, resources: readonly ResourceGroup[], now: Date): Consent {
  return withSchedule(
    {
      appUserId: `bench-user-${n}`,
      groups: resources.map((resource) => ({ resource, accessType: 'TIME_BASED' as const })),
      grantedAt: now,
      expiresAt: new Date(now.getTime() + 30 * 86_400_000),
      status: 'ACTIVE',
      updatedAt: now,
      token: null,
    },
    now,
  );
}
