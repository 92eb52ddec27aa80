import { jobName } from '../exports/model.js';
import { bundleName, type Bundle } from './model.js';

/** The API representation of a bundle: no upload session. */
export function bundleResource(id: string, bundle: Bundle) {
  return {
    name: bundleName(id),
    subject: bundle.subject,
    format: bundle.format,
    state: bundle.state,
    exports: bundle.jobs.map(jobName),
    object: bundle.object,
    ...(bundle.bytes !== null ? { bytes: bundle.bytes } : {}),
    ...(bundle.crc32c ? { crc32c: bundle.crc32c } : {}),
    ...(bundle.contents ? { failedExports: bundle.contents.exports.filter((e) => e.state !== 'DELIVERED').map((e) => jobName(e.job)) } : {}),
    ...(bundle.detail ? { detail: bundle.detail } : {}),
    createTime: bundle.createdAt.toISOString(),
    updateTime: bundle.updatedAt.toISOString(),
    ...(bundle.deliveredAt ? { deliverTime: bundle.deliveredAt.toISOString() } : {}),
  };
}
