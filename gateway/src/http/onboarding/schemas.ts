import { z } from 'zod'
import { customerIdSchema, keyBodySchema, netlifyTokenBodySchema } from '../schemas.ts'

/** Onboarding links, at every edge: the admin API, the dashboard, the CLI and the client page. */

export const onboardingIdSchema = z
  .string()
  .regex(/^onb_[0-9A-Za-z]{20}$/, 'must be an onboarding link id')

export const onboardingParams = z.object({ id: onboardingIdSchema })

/** Hours are bounded here by the widest setting; the service holds them to the configured TTL. */
export const onboardingCreateSchema = z
  .object({
    note: keyBodySchema.shape.name,
    expiresInHours: z.coerce.number().int().min(1).max(720).optional(),
  })
  .strict()

export const onboardingListQuery = z.object({
  customer: customerIdSchema.optional(),
  before: z.string().max(100).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
})

/** The link's secret as it arrives; anything of another shape is simply an unknown link. */
export const linkSecretSchema = z.string().min(1).max(200)

export const onboardQuery = z.object({ link: linkSecretSchema })

export const onboardForm = z.object({
  link: linkSecretSchema,
  token: netlifyTokenBodySchema.shape.token,
  _csrf: z.string().max(200),
})
