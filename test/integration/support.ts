import { randomBytes } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { inject } from 'vitest';
import { firestoreOptions, pubsubOptions } from '../../functions/platform/clients.js';
import { developmentEnv } from '../fixtures/env.js';

/** A project id of its own for one test file: the emulators keep projects apart. */
export function testProjectId(label: string): string {
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 16);
  return `t-${clean}-${randomBytes(3).toString('hex')}`.replace(/-+/g, '-');
}

export function emulatorHosts() {
  return inject('emulators');
}

export function emulatorClients(projectId: string) {
  const hosts = emulatorHosts();
  return {
    firestore: new Firestore(firestoreOptions(projectId, '(default)', hosts.firestoreHost)),
    pubsub: new PubSub(pubsubOptions(projectId, hosts.pubsubHost)),
  };
}

/** The environment the functions read, pointed at the shared emulators and this file's project. */
export function testEnv(projectId: string): Record<string, string> {
  const hosts = emulatorHosts();
  return developmentEnv({
    GOOGLE_CLOUD_PROJECT: projectId,
    FIRESTORE_EMULATOR_HOST: hosts.firestoreHost,
    PUBSUB_EMULATOR_HOST: hosts.pubsubHost,
  });
}
