import express, { Router } from 'express'
import type { AccountService } from '../../services/accounts.ts'
import { invoicesToCsv, type Billing } from '../../services/billing.ts'
import { monthOf, type Clock } from '../../services/metering.ts'
import {
  finalizeBodySchema,
  invoicesQuery,
  limitsBodySchema,
  pricingBodySchema,
} from '../schemas.ts'
import { parse } from '../validate.ts'

/** The operator's API under /admin/api: limits, pricing and invoices across customers. */
export function adminRoutes(deps: {
  accounts: AccountService
  billing: Billing
  clock: Clock
}): Router {
  const { accounts, billing, clock } = deps
  const router = Router()
  const json = express.json({ limit: '16kb' })

  router.get('/customers/:id/limits', async (req, res) => {
    await billing.requireCustomer(req.params['id']!)
    res.json(await accounts.limitsReport(req.params['id']!))
  })

  router.put('/customers/:id/limits', json, async (req, res) => {
    const body = parse(limitsBodySchema, req.body ?? {}, 'body')
    res.json(await accounts.setLimits(req.params['id']!, body, 'admin'))
  })

  router.get('/pricing', async (_req, res) => {
    res.json({ versions: await billing.listPricing() })
  })

  router.post('/pricing', json, async (req, res) => {
    const body = parse(pricingBodySchema, req.body ?? {}, 'body')
    const version = await billing.setPricing(
      { ...body, effectiveFrom: body.effectiveFrom ? new Date(body.effectiveFrom) : undefined },
      'admin',
    )
    res.status(201).json(version)
  })

  router.get('/invoices', async (req, res) => {
    const q = parse(invoicesQuery, req.query, 'query')
    const invoices = await billing.invoices(
      q.month ? `${q.month}-01` : monthOf(clock.now()),
      q.customer,
    )
    if (q.format === 'csv') {
      res.type('text/csv').send(invoicesToCsv(invoices))
      return
    }
    res.json({ invoices })
  })

  router.post('/invoices/finalize', json, async (req, res) => {
    const body = parse(finalizeBodySchema, req.body ?? {}, 'body')
    res.json(await billing.finalize(`${body.month}-01`, 'admin', body.customerId))
  })

  return router
}
