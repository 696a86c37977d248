import { Router, type ErrorRequestHandler, type Request } from 'express'
import { AppError, ErrorCode } from '../../errors.ts'
import type { Actor } from '../../services/audit.ts'
import type { Webhooks, WebhookScope } from '../../services/webhooks.ts'
import { jsonBody } from '../middleware/json-body.ts'
import { deliveryListQuery, deliveryParams, webhookBodySchema, webhookParams } from '../schemas.ts'
import { parse } from '../validate.ts'

/**
 * A customer's webhook routes under /v1: its own endpoints, which hear only its events. (The
 * operator's, over every endpoint, are operations of the admin API.)
 */
export function webhookRoutes(webhooks: Webhooks): Router {
  const router = Router()
  const json = jsonBody('16kb')
  const scope = (req: Request): WebhookScope => req.caller!.customerId
  const actor = (req: Request): Actor => ({
    name: `key:${req.caller!.apiKeyId}`,
    requestId: req.caller!.requestId,
    apiKeyId: req.caller!.apiKeyId,
  })

  router.get('/webhooks', async (req, res) => {
    res.json({ endpoints: await webhooks.listEndpoints(scope(req)) })
  })

  // The one answer that carries the signing secret: shown once, stored only vaulted.
  router.post('/webhooks', json, async (req, res) => {
    const body = parse(webhookBodySchema, req.body ?? {}, 'body')
    const customerId = req.caller!.customerId
    res
      .status(201)
      .json(
        await webhooks.createEndpoint(
          { customerId },
          { url: body.url, events: body.events },
          actor(req),
        ),
      )
  })

  router.delete('/webhooks/:id', async (req, res) => {
    const { id } = parse(webhookParams, req.params, 'path')
    await webhooks.removeEndpoint(id, scope(req), actor(req))
    res.json({ removed: id })
  })

  router.post('/webhooks/:id/enable', async (req, res) => {
    const { id } = parse(webhookParams, req.params, 'path')
    res.json(await webhooks.enableEndpoint(id, scope(req), actor(req)))
  })

  router.get('/webhook-deliveries', async (req, res) => {
    const query = parse(deliveryListQuery, req.query, 'query')
    res.json({ deliveries: await webhooks.listDeliveries(scope(req), query) })
  })

  router.get('/webhook-deliveries/:id/attempts', async (req, res) => {
    const { id } = parse(deliveryParams, req.params, 'path')
    res.json({ attempts: await webhooks.attempts(id, scope(req)) })
  })

  router.post('/webhook-deliveries/:id/resend', async (req, res) => {
    const { id } = parse(deliveryParams, req.params, 'path')
    await webhooks.resend(id, scope(req), actor(req))
    res.status(202).json({ resent: id })
  })

  return router
}

/**
 * Refusals the customer should hear about without watching its CI: a cap reached, or Netlify no
 * longer taking the stored token. Passes the error on unchanged to the error handler.
 */
export function reportRefusals(webhooks: Webhooks): ErrorRequestHandler {
  return async (err, req, _res, next) => {
    if (
      err instanceof AppError &&
      req.caller &&
      (err.code === ErrorCode.CapExceeded || err.code === ErrorCode.NetlifyTokenRejected)
    ) {
      await webhooks.requestRefused(req.caller.customerId, err.code, err.details)
    }
    next(err)
  }
}
