import type { RequestHandler } from 'express'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Logger } from 'pino'
import type { Reporting } from '../services/reporting.ts'

/** Where the app mounts its routers (see app.ts). */
const MOUNTS = ['/admin/api', '/v1']

/**
 * Prometheus metrics (the only prom-client user). Each app has its own registry, so several
 * gateways in one process (the tests) never collide. Business gauges are read from the
 * database at scrape time, so every process reports the same shared truth.
 */
export function createMetrics(gauges: Reporting['gauges'], logger: Logger) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]

  const duration = new Histogram({
    name: 'kaixu_http_request_duration_seconds',
    help: 'HTTP requests by route pattern, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers,
  })
  const inFlight = new Gauge({
    name: 'kaixu_http_requests_in_flight',
    help: 'HTTP requests being served',
    registers,
  })
  const errors = new Counter({
    name: 'kaixu_http_errors_total',
    help: 'Error answers by stable error code',
    labelNames: ['code', 'status'] as const,
    registers,
  })

  // Scrape-time gauges: a failing query leaves the last values rather than failing the scrape.
  const fromDb = async (what: string, read: () => Promise<void>) => {
    try {
      await read()
    } catch (error) {
      logger.warn({ err: error, metric: what }, 'metrics: database read failed')
    }
  }
  new Gauge({
    name: 'kaixu_pushes_in_flight',
    help: 'Pushes not yet ready or failed, by state',
    labelNames: ['state'] as const,
    registers,
    async collect() {
      await fromDb('pushes', async () => {
        const rows = await gauges.pushesInFlight()
        for (const state of ['uploading', 'finalizing']) {
          this.set({ state }, rows.find((r) => r.state === state)?.n ?? 0)
        }
      })
    },
  })
  new Gauge({
    name: 'kaixu_customers',
    help: 'Customers by status',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      await fromDb('customers', async () => {
        const rows = await gauges.customersByStatus()
        for (const status of ['active', 'suspended']) {
          this.set({ status }, rows.find((r) => r.status === status)?.n ?? 0)
        }
      })
    },
  })
  new Gauge({
    name: 'kaixu_vault_tokens',
    help: 'Live Netlify tokens by the vault key sealing them (rotation progress)',
    labelNames: ['key_id'] as const,
    registers,
    async collect() {
      await fromDb('vault', async () => {
        this.reset()
        for (const r of await gauges.tokensByVaultKey()) this.set({ key_id: r.key_id }, r.tokens)
      })
    },
  })

  /** Times every request; the route label is the matched pattern, never the raw URL. */
  const middleware: RequestHandler = (req, res, next) => {
    const end = duration.startTimer()
    inFlight.inc()
    res.once('close', () => {
      inFlight.dec()
      // Express has restored baseUrl by now, so the mount comes from the original URL.
      const mount = MOUNTS.find((m) => req.originalUrl.startsWith(`${m}/`)) ?? ''
      const route = req.route?.path ? `${mount}${String(req.route.path)}` : 'unmatched'
      const status = String(res.statusCode)
      end({ method: req.method, route, status })
      const code = res.locals['errorCode']
      if (typeof code === 'string') errors.inc({ code, status })
    })
    next()
  }

  return {
    registry,
    middleware,
    async render(): Promise<{ contentType: string; body: string }> {
      return { contentType: registry.contentType, body: await registry.metrics() }
    },
  }
}

export type Metrics = ReturnType<typeof createMetrics>
