import { describe, expect, it } from 'vitest';
import { createConnectSession, startConsent } from '../../../functions/core/consent/connect.js';
import { completeConsentAndStart } from '../../../functions/core/exports/auto-start.js';
import { scopeOf } from '../../../functions/core/resource-groups.js';
import { consentDepsWithFakes, RETURN_URL } from '../../fakes/consent-deps.js';
import { exportDepsWithFakes } from '../../fakes/export-deps.js';

describe('autoStart on the OAuth callback (a session without confirmation)', () => {
  for (const autoStart of [true, false]) {
    it(`${autoStart ? 'requests' : 'does not request'} exports of the granted groups when autoStart is ${autoStart}`, async () => {
      const consent = consentDepsWithFakes();
      const exports = await exportDepsWithFakes();
      const deps = { consent: consent.deps, exports: () => ({ ...exports.deps, consents: consent.consents }) };
      const session = await createConnectSession(consent.deps, {
        appUserId: 'u1',
        resources: ['chrome.history', 'myactivity.search'],
        returnUrl: RETURN_URL,
        autoStart,
        confirmation: 'NONE',
      });
      const started = await startConsent(consent.deps, session.connectUrl.split('/connect/')[1]!);
      const code = consent.server.approve(started.state, [scopeOf('chrome.history')]);
      const request = { state: started.state, code, error: undefined, boundState: started.state };
      const done = await completeConsentAndStart(deps, request);
      expect(done).toMatchObject({ outcome: 'partial', started: autoStart });
      const jobs = exports.jobs.all();
      expect(jobs.map((j) => j.value.resource)).toEqual(autoStart ? ['chrome.history'] : []);
      expect(exports.queue.on('export-requested')).toHaveLength(autoStart ? 1 : 0);
    });
  }
});
