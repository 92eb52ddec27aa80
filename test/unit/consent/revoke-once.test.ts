import { describe, expect, it } from 'vitest';
import { revokeConsent } from '../../../functions/core/consent/consents.js';
import type { Consent } from '../../../functions/core/consent/model.js';
import { consentDepsWithFakes } from '../../fakes/consent-deps.js';

/** Issue 13 item 13: one `consent.revoked` per revocation, however many revokes race. */
function withConsent(status: Consent['status'] = 'ACTIVE') {
  const env = consentDepsWithFakes();
  const consent: Consent = {
    appUserId: 'u1',
    groups: [{ resource: 'chrome.history', accessType: 'ONE_TIME' }],
    grantedAt: env.clock.now(),
    expiresAt: null,
    status,
    updatedAt: env.clock.now(),
    // No refresh token left (as after a reconsent is needed): nothing to reset upstream.
    token: null,
  };
  return { env, create: () => env.consents.create('c1', consent) };
}

const revokedEvents = (env: ReturnType<typeof consentDepsWithFakes>) => env.queue.on('export-events').filter((m) => (m.data as { type: string }).type === 'consent.revoked');

describe('revoke publishes consent.revoked once', () => {
  it('50 concurrent revokes: one event, one audit entry', async () => {
    const { env, create } = withConsent();
    await create();
    const answers = await Promise.all(Array.from({ length: 50 }, () => revokeConsent(env.deps, 'c1', 'app@p.iam.gserviceaccount.com')));
    expect(answers.every((a) => a.state === 'REVOKED')).toBe(true);
    expect(revokedEvents(env)).toHaveLength(1);
    expect((await env.audit.list({ pageSize: 10 })).items).toHaveLength(1);
  });

  it('a revocation whose event was lost to a crash is announced by the next revoke, with the same id', async () => {
    const { env, create } = withConsent('REVOKED');
    await create();
    // Revoked moments ago, no audit entry yet: the revoking call may still be publishing.
    await revokeConsent(env.deps, 'c1', 'app@p.iam.gserviceaccount.com');
    expect(revokedEvents(env)).toHaveLength(0);
    env.clock.advance(120_000);
    await revokeConsent(env.deps, 'c1', 'app@p.iam.gserviceaccount.com');
    await revokeConsent(env.deps, 'c1', 'app@p.iam.gserviceaccount.com');
    expect(revokedEvents(env).map((m) => (m.data as { id: string }).id)).toEqual(['consent.revoked/consents/c1']);
  });
});
