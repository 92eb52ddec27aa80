// `npm run demo [-- --json]`: one full run for a sandbox user on the local stack (started here if
// none is running): connect, approve two groups one-time, export, deliver, verify, reset.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { crc32c } from '@node-rs/crc32';
import { storageOptions } from '../../functions/platform/clients.js';
import { stackClient } from './client.js';
import { REPO_ROOT } from './functions.js';
import { startStack, type Stack, type StackInfo } from './stack.js';

const json = process.argv.includes('--json');
const GROUPS = ['myactivity.search', 'chrome.history'];
const say = (line: string) => {
  if (!json) console.log(line);
};

async function runningStack(): Promise<{ info: StackInfo; stack?: Stack }> {
  const file = join(process.env['LOCAL_STACK_DIR'] ?? join(REPO_ROOT, '.local'), 'stack.json');
  if (existsSync(file)) {
    const info = JSON.parse(readFileSync(file, 'utf8')) as StackInfo;
    const alive = await fetch(`${info.functions['api']?.url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (alive) return { info };
  }
  say('No local stack is running: starting one for this demo...');
  const stack = await startStack({ dir: join(REPO_ROOT, '.local', 'demo'), sweepIntervalMs: 1_000, logFormat: 'json' });
  return { info: stack.info, stack };
}

async function main(): Promise<number> {
  const started = Date.now();
  const { info, stack } = await runningStack();
  try {
    const { sandbox, api, confirmReturn } = await stackClient(info);

    const appUserId = `demo-user-${Date.now()}`;
    const session = (await api('/v1/connectSessions', { appUserId, resources: GROUPS, returnUrl: info.returnUrls[0] })) as { connectUrl: string };
    say(`1. connect session for ${appUserId}: ${session.connectUrl}`);
    const start = await fetch(session.connectUrl, { redirect: 'manual' });
    const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const approval = (await (
      await sandbox('/sandbox/v1/consent', { authorizeUrl: start.headers.get('location'), grant: { resources: GROUPS, duration: 'ONE_TIME' }, user: `${appUserId}@example.com` })
    ).json()) as { redirectUrl: string };
    const callback = await fetch(approval.redirectUrl, { redirect: 'manual', headers: { Cookie: cookie } });
    const back = new URL(callback.headers.get('location') ?? 'http://invalid/');
    const consent = back.searchParams.get('consent');
    if (!consent) throw new Error(`no consent: ${back.href}`);
    // The demo is the application and its user came back in the same browser: it confirms the code.
    const confirmed = await confirmReturn(back.href);
    say(`2. consent: ${consent} (${back.searchParams.get('outcome')}, ${confirmed ? `confirmed: ${String(confirmed['state'])}` : 'no confirmation needed'})`);

    const created = (await api('/v1/exports', { consent })) as { exports: { name: string }[] };
    say(`3. exports requested: ${created.exports.map((e) => e.name).join(', ')}`);
    type Job = { name: string; resource: string; state: string; files: { object: string; bytes?: number; crc32c?: string }[] };
    let jobs: Job[] = [];
    const deadline = Date.now() + 180_000;
    const terminal = new Set(['DELIVERED', 'EXHAUSTED', 'NOT_GRANTED', 'FAILED', 'CANCELLED', 'ABORTED']);
    while (Date.now() < deadline) {
      jobs = ((await api(`/v1/exports?consent=${encodeURIComponent(consent)}`)) as { exports: Job[] }).exports;
      if (jobs.length > 0 && jobs.every((j) => terminal.has(j.state))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    say(`4. jobs: ${jobs.map((j) => `${j.resource}=${j.state}`).join(', ')}`);

    const storage = new Storage(storageOptions(info.projectId, info.services.sandbox.url));
    const verified: { resource: string; state: string; files: { object: string; bytes: number; crc32c: string }[] }[] = [];
    let allGood = jobs.length === GROUPS.length;
    for (const job of jobs) {
      const files = [];
      for (const f of job.files) {
        const [data] = await storage.bucket(info.bucket).file(f.object).download();
        const be = Buffer.alloc(4);
        be.writeUInt32BE(crc32c(data) >>> 0);
        const ok = data.length === f.bytes && be.toString('base64') === f.crc32c;
        allGood &&= ok;
        files.push({ object: f.object, bytes: data.length, crc32c: be.toString('base64') });
      }
      allGood &&= job.state === 'DELIVERED' && files.length > 0;
      verified.push({ resource: job.resource, state: job.state, files });
    }
    let finalConsent = (await api(`/v1/${consent}`)) as { state: string };
    for (let i = 0; i < 40 && finalConsent.state !== 'CLOSED'; i++) {
      await new Promise((r) => setTimeout(r, 250));
      finalConsent = (await api(`/v1/${consent}`)) as { state: string };
    }
    const calls = (await (await sandbox('/sandbox/v1/calls')).json()) as { calls: { path: string; status: number }[] };
    const reset = finalConsent.state === 'CLOSED' && calls.calls.some((c) => c.path === '/v1/authorization:reset' && c.status === 200);
    say(`5. consent ${finalConsent.state}; reset upstream: ${reset}`);
    const result = { consent, jobs: verified, reset, elapsedMs: Date.now() - started };
    if (json) console.log(JSON.stringify(result));
    else say(`${allGood && reset ? 'Everything delivered and verified' : 'Something is missing'} in ${(result.elapsedMs / 1000).toFixed(1)} s.`);
    return allGood && reset ? 0 : 1;
  } finally {
    await stack?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
