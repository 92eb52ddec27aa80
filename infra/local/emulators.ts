import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, onPath, startProcess, waitForHttp, type ManagedProcess } from './processes.js';

/**
 * Google's Firestore and Pub/Sub emulators, each on a free loopback port in its own process
 * group. A missing tool fails with one message that says how to install it.
 */
export interface Emulators {
  readonly firestoreHost: string;
  readonly pubsubHost: string;
  readonly processes: readonly ManagedProcess[];
  stop(): Promise<void>;
}

export const INSTALL_HINT =
  'Install the Google Cloud CLI emulators and Java 17: ' +
  'apt-get install google-cloud-cli google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator openjdk-17-jre-headless ' +
  '(or: gcloud components install cloud-firestore-emulator pubsub-emulator beta).';

export class MissingToolError extends Error {
  constructor(what: string) {
    super(`${what} is not available. ${INSTALL_HINT}`);
    this.name = 'MissingToolError';
  }
}

export function checkEmulatorTools(): void {
  if (!onPath('gcloud')) throw new MissingToolError('gcloud (the Google Cloud CLI)');
  if (!onPath('java')) throw new MissingToolError('java (needed by the emulators)');
}

export async function startEmulators(options: { projectId: string; logDir: string }): Promise<Emulators> {
  checkEmulatorTools();
  const [firestorePort, pubsubPort] = [await freePort(), await freePort()];
  const env = {
    ...process.env,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
  };
  const firestoreLog = join(options.logDir, 'firestore-emulator.log');
  const pubsubLog = join(options.logDir, 'pubsub-emulator.log');
  const firestore = startProcess({
    name: 'firestore-emulator',
    command: 'gcloud',
    args: ['emulators', 'firestore', 'start', `--host-port=127.0.0.1:${firestorePort}`, `--project=${options.projectId}`],
    env,
    logFile: firestoreLog,
  });
  const pubsub = startProcess({
    name: 'pubsub-emulator',
    command: 'gcloud',
    args: ['beta', 'emulators', 'pubsub', 'start', `--host-port=127.0.0.1:${pubsubPort}`, `--project=${options.projectId}`],
    env,
    logFile: pubsubLog,
  });
  const processes = [firestore, pubsub];
  const stop = async () => {
    await Promise.all(processes.map((p) => p.stop()));
  };
  try {
    await Promise.all([
      waitForHttp(`http://127.0.0.1:${firestorePort}/`, firestore, 60_000, () => explain(firestoreLog)),
      waitForHttp(`http://127.0.0.1:${pubsubPort}/`, pubsub, 60_000, () => explain(pubsubLog)),
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { firestoreHost: `127.0.0.1:${firestorePort}`, pubsubHost: `127.0.0.1:${pubsubPort}`, processes, stop };
}

/**
 * Only the Firestore emulator (benchmarks and tools that need no Pub/Sub), on a free loopback port
 * in its own process group; `stop()` stops the group.
 */
export async function startFirestoreEmulator(options: {
  projectId: string;
  logDir: string;
}): Promise<{ readonly host: string; readonly process: ManagedProcess; stop(): Promise<void> }> {
  checkEmulatorTools();
  const port = await freePort();
  const logFile = join(options.logDir, 'firestore-emulator.log');
  const proc = startProcess({
    name: 'firestore-emulator',
    command: 'gcloud',
    args: ['emulators', 'firestore', 'start', `--host-port=127.0.0.1:${port}`, `--project=${options.projectId}`],
    env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' },
    logFile,
  });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/`, proc, 60_000, () => explain(logFile));
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return { host: `127.0.0.1:${port}`, process: proc, stop: () => proc.stop() };
}

function explain(logFile: string): string {
  let tail = '';
  try {
    tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    tail = '(no output)';
  }
  const missing = /not installed|component|No such file|could not find|Invalid choice/i.test(tail);
  return `${missing ? INSTALL_HINT + '\n' : ''}Last output (${logFile}):\n${tail}`;
}
