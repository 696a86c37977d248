import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import express, { type Express, type Request, type Router } from 'express'
import helmet from 'helmet'
import { pinoHttp } from 'pino-http'
import { withLogContext } from '../lib/logger.ts'
import type { AppServices } from '../services/index.ts'
import { createMetrics } from './metrics.ts'
import { requireAdmin } from './middleware/admin-auth.ts'
import { requireApiKey } from './middleware/auth.ts'
import { closeUnreadBodies } from './middleware/close-unread.ts'
import { cors } from './middleware/cors.ts'
import { errorHandler, notFoundHandler } from './middleware/error-handler.ts'
import { healthRoutes } from './routes/health.ts'
import { historyRoutes } from './routes/history.ts'
import { accountRoutes } from './routes/account.ts'
import { onboardingPage } from './onboarding/page.ts'
import { pushRoutes } from './routes/push.ts'
import { dashboardRoutes } from './dashboard/routes.ts'
import { usageRoutes } from './routes/usage.ts'
import { reportRefusals, webhookRoutes } from './routes/webhooks.ts'

export interface AppOptions {
  /** The operator's JSON API (start/admin-routes.ts), mounted under /admin/api behind the token. */
  adminApi: Router
  /** Mounted first when the built-in Netlify sandbox serves from this process. */
  sandbox?: Router | undefined
  state: { draining: boolean }
}

const REQUEST_ID = /^[\w.:-]{1,128}$/

/** Polled by load balancers and scrapers: their access lines go at debug. */
const POLLED = new Set(['/healthz', '/readyz', '/metrics'])
const PUSH_ID = /^push_[A-Za-z0-9]{1,64}$/

// originalUrl: routers mounted on a prefix rewrite req.url.
const pathOf = (req: IncomingMessage) =>
  ((req as Request).originalUrl ?? req.url ?? '/').split('?', 1)[0]!

const numberOr = (value: unknown) => {
  const n = Number(value)
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/**
 * One access line: what an operator reads (method, path without its query, status, time, the
 * customer, key and push concerned, bytes in and out), never headers or the query string, which
 * clients fill with whatever they like (secrets included).
 */
function accessLine(req: IncomingMessage, res: ServerResponse, ms: number) {
  const r = req as Request
  const caller = r.caller
  const candidate =
    (r.query as Record<string, unknown> | undefined)?.['pushId'] ??
    (r.body as Record<string, unknown> | undefined)?.['pushId']
  const pushId = typeof candidate === 'string' && PUSH_ID.test(candidate) ? candidate : undefined
  const bytesIn = numberOr(req.headers['content-length'])
  const bytesOut = numberOr(res.getHeader('content-length'))
  return {
    method: req.method,
    route: pathOf(req),
    status: res.statusCode,
    ms,
    ...(caller ? { customerId: caller.customerId, keyId: caller.apiKeyId } : {}),
    ...(pushId ? { pushId } : {}),
    ...(bytesIn ? { bytesIn } : {}),
    ...(bytesOut ? { bytesOut } : {}),
  }
}

/** Builds the Express app (no listen), so tests and entry points share one composition. */
export function createApp(deps: AppServices, options: AppOptions): Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('query parser', 'simple')
  app.use(
    pinoHttp({
      logger: deps.logger,
      // Reuse a caller's request id only when it is sane, so ids can be followed across hops
      // without letting clients inject arbitrary text into our logs.
      genReqId: (req, res) => {
        const inbound = req.headers['x-request-id']
        const id = typeof inbound === 'string' && REQUEST_ID.test(inbound) ? inbound : randomUUID()
        res.setHeader('X-Request-Id', id)
        return id
      },
      // Lines written through req.log carry the request id only, not the raw request.
      quietReqLogger: true,
      quietResLogger: true,
      customLogLevel: (req, res, err) =>
        err || res.statusCode >= 500
          ? POLLED.has(pathOf(req))
            ? 'warn'
            : 'error'
          : POLLED.has(pathOf(req))
            ? 'debug' // load balancers and scrapers poll these every few seconds
            : res.statusCode >= 400
              ? 'warn'
              : 'info',
      customSuccessObject: (req, res, val: { responseTime: number }) =>
        accessLine(req, res, val.responseTime),
      customErrorObject: (req, res, err, val: { responseTime: number }) => ({
        ...accessLine(req, res, val.responseTime),
        ...(res.statusCode >= 500 ? { err } : {}),
      }),
    }),
  )
  app.use(closeUnreadBodies)
  // Every log line written while serving a request carries its id, service lines included.
  app.use((req, _res, next) => withLogContext({ reqId: String(req.id) }, next))
  if (options.sandbox) app.use(options.sandbox)
  const metrics = createMetrics(deps.reporting.gauges, deps.logger)
  app.use(metrics.middleware)
  // While draining, answers close their connection so keep-alive clients reconnect elsewhere.
  app.use((_req, res, next) => {
    if (options.state.draining) res.setHeader('Connection', 'close')
    next()
  })
  app.use(helmet())
  app.use(
    healthRoutes({
      operations: deps.operations,
      state: options.state,
      metrics,
      metricsToken: deps.config.metricsToken,
    }),
  )
  app.use('/admin/api', requireAdmin(deps.config.adminToken), options.adminApi)
  // The operator's dashboard: HTML pages with a session cookie (the API above takes the token).
  app.use('/admin', dashboardRoutes(deps))
  // A customer's side of an onboarding link: a page, no key needed (the link is the credential).
  app.use('/onboard', onboardingPage(deps.onboarding))
  app.use(
    '/v1',
    // Before the key check: a preflight carries no key, and an error needs the header to be read.
    cors(deps.config.corsOrigins),
    requireApiKey(deps.accounts, deps.config.adminToken),
    accountRoutes(deps.accounts),
    pushRoutes(deps.pushes, deps.chunked, deps.batch, deps.idempotency, deps.config, options.state),
    usageRoutes(deps.billing, deps.clock),
    historyRoutes({ reporting: deps.reporting, pushes: deps.pushes }),
    webhookRoutes(deps.webhooks),
  )
  app.use(notFoundHandler)
  app.use(reportRefusals(deps.webhooks))
  app.use(errorHandler)
  return app
}
