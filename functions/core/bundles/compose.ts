import { invalidArgument, type FieldViolation } from '../errors.js';
import type { ExportDeps } from '../exports/deps.js';
import { grantName, type ExportJob } from '../exports/model.js';
import { grantPrefix } from '../exports/naming.js';
import type { BundleFormat } from '../ports/bundle-packer.js';
import { bundleId, bundleName, memberId, partialObject } from './model.js';
import { requestBundle } from './trigger.js';

/** At most this many exports in one `POST /v1/bundles`. */
export const MAX_BUNDLE_EXPORTS = 100;

export interface ComposeRequest {
  readonly format: BundleFormat;
  /** Export ids (not names), in the order the request named them. */
  readonly exports: readonly string[];
}

/**
 * A bundle of exports that were already requested, of any grants (consents and tenants, any
 * source): `POST /v1/bundles`. The same exports and format find the same bundle (its id is derived
 * from them, in any order), so a repeated request is idempotent, and a request naming exactly the
 * jobs of an earlier `POST /v1/exports {bundle}` finds that request's bundle.
 *
 * Exports of one grant: the bundle is that grant's, in its folder (as if the export request had
 * asked for it). Exports of several grants: the bundle is its own subject (`bundles/{id}`), in the
 * shared folder `{prefix}/bundles/`, every file under its grant's name in the archive, and the
 * manifest names each export's grant; erasing any of those consents deletes it
 * (`eraseBundlesOfJobs`). An export id that is malformed, repeated or unknown is a 400 naming
 * `exports[i]` (all of them at once), not a 404: the request's target is the bundle collection.
 */
export async function composeBundle(deps: ExportDeps, request: ComposeRequest) {
  const violations: FieldViolation[] = [];
  if (request.exports.length === 0) violations.push({ field: 'exports', description: 'must name at least one export' });
  if (request.exports.length > MAX_BUNDLE_EXPORTS) violations.push({ field: 'exports', description: `must name at most ${MAX_BUNDLE_EXPORTS} exports` });
  const first = new Map<string, number>();
  request.exports.forEach((id, i) => {
    const seen = first.get(id);
    if (seen !== undefined) violations.push({ field: `exports[${i}]`, description: `repeats exports[${seen}]` });
    else first.set(id, i);
  });
  if (violations.length > 0) throw invalidArgument(violations);

  const jobs = await Promise.all(request.exports.map((id) => deps.jobs.get(id)));
  jobs.forEach((job, i) => {
    if (!job) violations.push({ field: `exports[${i}]`, description: `exports/${request.exports[i]} does not exist` });
  });
  if (violations.length > 0) throw invalidArgument(violations);
  const found = jobs as ExportJob[];

  const grants = new Set(found.map(grantName));
  const users = new Set(found.map((j) => j.appUserId));
  const id = bundleId(request.format, request.exports);
  const only = found[0]!;
  const shared = grants.size === 1;
  return requestBundle(deps, {
    format: request.format,
    subject: shared ? grantName(only) : bundleName(id),
    // Events go to the app user when every export is one user's (tenants' have none).
    appUserId: users.size === 1 ? only.appUserId : '',
    folder: shared ? grantPrefix(deps.settings.objectPrefix, only) : sharedFolder(deps.settings.objectPrefix),
    jobs: request.exports,
  });
}

/** Bundles of several grants go to `{prefix}/bundles/{id}.{ext}` (`requestBundle` appends `bundles/`). */
const sharedFolder = (prefix: string) => (prefix ? `${prefix}/` : '');

/**
 * Erasure of a grant's jobs: every bundle that holds one of them (also bundles of several grants,
 * which live outside the grant's folder) is deleted, object, temporary object, memberships and
 * record. A build running meanwhile loses its record and abandons its upload; one that already
 * copied its object finds the jobs gone and deletes it. Call after the job records are deleted.
 */
export async function eraseBundlesOfJobs(deps: Pick<ExportDeps, 'bundles' | 'bundleMembers' | 'archive'>, jobs: readonly string[]): Promise<number> {
  const done = new Set<string>();
  for (const job of jobs) {
    for (let page = 0; page < 100; page++) {
      const { items } = await deps.bundleMembers.list({ where: { job }, pageSize: 100 });
      const fresh = items.filter(({ value }) => !done.has(value.bundle));
      if (fresh.length === 0) break;
      for (const { value } of fresh) {
        done.add(value.bundle);
        const bundle = await deps.bundles.get(value.bundle);
        if (bundle) {
          await deps.archive.delete(bundle.object);
          await deps.archive.delete(partialObject(bundle));
          await deps.bundles.delete(value.bundle);
        }
        await Promise.all([...(bundle?.jobs ?? []), job].map((j) => deps.bundleMembers.delete(memberId(j, value.bundle))));
      }
    }
  }
  return done.size;
}
