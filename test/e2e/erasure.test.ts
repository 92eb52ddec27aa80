import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageOptions } from '../../functions/platform/clients.js';
import { notYet, waitUntil } from '../fixtures/wait.js';
import { waitMessagesDone } from '../fixtures/worker-log.js';
import { connectViaAutomation, startE2EStack, type E2EStack } from './stack.js';

/**
 * Scenario 12: disconnect with erasure during an export. Running jobs are cancelled upstream and
 * end ABORTED, the grant is reset, delivered archives and job records are deleted, workers that
 * get late messages write nothing, and a second erasure changes nothing.
 */
let stack: E2EStack;
let storage: Storage;
beforeAll(async () => {
  stack = await startE2EStack('erasure');
  storage = new Storage(storageOptions(stack.info.projectId, stack.info.services.sandbox.url));
});
afterAll(async () => {
  await stack?.stop();
});

interface Job {
  name: string;
  resource: string;
  state: string;
  upstreamJobId?: string;
  files: { object: string }[];
}

async function connect(user: string, resources: string[]) {
  const res = await stack.api('/v1/connectSessions', { body: { appUserId: user, resources, returnUrl: stack.info.returnUrls[0] } });
  const session = (await res.json()) as { connectUrl: string };
  const flow = await connectViaAutomation(stack, session.connectUrl, { duration: 'ONE_TIME', user: `${user}@example.com` });
  return flow.query['consent']!;
}

async function jobs(consent: string): Promise<Job[]> {
  return ((await (await stack.api(`/v1/exports?consent=${encodeURIComponent(consent)}`)).json()) as { exports: Job[] }).exports;
}

async function objectsUnder(prefix: string): Promise<string[]> {
  const [files] = await storage.bucket(stack.info.bucket).getFiles({ prefix });
  return files.map((f) => f.name);
}

describe('disconnect and erasure during an export', () => {
  it('erases delivered archives of one group and stops the group still running upstream', async () => {
    const consent = await connect('erase-user', ['myactivity.search', 'chrome.history']);
    const consentId = consent.split('/')[1]!;
    // One group finishes at once, the other runs for an hour upstream.
    await stack.sandbox('/sandbox/v1/config', { method: 'PUT', body: { jobDurationSeconds: 0, jobDurationSecondsByResource: { 'chrome.history': 3600 } } });
    const created = await stack.api('/v1/exports', { body: { consent } });
    expect(created.status).toBe(200);
    const delivered = await waitUntil(
      async () => {
        const js = await jobs(consent);
        const d = js.find((j) => j.resource === 'myactivity.search' && j.state === 'DELIVERED');
        const r = js.find((j) => j.resource === 'chrome.history' && j.state === 'IN_PROGRESS');
        return d && r ? { d, r } : notYet(js.map((j) => `${j.resource} ${j.state}`));
      },
      { what: 'one delivered job and one running', timeoutMs: 90_000, intervalMs: 300 },
    );
    const prefix = `erase-user/${consentId}/`;
    expect((await objectsUnder(prefix)).length).toBe(delivered.d.files.length + 1);

    await stack.sandbox('/sandbox/v1/calls', { method: 'DELETE' });
    const res = await stack.api(`/v1/${consent}:revoke`, { body: { erase: true } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { state: string; erased: boolean; appUserId: string };
    expect(body).toMatchObject({ state: 'REVOKED', erased: true, appUserId: '' });

    const calls = ((await (await stack.sandbox('/sandbox/v1/calls')).json()) as { calls: { method: string; path: string; status: number }[] }).calls;
    expect(calls.filter((c) => c.path === `/v1/archiveJobs/${delivered.r.upstreamJobId}:cancel`)).toHaveLength(1);
    expect(calls.filter((c) => c.path === '/v1/authorization:reset' && c.status === 200)).toHaveLength(1);
    expect(await objectsUnder(prefix)).toEqual([]);
    expect((await jobs(consent)).length).toBe(0);
    const doc = (await stack.firestore.collection('consents').doc(consentId).get()).data();
    expect(doc?.['token']).toBeNull();
    expect(doc?.['appUserId']).toBe('');

    // Late messages for the erased jobs: the workers find nothing to do and write nothing. Once
    // each message is handled (the worker logged its result), whatever it would write is written.
    const late: string[] = [];
    for (const j of [delivered.d, delivered.r]) {
      const id = j.name.split('/')[1]!;
      late.push(await stack.pubsub.topic(stack.info.topics['job-poll']).publishMessage({ json: { job: id } }));
      late.push(await stack.pubsub.topic(stack.info.topics['archive-transfer']).publishMessage({ json: { job: id, file: 0 } }));
      late.push(await stack.pubsub.topic(stack.info.topics['export-requested']).publishMessage({ json: { job: id } }));
    }
    const outcomes = await waitMessagesDone(stack.info.logDir, late, { timeoutMs: 30_000 });
    expect(late.map((id) => outcomes.get(id))).toEqual(late.map(() => ['handled ignored']));
    expect(await objectsUnder(prefix)).toEqual([]);
    expect((await stack.firestore.collection('jobs').where('consentId', '==', consentId).get()).size).toBe(0);

    // A second erasure is a no-op.
    await stack.sandbox('/sandbox/v1/calls', { method: 'DELETE' });
    const again = await stack.api(`/v1/${consent}:revoke`, { body: { erase: true } });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { state: string }).state).toBe('REVOKED');
    const later = ((await (await stack.sandbox('/sandbox/v1/calls')).json()) as { calls: { path: string }[] }).calls;
    expect(later.filter((c) => c.path.startsWith('/v1/'))).toEqual([]);
    const audit = await stack.firestore.collection('audit').where('subject', '==', consent).get();
    expect(audit.size).toBe(1);
  });

  it('a new export for a revoked consent is refused with FAILED_PRECONDITION', async () => {
    const consent = await connect('erase-user-2', ['chrome.history']);
    await stack.api(`/v1/${consent}:revoke`, { body: {} });
    const res = await stack.api('/v1/exports', { body: { consent } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { status: string; details: { reason?: string }[] } };
    expect(body.error.status).toBe('FAILED_PRECONDITION');
    expect(body.error.details.some((d) => d.reason === 'CONSENT_REVOKED')).toBe(true);
  });
});
