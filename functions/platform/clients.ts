import type { ClientConfig } from '@google-cloud/pubsub';
import type { Settings } from '@google-cloud/firestore';
import type { StorageOptions } from '@google-cloud/storage';
import { createRequire } from 'node:module';
import type * as GoogleAuthLibrary from 'google-auth-library';
import { NodeRsCrc32c } from '../adapters/node-rs-crc32c.js';

/**
 * Client options for the Google Cloud SDKs, in production or against the local emulators. With an
 * emulator, the clients get an empty auth client: the emulators ignore credentials, and without one
 * the SDKs probe the GCE metadata server on every start (slow, and a MetadataLookupWarning).
 */
export function pubsubOptions(projectId: string, emulatorHost: string | undefined): ClientConfig {
  return emulatorHost ? { projectId, apiEndpoint: emulatorHost, emulatorMode: true, authClient: emulatorAuth() } : { projectId };
}

export function firestoreOptions(projectId: string, databaseId: string, emulatorHost: string | undefined): Settings {
  return {
    projectId,
    databaseId,
    ignoreUndefinedProperties: true,
    ...(emulatorHost ? { host: emulatorHost, ssl: false, authClient: emulatorAuth() } : {}),
  };
}

// The SDKs bundle their own copy of google-auth-library; an OAuth2Client of ours is accepted at run time.
// Loaded here, when a client is built for an emulator, not when the function starts.
function emulatorAuth(): ClientConfig['authClient'] {
  const { OAuth2Client } = createRequire(import.meta.url)('google-auth-library') as typeof GoogleAuthLibrary;
  return new OAuth2Client() as unknown as ClientConfig['authClient'];
}

/** Cloud Storage: locally the sandbox's JSON-API subset (a custom endpoint, no Google credentials). */
export function storageOptions(projectId: string, emulatorHost: string | undefined): StorageOptions {
  // The client's own CRC32C (for the manifest and downloads) on the fast implementation (loaded on first use).
  const crc32cFactory = new NodeRsCrc32c();
  const crc32cGenerator = () => {
    const running = crc32cFactory.start();
    return {
      update: (data: Buffer) => running.update(data),
      toString: () => running.value(),
      validate: (value: string) => running.value() === value,
    };
  };
  return emulatorHost ? { projectId, apiEndpoint: emulatorHost, crc32cGenerator } : { projectId, crc32cGenerator };
}
