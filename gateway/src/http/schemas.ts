// The gateway's own request schemas: the admin API, webhooks and jobs. What customers' clients
// send on /v1 is the wire contract (kaixu-contract), shared with them.
import { z } from 'zod'
import { MONTH_PATTERN, monthQuery, projectRefSchema, text } from 'kaixu-contract'
import { WEBHOOK_EVENTS } from '../services/webhooks.ts'

const nullableCount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional()

export const limitsBodySchema = z
  .object({
    deploysPerMonth: nullableCount,
    bytesPerMonth: nullableCount,
    perMinute: nullableCount,
    perDay: nullableCount,
  })
  .strict()

export const pricingBodySchema = z
  .object({
    centsPerDeploy: z.number().int().min(0).max(1_000_000_000),
    centsPerGb: z.number().int().min(0).max(1_000_000_000),
    effectiveFrom: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()

export const finalizeBodySchema = z
  .object({
    month: z.string().regex(MONTH_PATTERN, 'must be YYYY-MM'),
    customerId: z.string().min(1).max(64).optional(),
  })
  .strict()

export const invoicesQuery = monthQuery.extend({
  customer: z.string().min(1).max(64).optional(),
  format: z.enum(['json', 'csv']).optional(),
})

export const jobsQuery = z.object({
  state: z.enum(['created', 'retry', 'active', 'completed', 'cancelled', 'failed']).optional(),
  queue: z
    .string()
    .regex(/^[a-z-]{1,64}$/)
    .optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
})

export const jobParams = z.object({
  queue: z.string().regex(/^[a-z-]{1,64}$/, 'must be a queue name'),
  id: z.uuid(),
})

// --- accounts: customers, keys, Netlify tokens, projects, audit ---------------------------------

export const customerIdSchema = z.string().regex(/^cus_[0-9A-Za-z]{20}$/, 'must be a customer id')
export const keyIdSchema = z.string().regex(/^key_[0-9A-Za-z]{20}$/, 'must be an API key id')

export const customerParams = z.object({ id: customerIdSchema })
export const keyParams = customerParams.extend({ keyId: keyIdSchema })
export const projectParams = customerParams.extend({ project: projectRefSchema })

export const customerListQuery = z.object({ status: z.enum(['active', 'suspended']).optional() })

export const customerBodySchema = z.object({ name: text(200) }).strict()

export const keyBodySchema = z.object({ name: text(100).optional() }).strict()

export const auditQuery = monthQuery.extend({
  customer: customerIdSchema.optional(),
  action: z
    .string()
    .regex(
      /^[a-z_]+(?:\.[a-z_]+)*$/,
      'must be an action such as push.init, or a family such as push',
    )
    .optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'must be 1-1000')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .optional(),
  before: z
    .string()
    .regex(/^\d{1,18}$/, 'must be an audit entry id')
    .transform(Number)
    .optional(),
})

// Outgoing webhooks (issue 12).

/**
 * Where events are POSTed: http or https only (plain http is allowed for receivers on a private
 * network), no credentials in the URL (they would travel in clear and land in logs).
 */
export const webhookUrlSchema = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .max(2048)
  // Refinements run even when the URL check failed, so parse defensively.
  .refine((u) => {
    const parsed = URL.parse(u)
    return !parsed || (!parsed.username && !parsed.password)
  }, 'must not carry a user name or password')

export const webhookBodySchema = z
  .object({
    url: webhookUrlSchema,
    events: z.array(z.enum(WEBHOOK_EVENTS)).max(WEBHOOK_EVENTS.length).optional(),
  })
  .strict()

/** The operator also says whose endpoint it is; without `customerId`, the operator's own. */
export const adminWebhookBodySchema = webhookBodySchema
  .extend({ customerId: customerIdSchema.optional() })
  .strict()

export const webhookParams = z.object({
  id: z.string().regex(/^whe_[0-9A-Za-z]{20}$/, 'must be a webhook endpoint id'),
})
export const deliveryParams = z.object({
  id: z.string().regex(/^whd_[0-9A-Za-z]{20}$/, 'must be a webhook delivery id'),
})
export const deliveryListQuery = z
  .object({
    endpointId: webhookParams.shape.id.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict()
