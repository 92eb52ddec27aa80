/**
 * The configuration each function reads, as the deploy runner needs it: which variables must be
 * set, which may be, and which come from Secret Manager.
 *
 * Until functions/platform/config.ts exports its per-function `variablesFor`, every function parses
 * the whole configuration (the schema of config.ts today), so every function gets every variable.
 */
import { FUNCTIONS } from '../topology.js';

export interface FunctionVariables {
  readonly required: readonly string[];
  readonly optional: readonly string[];
  readonly secrets: readonly string[];
}

const REQUIRED = [
  'GOOGLE_CLOUD_PROJECT',
  'OAUTH_CLIENT_ID',
  'OAUTH_CLIENT_SECRET',
  'OAUTH_PUBLIC_URL',
  'RETURN_URL_ALLOWLIST',
  'API_AUDIENCE',
  'API_ALLOWED_CALLERS',
  'ARCHIVE_BUCKET',
  'SCHEDULER_AUDIENCE',
  'SCHEDULER_ALLOWED_CALLERS',
] as const;
const OPTIONAL = [
  'APP_ENV',
  'LOG_LEVEL',
  'LOG_FORMAT',
  'RESOURCE_PREFIX',
  'FIRESTORE_DATABASE',
  'FIRESTORE_EMULATOR_HOST',
  'PUBSUB_EMULATOR_HOST',
  'SANDBOX_CLOCK_URL',
  'GOOGLE_ACCOUNTS_URL',
  'GOOGLE_OAUTH2_URL',
  'PORTABILITY_API_URL',
  'CONNECT_SESSION_TTL_SECONDS',
  'CONFIRMATION_CODE_TTL_SECONDS',
  'ID_TOKEN_ISSUERS',
  'ID_TOKEN_CERTS_URL',
  'TOKEN_KEY_PROVIDER',
  'KMS_KEY_NAME',
  'ARCHIVE_PREFIX',
  'STORAGE_EMULATOR_HOST',
  'TRANSFER_CHUNK_BYTES',
  'TRANSFER_CHECKPOINT_BYTES',
  'TRANSFER_BUDGET_SECONDS',
  'LEASE_SECONDS',
  'CONSENT_EXPIRING_LEAD_HOURS',
  'SCHEDULE_BATCH_SIZE',
  'LOCAL_TOKEN_KEY',
] as const;

export const FUNCTION_NAMES: readonly string[] = FUNCTIONS.map((f) => f.name);

export function variablesFor(fn: string): FunctionVariables {
  if (!FUNCTION_NAMES.includes(fn)) throw new Error(`unknown function ${fn}`);
  return { required: REQUIRED, optional: OPTIONAL, secrets: ['OAUTH_CLIENT_SECRET'] };
}
