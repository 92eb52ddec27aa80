import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { publishEvent } from '../../functions/core/events.js';
import { systemClock } from '../../functions/core/ports/clock.js';
import { createRuntime } from '../../functions/platform/runtime.js';
import { REPO_ROOT } from '../../infra/local/functions.js';
import { waitUntil } from '../fixtures/wait.js';
import { emulatorClients, emulatorHosts, testEnv, testProjectId } from './support.js';

/**
 * Issue 14: `npm run events` (infra/local/events.ts) follows `export-events` on the Pub/Sub
 * emulator of a local stack, as its stack.json describes it, and prints each event the pipeline
 * publishes as one JSON line; Ctrl-C removes its subscription.
 */
const projectId = testProjectId('events');
const { pubsub } = emulatorClients(projectId);
const dir = mkdtempSync(join(tmpdir(), 'events-follower-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run events', () => {
  it('prints each published event as one JSON line, and removes its subscription on Ctrl-C', async () => {
    const [topic] = await pubsub.createTopic('export-events');
    const pubsubHost = emulatorHosts().pubsubHost;
    writeFileSync(join(dir, 'stack.json'), JSON.stringify({ projectId, topics: { 'export-events': topic.name }, env: { PUBSUB_EMULATOR_HOST: pubsubHost } }));
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'infra/local/events.ts')], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOCAL_STACK_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let stderr = '';
    createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitUntil(async () => (stderr.includes('Following') ? true : undefined), { timeoutMs: 30_000, what: `the follower to subscribe (stderr: ${stderr})` });
      // The pipeline's own publisher and event shape.
      const rt = createRuntime(testEnv(projectId));
      const deps = { queue: rt.queue(), clock: systemClock };
      await publishEvent(deps, { type: 'consent.revoked', subject: 'consents/c1', appUserId: 'user-1', data: {} });
      await publishEvent(deps, { type: 'consent.expired', subject: 'consents/c2', appUserId: 'user-2', data: { expireTime: '2026-12-01T00:00:00.000Z' } });
      await waitUntil(async () => (lines.length >= 2 ? true : undefined), { timeoutMs: 30_000, what: 'two event lines' });
      const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>).sort((a, b) => String(a['id']).localeCompare(String(b['id'])));
      expect(events).toMatchObject([
        { id: 'consent.expired/consents/c2', type: 'consent.expired', subject: 'consents/c2', appUserId: 'user-2', data: { expireTime: '2026-12-01T00:00:00.000Z' } },
        { id: 'consent.revoked/consents/c1', type: 'consent.revoked', subject: 'consents/c1', appUserId: 'user-1', data: {} },
      ]);
      expect(lines.every((l) => !l.includes('\n'))).toBe(true);
      const [subscriptions] = await topic.getSubscriptions();
      expect(subscriptions).toHaveLength(1);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      const [after] = await topic.getSubscriptions();
      expect(after).toHaveLength(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});
