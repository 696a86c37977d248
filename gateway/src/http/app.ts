import { randomUUID } from 'node:crypto'
import express, { type Express, type Router } from 'express'
import helmet from 'helmet'
import { pinoHttp } from 'pino-http'
import type { Services } from '../start/gateway.ts'
import { requireAdmin } from './middleware/admin-auth.ts'
import { requireApiKey } from './middleware/auth.ts'
import { errorHandler, notFoundHandler } from './middleware/error-handler.ts'
import { healthRoutes } from './routes/health.ts'
import { adminRoutes } from './routes/admin.ts'
import { pushRoutes } from './routes/push.ts'
import { usageRoutes } from './routes/usage.ts'

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
  if (deps.sandbox) app.use(deps.sandbox)
  app.use(helmet())
  app.use(healthRoutes(deps.db, deps.state))
  app.use('/admin/api', requireAdmin(deps.config.adminToken), adminRoutes(deps))
  app.use(
    '/v1',
    requireApiKey(deps.accounts),
    pushRoutes(deps.pushes, deps.idempotency, deps.config),
    usageRoutes(deps.billing, deps.clock),
  )
  app.use(notFoundHandler)
  app.use(errorHandler)
  return app
}
