import { Router, type Request } from 'express'
import type { Actor } from '../../services/audit.ts'
import type { Onboarding } from '../../services/onboarding.ts'
import { jsonBody } from '../middleware/json-body.ts'
import {
  onboardingCreateSchema,
  onboardingListQuery,
  onboardingParams,
} from '../onboarding/schemas.ts'
import { customerParams } from '../schemas.ts'
import { parse } from '../validate.ts'

const admin = (req: Request): Actor => ({ name: 'admin', requestId: String(req.id) })

/** The origin the operator reached us at: the base of a link when KAIXU_PUBLIC_URL is unset. */
export const originOf = (req: Request) => `${req.protocol}://${req.get('host') ?? 'localhost'}`

/**
 * The operator's onboarding-link routes under /admin/api. Creating answers the link's URL (its
 * secret) once; listing and withdrawing never show it.
 */
export function adminOnboardingRoutes(onboarding: Onboarding): Router {
  const router = Router()
  const json = jsonBody('4kb')

  router.post('/customers/:id/onboarding-links', json, async (req, res) => {
    const { id } = parse(customerParams, req.params, 'path')
    const body = parse(onboardingCreateSchema, req.body ?? {}, 'body')
    res.status(201).json(await onboarding.create(id, body, admin(req), originOf(req)))
  })

  router.get('/onboarding-links', async (req, res) => {
    const q = parse(onboardingListQuery, req.query, 'query')
    res.json(
      await onboarding.list({
        customerId: q.customer,
        limit: q.limit,
        ...(q.before ? { before: q.before } : {}),
      }),
    )
  })

  router.delete('/onboarding-links/:id', async (req, res) => {
    const { id } = parse(onboardingParams, req.params, 'path')
    res.json(await onboarding.revoke(id, admin(req)))
  })

  return router
}
