import { AppError } from '../errors.js';
import { grantKindOf, type ExportJob } from './model.js';

/**
 * Where a job's objects go and which record ids its sealed secrets are bound to. Object names are
 * `{prefix}/{appUserId}/{consentId}/{resource}/{exportTime}/{file}` for a consent's job (the user
 * id percent-encoded: the API admits only characters that stay a single, dot-free segment) and
 * `{prefix}/tenants/{tenantId}/{resource}/{exportTime}/{file}` for a tenant's job (ids are 32 hex
 * digits; a unit name is one of the source's fixed list, and is percent-encoded all the same).
 */

/** Cloud Storage's limit on an object name, in UTF-8 bytes. */
export const MAX_OBJECT_NAME_BYTES = 1024;
/** The longest file name an archive can bring (the export source adapters cut names to this). */
export const MAX_FILE_NAME_CHARS = 201;

type Named = Pick<ExportJob, 'grantKind' | 'appUserId' | 'consentId' | 'resource'>;

export function objectName(prefix: string, job: Named, exportTime: Date, file: string): string {
  return `${grantPrefix(prefix, job)}${unitSegment(job)}/${exportTime.toISOString().replace(/\.\d{3}Z$/, 'Z')}/${file}`;
}

/** Where every object of a job's grant lives: its consent's folder or its tenant's. */
export function grantPrefix(prefix: string, job: Pick<ExportJob, 'grantKind' | 'appUserId' | 'consentId'>): string {
  return grantKindOf(job) === 'tenant' ? tenantPrefix(prefix, job.consentId) : consentPrefix(prefix, job.appUserId, job.consentId);
}

/** Where every object of one tenant lives: `{prefix}/tenants/{tenantId}/`. */
export function tenantPrefix(prefix: string, tenantId: string): string {
  return `${prefix ? `${prefix}/` : ''}tenants/${encodeURIComponent(tenantId)}/`;
}

/** A consent's resource groups are names Google gives (dots, letters); a tenant's unit is encoded to stay one segment. */
const unitSegment = (job: Named) => (grantKindOf(job) === 'tenant' ? encodeURIComponent(job.resource) : job.resource);

/** Where every object of one consent lives: `{prefix}/{appUserId}/{consentId}/`. */
export function consentPrefix(prefix: string, appUserId: string, consentId: string): string {
  return `${prefix ? `${prefix}/` : ''}${encodeURIComponent(appUserId)}/${consentId}/`;
}

/**
 * Refuses, before anything is started upstream, a job whose longest possible object name would
 * exceed Cloud Storage's limit (it would fail only at upload, after a one-time grant was used).
 */
export function assertNameFits(prefix: string, job: Named): void {
  const longest = objectName(prefix, job, new Date('2026-01-01T00:00:00.000Z'), 'x'.repeat(MAX_FILE_NAME_CHARS));
  const bytes = Buffer.byteLength(longest, 'utf8');
  if (bytes > MAX_OBJECT_NAME_BYTES) {
    throw new AppError('INVALID_ARGUMENT', `object names of this export would be ${bytes} bytes, over Cloud Storage's ${MAX_OBJECT_NAME_BYTES}`, {
      reason: 'OBJECT_NAME_TOO_LONG',
      violations: [{ field: 'appUserId', description: `is too long to name this export's objects (${bytes} of ${MAX_OBJECT_NAME_BYTES} bytes with the prefix)` }],
    });
  }
}

/** The record id a file's sealed signed URL is bound to (a sealed URL moved to another file fails to open). */
export function signedUrlSecretId(id: string, index: number): string {
  return `${id}/${index}/url`;
}

/** The record id a file's sealed upload session is bound to. */
export function uploadSecretId(id: string, index: number): string {
  return `${id}/${index}`;
}
