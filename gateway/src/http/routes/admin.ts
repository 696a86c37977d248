import { Router, type Request } from 'express'
import { jsonBody } from '../middleware/json-body.ts'
import type { AccountService } from '../../services/accounts.ts'
import { invoicesToCsv, type Billing } from '../../services/billing.ts'
import { monthOf, type Clock } from '../../services/metering.ts'
import {
  finalizeBodySchema,
  invoicesQuery,
  jobParams,
  jobsQuery,
  limitsBodySchema,
  pricingBodySchema,
} from '../schemas.ts'
import { parse } from '../validate.ts'
import { ERRORS } from '../../errors.ts'
import type { Operations } from '../../services/operations.ts'

/** Admin changes are audited with the request id, so an entry leads to its log lines. */
const admin = (req: Request) => ({ name: 'admin', requestId: String(req.id) })

/** The operator's API under /admin/api: limits, pricing and invoices across customers. */
export function adminRoutes(deps: {
  accounts: AccountService
  billing: Billing
  clock: Clock
  operations: Operations
}): Router {
  const { accounts, billing, clock } = deps
  const router = Router()
  const json = jsonBody('16kb')

  router.get('/customers/:id/limits', async (req, res) => {
    await billing.requireCustomer(req.params['id']!)
    res.json(await accounts.limitsReport(req.params['id']!))
  })

  router.put('/customers/:id/limits', json, async (req, res) => {
    const body = parse(limitsBodySchema, req.body ?? {}, 'body')
    res.json(await accounts.setLimits(String(req.params['id']), body, admin(req)))
  })

  router.get('/pricing', async (_req, res) => {
    res.json({ versions: await billing.listPricing() })
  })

  router.post('/pricing', json, async (req, res) => {
    const body = parse(pricingBodySchema, req.body ?? {}, 'body')
    const version = await billing.setPricing(
      { ...body, effectiveFrom: body.effectiveFrom ? new Date(body.effectiveFrom) : undefined },
      admin(req),
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
    res.json(await billing.finalize(`${body.month}-01`, admin(req), body.customerId))
  })

  // Background jobs: `state=failed` lists the dead ones (every attempt used).
  router.get('/jobs', async (req, res) => {
    const q = parse(jobsQuery, req.query, 'query')
    res.json({
      jobs: await deps.operations.listJobs({
        states: q.state ? [q.state] : undefined,
        queue: q.queue,
        limit: q.limit,
      }),
    })
  })

  router.post('/jobs/:queue/:id/retry', async (req, res) => {
    const { queue, id } = parse(jobParams, req.params, 'path')
    if (!(await deps.operations.retryJob(queue, id, admin(req)))) {
      throw ERRORS.notFound(`Dead job '${id}' in ${queue}`)
    }
    res.json({ retried: true, queue, id })
  })

  return router
}
