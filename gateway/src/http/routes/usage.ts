import { Router } from 'express'
import type { Billing } from '../../services/billing.ts'
import { monthOf, type Clock } from '../../services/metering.ts'
import { monthQuery } from 'kaixu-contract'
import { parse } from '../validate.ts'

/** A customer's own usage: `GET /v1/usage?month=YYYY-MM` (default: this month). */
export function usageRoutes(billing: Billing, clock: Clock): Router {
  const router = Router()
  router.get('/usage', async (req, res) => {
    const { month } = parse(monthQuery, req.query, 'query')
    res.json(
      await billing.usage(req.caller!.customerId, month ? `${month}-01` : monthOf(clock.now())),
    )
  })
  return router
}
