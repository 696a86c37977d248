import { randomUUID } from 'node:crypto'
import express, { type Express, type Router } from 'express'
import helmet from 'helmet'
import { pinoHttp } from 'pino-http'
import { withLogContext } from '../lib/logger.ts'
import type { Services } from '../start/gateway.ts'
import { createMetrics } from './metrics.ts'
import { requireAdmin } from './middleware/admin-auth.ts'
import { requireApiKey } from './middleware/auth.ts'
import { errorHandler, notFoundHandler } from './middleware/error-handler.ts'
import { healthRoutes } from './routes/health.ts'
import { accountRoutes } from './routes/account.ts'
import { adminRoutes } from './routes/admin.ts'
import { adminAccountRoutes } from './routes/admin-accounts.ts'
import { pushRoutes } from './routes/push.ts'
import { dashboardRoutes } from './dashboard/routes.ts'
import { usageRoutes } from './routes/usage.ts'
import { reportRefusals, webhookRoutes } from './routes/webhooks.ts'

export interface AppDeps extends Services {
  /** Mounted first when the built-in Netlify sandbox serves from this process. */
  sandbox?: Router | undefined
  state: { draining: boolean }
}

const REQUEST_ID = /^[\w.:-]{1,128}$/

/** Builds the Express app (no listen), so tests and entry points share one composition. */
export function createApp(deps: AppDeps): Express {
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
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
      autoLogging: { ignore: (req) => req.url === '/healthz' },
    }),
  )
  // Every log line written while serving a request carries its id, service lines included.
  app.use((req, _res, next) => withLogContext({ reqId: String(req.id) }, next))
  if (deps.sandbox) app.use(deps.sandbox)
  const metrics = createMetrics(deps.db, deps.logger)
  app.use(metrics.middleware)
  // While draining, answers close their connection so keep-alive clients reconnect elsewhere.
  app.use((_req, res, next) => {
    if (deps.state.draining) res.setHeader('Connection', 'close')
    next()
  })
  app.use(helmet())
  app.use(
    healthRoutes({
      db: deps.db,
      state: deps.state,
      metrics,
      metricsToken: deps.config.metricsToken,
      vaultKeyIds: deps.vault.keyIds,
    }),
  )
  app.use(
    '/admin/api',
    requireAdmin(deps.config.adminToken),
    adminRoutes(deps),
    adminAccountRoutes(deps),
    webhookRoutes(deps.webhooks, 'admin'),
  )
  // The operator's dashboard: HTML pages with a session cookie (the API above takes the token).
  app.use('/admin', dashboardRoutes(deps))
  app.use(
    '/v1',
    requireApiKey(deps.accounts, deps.config.adminToken),
    accountRoutes(deps.accounts),
    pushRoutes(deps.pushes, deps.chunked, deps.batch, deps.idempotency, deps.config, deps.state),
    usageRoutes(deps.billing, deps.clock),
    webhookRoutes(deps.webhooks, 'customer'),
  )
  app.use(notFoundHandler)
  app.use(reportRefusals(deps.webhooks))
  app.use(errorHandler)
  return app
}
