import { z } from 'zod';
import { EVENT_TYPES } from '../core/events.js';

/** What the webhook routes answer, as schemas (the OpenAPI document is generated from them). */
const time = z.string().meta({ format: 'date-time', description: 'RFC 3339, UTC' });

export const webhookResource = z
  .object({
    name: z.string().meta({ description: 'webhooks/{id}' }),
    url: z.string(),
    eventTypes: z.array(z.enum(EVENT_TYPES)).meta({ description: 'Empty: every event' }),
    createTime: time,
    updateTime: time,
    previousSecretExpireTime: time.optional().meta({ description: 'Until then the secret replaced by a rotation still signs deliveries' }),
  })
  .meta({ id: 'Webhook' });

export const webhookWithSecret = webhookResource
  .extend({ secret: z.string().meta({ description: 'The signing secret (whsec_…): shown in this answer only' }) })
  .meta({ id: 'WebhookWithSecret' });

export const webhookPage = z.object({ webhooks: z.array(webhookResource), nextPageToken: z.string().optional() }).meta({ id: 'WebhookPage' });

export const deleted = z.object({}).meta({ id: 'Empty' });
