import { FUNCTIONS } from '../../infra/topology.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { afterAll, describe, expect, it } from 'vitest';
import { firestoreOptions, pubsubOptions } from '../../functions/platform/clients.js';
import { groupAlive, killGroup } from '../../infra/local/processes.js';
import type { StackInfo } from '../../infra/local/stack.js';
import { notYet, waitUntil } from '../fixtures/wait.js';

/**
 * `npm start` as a user runs it: the launcher brings up its own emulators and functions, writes
 * stack.json, serves /healthz through the api function, delivers a published message to its
 * function through the emulator's push subscription, and leaves no process behind on Ctrl-C.
 */
const dir = mkdtempSync(join(tmpdir(), 'dp-stack-'));
const launcher = spawn(process.execPath, ['--import', 'tsx', 'infra/local/start.ts'], {
  env: { ...process.env, LOCAL_STACK_DIR: dir },
  detached: true,
  stdio: ['ignore', 'pipe', 'pipe'],
});
let output = '';
launcher.stdout.on('data', (c: Buffer) => (output += c.toString()));
launcher.stderr.on('data', (c: Buffer) => (output += c.toString()));
const exited = new Promise<number | null>((resolve) => launcher.once('exit', (code) => resolve(code)));

afterAll(async () => {
  if (launcher.exitCode === null && launcher.pid) killGroup(launcher.pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('npm start (the local stack launcher)', () => {
  let info: StackInfo;

  it('starts everything and prints where it runs', async () => {
    await waitUntil(() => (output.includes('Press Ctrl-C') ? true : notYet(output.slice(-1_000))), { what: 'the launcher to print where everything runs', timeoutMs: 90_000 });
    info = JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8')) as StackInfo;
    expect(output).toContain(info.functions['api']!.url);
    expect(Object.keys(info.functions).sort()).toEqual(FUNCTIONS.map((f) => f.name).sort());
    expect(output).toContain(info.services.sandbox.url);
    expect(info.processes.length).toBeGreaterThanOrEqual(4);
  });

  it('answers GET /healthz through the served api function', async () => {
    const res = await fetch(`${info.functions['api']!.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('delivers a published message to its function through the push subscription', async () => {
    const pubsub = new PubSub(pubsubOptions(info.projectId, info.services.pubsub.host));
    const firestore = new Firestore(firestoreOptions(info.projectId, '(default)', info.services.firestore.host));
    try {
      const messageId = await pubsub.topic(info.topics['dead-letter']).publishMessage({ json: { probe: 'stack-test' } });
      const doc = await waitUntil(
        async () => {
          const snap = await firestore.collection('undeliverable').where('messageId', '==', messageId).get();
          return snap.empty ? undefined : snap.docs[0]!.data();
        },
        { what: 'the deadletter function to record the message', timeoutMs: 30_000 },
      );
      expect(doc['kind']).toBe('DEAD_LETTERED');
      expect(JSON.parse(Buffer.from(String(doc['dataBase64']), 'base64').toString())).toEqual({ probe: 'stack-test' });
    } finally {
      await pubsub.close();
      await firestore.terminate();
    }
  });

  it('stops every process it started on Ctrl-C', async () => {
    process.kill(launcher.pid!, 'SIGINT');
    expect(await exited).toBe(0);
    for (const p of info.processes) expect(groupAlive(p.pid), `${p.name} (pid ${p.pid})`).toBe(false);
  });
});
