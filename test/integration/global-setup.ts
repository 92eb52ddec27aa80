import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmulators } from '../../infra/local/emulators.js';

declare module 'vitest' {
  export interface ProvidedContext {
    emulators: { firestoreHost: string; pubsubHost: string; logDir: string };
  }
}

/**
 * Starts the Firestore and Pub/Sub emulators once for the integration run and stops them (by
 * process group) afterwards. Test files isolate their data by using a project id of their own.
 * A missing gcloud/emulator/Java fails the run with a message saying how to install it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const logDir = mkdtempSync(join(tmpdir(), 'dp-emulators-'));
  const emulators = await startEmulators({ projectId: 'demo-test', logDir });
  project.provide('emulators', { firestoreHost: emulators.firestoreHost, pubsubHost: emulators.pubsubHost, logDir });
  return async () => {
    await emulators.stop();
  };
}
