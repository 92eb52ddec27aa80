import { AppError, isAppError } from '../errors.js';
import type { ExportDeps } from '../exports/deps.js';
import { isTerminalJob, leaseFree } from '../exports/model.js';
import type { BundleFormat } from '../ports/bundle-packer.js';
import { keep, put } from '../ports/record-store.js';
import { bundleId, bundleName, memberId, type Bundle } from './model.js';
import { bundleResource } from './views.js';

/** A WAITING bundle whose jobs all ended but whose trigger was lost is found by the sweep within this long. */
const WAITING_RECHECK_MS = 5 * 60_000;
/** A BUILDING bundle the sweep queued is queued again only after this long. */
const REQUEUE_MS = 60_000;

export interface BundleRequest {
  readonly format: BundleFormat;
  /** Whose data it is (`consents/{id}`): listed in the manifest and the events. */
  readonly subject: string;
  readonly appUserId: string;
  /** Where the bundle object goes (ends with `/`): the grant's folder in the archive bucket. */
  readonly folder: string;
  /** The request's jobs, in order. */
  readonly jobs: readonly string[];
}

/**
 * Records a bundle for the jobs of one export request (the same format and jobs find the same
 * bundle) and asks for its build if every job has already ended. The memberships are written
 * before the bundle, and the jobs are read after it: a job that ends meanwhile either finds its
 * membership (and triggers the build itself) or is seen ended here.
 */
export async function requestBundle(deps: ExportDeps, request: BundleRequest) {
  const id = bundleId(request.format, request.jobs);
  let bundle = await deps.bundles.get(id);
  if (!bundle) {
    await Promise.all(request.jobs.map((job) => createOnce(deps.bundleMembers.create(memberId(job, id), { bundle: id, job }))));
    const now = deps.clock.now();
    const packer = deps.packers[request.format];
    const fresh: Bundle = {
      format: request.format,
      subject: request.subject,
      appUserId: request.appUserId,
      jobs: [...request.jobs],
      object: `${request.folder}bundles/${id}.${packer.extension}`,
      state: 'WAITING',
      createdAt: now,
      updatedAt: now,
      checkAt: new Date(now.getTime() + WAITING_RECHECK_MS),
      lease: null,
      contents: null,
      checkpoint: null,
      attempts: 0,
      bytes: null,
      crc32c: null,
      md5: null,
      deliveredAt: null,
      detail: null,
    };
    const created = await createOnce(deps.bundles.create(id, fresh));
    bundle = created ? fresh : await deps.bundles.get(id);
    if (!bundle) throw new AppError('ABORTED', `${bundleName(id)} was deleted while it was being requested; try again`);
  }
  await triggerIfReady(deps, id, bundle);
  return bundleResource(id, bundle);
}

export async function getBundle(deps: Pick<ExportDeps, 'bundles'>, id: string) {
  const bundle = await deps.bundles.get(id);
  if (!bundle) throw new AppError('NOT_FOUND', `${bundleName(id)} not found`);
  return bundleResource(id, bundle);
}

/** A job ended: the bundles waiting for it are built if it was the last one. Safe to repeat. */
export async function jobEnded(deps: ExportDeps, job: string): Promise<void> {
  const page = await deps.bundleMembers.list({ where: { job }, pageSize: 100 });
  for (const { value } of page.items) await triggerIfReady(deps, value.bundle);
}

/**
 * Publishes the build of a WAITING bundle whose jobs have all ended (a job that no longer exists,
 * erased with its consent, counts as ended). Duplicates are harmless: the build takes a lease.
 */
export async function triggerIfReady(deps: ExportDeps, id: string, known?: Bundle): Promise<boolean> {
  const bundle = known ?? (await deps.bundles.get(id));
  if (!bundle || bundle.state !== 'WAITING') return false;
  const jobs = await Promise.all(bundle.jobs.map((j) => deps.jobs.get(j)));
  if (jobs.some((j) => j !== undefined && !isTerminalJob(j.state))) return false;
  await deps.queue.publish('bundle-requested', { bundle: id });
  return true;
}

/**
 * The bundles' durable timers (run by the poll sweep): a WAITING bundle is checked every few
 * minutes in case the trigger of its last job was lost; a BUILDING bundle whose worker died (its
 * lease ran out) is queued again.
 */
export async function sweepBundles(deps: ExportDeps): Promise<number> {
  const now = deps.clock.now();
  let queued = 0;
  for (const { id, value } of await deps.bundles.listDue({ where: { state: 'WAITING' }, field: 'checkAt', before: now, limit: deps.settings.sweepLimit })) {
    const due = value.checkAt?.getTime();
    const next = new Date(now.getTime() + WAITING_RECHECK_MS);
    const marked = await deps.bundles.update(id, (b) => (b && b.state === 'WAITING' && b.checkAt?.getTime() === due ? put({ ...b, checkAt: next }, b) : keep(null)), {
      basis: value,
    });
    if (marked && (await triggerIfReady(deps, id, marked))) queued++;
  }
  for (const { id, value } of await deps.bundles.listDue({ where: { state: 'BUILDING' }, field: 'checkAt', before: now, limit: deps.settings.sweepLimit })) {
    if (!leaseFree(value.lease, now)) continue;
    const due = value.checkAt?.getTime();
    const next = new Date(now.getTime() + REQUEUE_MS);
    const marked = await deps.bundles.update(
      id,
      (b) => (b && b.state === 'BUILDING' && b.checkAt?.getTime() === due && leaseFree(b.lease, now) ? put({ ...b, checkAt: next }, true) : keep(false)),
      { basis: value },
    );
    if (!marked) continue;
    await deps.queue.publish('bundle-requested', { bundle: id });
    queued++;
  }
  return queued;
}

/**
 * Erasure: the bundle records of a grant and their memberships are deleted (the bundle objects
 * live in the grant's folder, which the erasure deletes). A build running meanwhile loses its
 * lease and abandons its upload.
 */
export async function eraseBundles(deps: Pick<ExportDeps, 'bundles' | 'bundleMembers'>, subject: string): Promise<number> {
  let erased = 0;
  for (let page = 0; page < 100; page++) {
    const { items } = await deps.bundles.list({ where: { subject }, pageSize: 100 });
    if (items.length === 0) break;
    for (const { id, value } of items) {
      await Promise.all(value.jobs.map((job) => deps.bundleMembers.delete(memberId(job, id))));
      await deps.bundles.delete(id);
      erased++;
    }
  }
  return erased;
}

async function createOnce(created: Promise<void>): Promise<boolean> {
  try {
    await created;
    return true;
  } catch (error) {
    if (isAppError(error) && error.code === 'ALREADY_EXISTS') return false;
    throw error;
  }
}
