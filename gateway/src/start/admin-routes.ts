import { Router, type Request, type RequestHandler } from 'express'
import { jsonBody } from '../http/middleware/json-body.ts'
import { originOf } from '../http/origin.ts'
import { OPERATIONS, parseInput, type AdminServices, type AnyOperation } from './admin-api.ts'

const ROUTE_OF = {
  GET: 'get',
  POST: 'post',
  PUT: 'put',
  DELETE: 'delete',
} as const

/**
 * The operator's JSON API under /admin/api, generated from the operation list: one route per
 * operation, its input checked with the operation's schemas. Changes are audited as `admin` with
 * the request id, so an entry leads to its log lines.
 */
export function adminApiRoutes(services: AdminServices): Router {
  const router = Router()
  for (const o of Object.values(OPERATIONS) as AnyOperation[]) {
    const handlers: RequestHandler[] = o.body ? [jsonBody(o.bodyLimit)] : []
    router[ROUTE_OF[o.method]](o.route, ...handlers, async (req: Request, res) => {
      const input = parseInput(o, { path: req.params, query: req.query, body: req.body })
      const actor = { name: 'admin', requestId: String(req.id) }
      const out = await o.call(services, input, actor, originOf(req))
      const rendered = o.render?.(out, input.query)
      if (rendered) res.type(rendered.type).send(rendered.text)
      else res.status(o.status).json(out)
    })
  }
  return router
}
