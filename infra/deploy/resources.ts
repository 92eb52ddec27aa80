/**
 * Names and fixed settings of everything the deployment creates besides the functions, topics and
 * subscriptions of infra/topology.ts and the jobs of infra/scheduler-jobs.ts.
 */
import { FUNCTION_DEPLOY, PUSH_INVOKER_ACCOUNT } from '../topology.js';
import { SCHEDULER_INVOKER_ACCOUNT } from '../scheduler-jobs.js';

/** APIs the deployment uses (enabled first). */
export const APIS = [
  'cloudresourcemanager.googleapis.com',
  'serviceusage.googleapis.com',
  'iam.googleapis.com',
  'cloudfunctions.googleapis.com',
  'run.googleapis.com',
  'cloudbuild.googleapis.com',
  'artifactregistry.googleapis.com',
  'pubsub.googleapis.com',
  'firestore.googleapis.com',
  'cloudscheduler.googleapis.com',
  'cloudkms.googleapis.com',
  'secretmanager.googleapis.com',
  'storage.googleapis.com',
  'logging.googleapis.com',
  'monitoring.googleapis.com',
  'dataportability.googleapis.com',
] as const;

export const KEY_RING = 'dataportability';
export const CRYPTO_KEY = 'refresh-token-key';
/** KMS rotates the key (new primary version) this often; old versions stay to unwrap old data keys. */
export const KEY_ROTATION_DAYS = 90;
export const OAUTH_SECRET = 'oauth-client-secret';
/** Pull subscription holding dead-lettered messages for operators (a topic without one loses them). */
export const DEAD_LETTER_HOLD = 'dead-letter-hold';
/** Pull subscription of the application on `export-events`. */
export const APP_EVENTS_SUBSCRIPTION = 'export-events-app';
export const APP_ACCOUNT = 'dp-app';
export const LOG_METRIC = 'dataportability-function-errors';
export const POLICY_PREFIX = 'dataportability: ';
export const SOURCE_LABEL = 'dataportability-source';
export const RUNTIME = 'nodejs20';

/** Every service account the deployment creates, with why it exists. */
export function serviceAccounts(): { id: string; displayName: string }[] {
  return [
    ...Object.entries(FUNCTION_DEPLOY).map(([fn, d]) => ({ id: d.serviceAccount, displayName: `dataportability: runtime of the ${fn} function` })),
    { id: PUSH_INVOKER_ACCOUNT, displayName: 'dataportability: Pub/Sub push to the workers' },
    { id: SCHEDULER_INVOKER_ACCOUNT, displayName: 'dataportability: Cloud Scheduler ticks' },
    { id: APP_ACCOUNT, displayName: 'dataportability: the application (calls api, reads export-events)' },
  ];
}

export const emailOf = (id: string, project: string) => `${id}@${project}.iam.gserviceaccount.com`;
export const pubsubAgent = (projectNumber: string) => `service-${projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`;
