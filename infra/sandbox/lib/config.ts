import { z } from 'zod';

/** Behaviour switches of the sandbox; every field can be changed at run time (`PUT /sandbox/v1/config`). */
export interface SandboxConfig {
  /** Seconds from initiate (or retry) until a job completes by itself. */
  jobDurationSeconds: number;
  /** Per resource group override of `jobDurationSeconds`; a job takes the longest of its groups. */
  jobDurationSecondsByResource: Record<string, number>;
  /**
   * Groups whose jobs end FAILED instead of COMPLETE, with how many attempts fail: `{"youtube.music": 2}`
   * makes the first job and its first retry fail and the second retry complete.
   */
  failingResources: Record<string, number>;
  /** Total archive size of a job in bytes (split into parts of `archivePartBytes`). */
  archiveBytes: number;
  /** Per resource group override of `archiveBytes`; a job takes the largest of its groups. */
  archiveBytesByResource: Record<string, number>;
  /** Largest part; a bigger archive gives several URLs. At most 4,000,000,000 (no ZIP64). */
  archivePartBytes: number;
  /** Lifetime of signed archive URLs. */
  urlTtlSeconds: number;
  /** Days after completion during which an archive can be downloaded (then 404 NoSuchKey). */
  archiveRetentionDays: number;
  /** Lifetime of access tokens (`expires_in`). */
  accessTokenLifetimeSeconds: number;
  /** Lifetime of authorization codes. */
  authCodeLifetimeSeconds: number;
  /** Whether token responses of time-based (and Testing) grants carry `refresh_token_expires_in`. */
  includeRefreshTokenExpiresIn: boolean;
  /** Longest authorization URL accepted (path + query); longer → 400 like Google's URL limit. */
  maxAuthorizeUrlBytes: number;
  /** How a time-based group exported less than 24 h ago is refused. */
  timeBasedRefusal: 'RESOURCE_EXHAUSTED' | 'FAILED_PRECONDITION';
  /** Format of the `timestamp_after_24hrs` ErrorInfo metadata value. */
  timestampAfter24hrsFormat: 'RFC3339' | 'UNIX_SECONDS';
  /** Groups that stay one-time even under a 30/180-day grant. */
  oneTimeOnlyResources: string[];
  /** Retries allowed per job chain (`archiveJobs:retry`). */
  maxRetries: number;
  /**
   * Local extension of the Cloud Scheduler (off like the real API): accept 6-field cron schedules
   * with a leading seconds field and attempt deadlines from 1 s (Google: 5 fields, at least 15 s).
   */
  schedulerSecondsSchedules: boolean;
  /** Mews: seconds an export stays `Pending` after `exports/add`. */
  mewsPendingSeconds: number;
  /** Mews: seconds an export then stays `Processing` before it ends (`Success`, or a faulted `Failed`/`Expired`). */
  mewsProcessingSeconds: number;
  /** Mews: total bytes of the JSON Lines files of an export. */
  mewsExportBytes: number;
  /** Mews: per entity type override of `mewsExportBytes`. */
  mewsExportBytesByEntityType: Record<string, number>;
  /** Mews: largest file of an export; the bytes are spread evenly over ceil(total / this) files. */
  mewsFilePartBytes: number;
  /** Mews: lifetime of a file URL from the `exports/getAll` (or `add`) answer that handed it out. */
  mewsFileUrlTtlSeconds: number;
  /** Mews: `ExpiresUtc` = completion + this; a Success export reads `Expired` afterwards. */
  mewsExportRetentionSeconds: number;
}

export const MAX_PART_BYTES = 4_000_000_000;

