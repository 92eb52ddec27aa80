import { AppError } from '../errors.js';
import type { ArchiveReader, OpenedObject } from '../ports/archive-reader.js';
import type { ExportDeps } from './deps.js';
import { jobName } from './model.js';

/** What a download answers: the object's file name (for Content-Disposition) and its bytes. */
export interface Download extends OpenedObject {
  readonly fileName: string;
}

/**
 * Opens a delivered object of an export for download: one of its files once copied into the
 * bucket (`DONE`), or its `manifest.json` once written. Anything else (an unknown export or file,
 * a file still copying, an erased object) is NOT_FOUND: the caller only ever reads what the
 * pipeline delivered for that export, never an arbitrary object of the bucket.
 */
export async function openDelivered(deps: Pick<ExportDeps, 'jobs'> & { readonly reader: ArchiveReader }, id: string, file: string): Promise<Download> {
  const job = await deps.jobs.get(id);
  if (!job) throw new AppError('NOT_FOUND', `${jobName(id)} not found`);
  const object = file === 'manifest.json' ? job.manifestObject : (job.files.find((f) => f.name === file && f.state === 'DONE')?.object ?? null);
  if (!object) throw new AppError('NOT_FOUND', `${jobName(id)} has no delivered file named ${file}`);
  const opened = await deps.reader.open(object);
  if (!opened) throw new AppError('NOT_FOUND', `${jobName(id)}: ${file} is no longer in the bucket (erased)`);
  return { ...opened, fileName: file };
}
