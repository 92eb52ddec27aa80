import { z } from 'zod';
import { SOURCE_NAMES } from '../core/ports/export-source.js';
import { TENANT_STATUSES } from '../core/tenants/model.js';

/** What the api answers about tenants (see resources.ts): never their keys. */
const time = z.string().meta({ format: 'date-time', description: 'RFC 3339, UTC' });

export const tenantResource = z
  .object({
    name: z.string().meta({ description: 'tenants/{id}' }),
    source: z.enum(SOURCE_NAMES),
    displayName: z.string(),
    platformAddress: z.string(),
    state: z.enum(TENANT_STATUSES),
    schedule: z
      .object({
        entityTypes: z.array(z.string()),
        intervalHours: z.number().int().meta({ description: 'Hours between scheduled exports (1-8784)' }),
        paused: z.boolean(),
        nextExportTime: time.optional().meta({ description: 'When the next scheduled export is requested (absent once the tenant is deleted)' }),
        lastRequestTime: time.optional().meta({ description: 'The slot of the last scheduled export request' }),
      })
      .optional()
      .meta({ description: 'Scheduled exports; absent: none' }),
    createTime: time,
    updateTime: time,
  })
  .meta({ id: 'Tenant' });

export const tenantPage = z.object({ tenants: z.array(tenantResource), nextPageToken: z.string().optional() }).meta({ id: 'TenantPage' });