export const DEFAULT_CONFIG: Readonly<SandboxConfig> = Object.freeze({
  jobDurationSeconds: 2,
  jobDurationSecondsByResource: {},
  failingResources: {},
  archiveBytes: 256 * 1024,
  archiveBytesByResource: {},
  archivePartBytes: 2 * 1024 * 1024 * 1024,
  urlTtlSeconds: 6 * 3600,
  archiveRetentionDays: 14,
  accessTokenLifetimeSeconds: 3599,
  authCodeLifetimeSeconds: 600,
  includeRefreshTokenExpiresIn: true,
  maxAuthorizeUrlBytes: 8192,
  timeBasedRefusal: 'RESOURCE_EXHAUSTED',
  timestampAfter24hrsFormat: 'RFC3339',
  oneTimeOnlyResources: [],
  maxRetries: 3,
  schedulerSecondsSchedules: false,
  mewsPendingSeconds: 1,
  mewsProcessingSeconds: 2,
  mewsExportBytes: 150_000,
  mewsExportBytesByEntityType: {},
  mewsFilePartBytes: 65_536,
  mewsFileUrlTtlSeconds: 600,
  mewsExportRetentionSeconds: 7 * 86400,
});

const seconds = z
  .number()
  .finite()
  .min(0)
  .max(10 * 365 * 86400);

const mewsBytes = z
  .number()
  .int()
  .min(1024)
  .max(1024 ** 4);

export const configPatchSchema = z
  .object({
    jobDurationSeconds: seconds,
    jobDurationSecondsByResource: z.record(z.string().max(200), seconds),
    failingResources: z.record(z.string().max(200), z.number().int().min(0).max(1000)),
    archiveBytes: z
      .number()
      .int()
      .min(0)
      .max(1024 ** 4),
    archiveBytesByResource: z.record(
      z.string().max(200),
      z
        .number()
        .int()
        .min(0)
        .max(1024 ** 4),
    ),
    archivePartBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(MAX_PART_BYTES),
    urlTtlSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86400),
    archiveRetentionDays: z.number().min(0).max(3650),
    accessTokenLifetimeSeconds: z
      .number()
      .int()
      .min(1)
      .max(86400 * 365),
    authCodeLifetimeSeconds: z.number().int().min(1).max(86400),
    includeRefreshTokenExpiresIn: z.boolean(),
    maxAuthorizeUrlBytes: z
      .number()
      .int()
      .min(256)
      .max(1024 * 1024),
    timeBasedRefusal: z.enum(['RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION']),
    timestampAfter24hrsFormat: z.enum(['RFC3339', 'UNIX_SECONDS']),
    oneTimeOnlyResources: z.array(z.string().max(200)).max(500),
    maxRetries: z.number().int().min(0).max(100),
    schedulerSecondsSchedules: z.boolean(),
    mewsPendingSeconds: seconds,
    mewsProcessingSeconds: seconds,
    mewsExportBytes: mewsBytes,
    mewsExportBytesByEntityType: z.record(z.string().max(100), mewsBytes),
    mewsFilePartBytes: z.number().int().min(4096).max(MAX_PART_BYTES),
    mewsFileUrlTtlSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86400),
    mewsExportRetentionSeconds: z
      .number()
      .int()
      .min(1)
      .max(365 * 86400),
  })
  .strict()
  .partial();

export type SandboxConfigPatch = z.infer<typeof configPatchSchema>;

export const MAX_PARTS = 1000;

/** Merges a validated patch; undefined when the result is inconsistent (too many archive parts). */
export function mergeConfig(base: SandboxConfig, patch: SandboxConfigPatch): SandboxConfig | undefined {
  const merged = { ...base, ...patch };
  const sizes = [merged.archiveBytes, ...Object.values(merged.archiveBytesByResource)];
  const mewsSizes = [merged.mewsExportBytes, ...Object.values(merged.mewsExportBytesByEntityType)];
  const archivesOk = sizes.every((b) => Math.ceil(b / merged.archivePartBytes) <= MAX_PARTS);
  const mewsOk = mewsSizes.every((b) => Math.ceil(b / merged.mewsFilePartBytes) <= MAX_PARTS);
  return archivesOk && mewsOk ? merged : undefined;
}
