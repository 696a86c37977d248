import { createHash, timingSafeEqual } from 'node:crypto'
import { Router } from 'express'
import { ERRORS } from '../../errors.ts'
import type { Operations } from '../../services/operations.ts'
import type { Metrics } from '../metrics.ts'

const digest = (s: string) => createHash('sha256').update(s).digest()

export interface HealthDeps {
  operations: Operations
  state: { draining: boolean }
  metrics: Metrics
  /** Bearer token for /metrics; undefined leaves it open. */
  metricsToken: string | undefined
}

/**
 * Liveness never touches the database; readiness checks it, the migrations and the keyring, and
 * answers 503 while draining; /metrics serves Prometheus text.
 */
export function healthRoutes(deps: HealthDeps): Router {
  const { operations, state } = deps
  const router = Router()
  const metricsDigest = deps.metricsToken ? digest(deps.metricsToken) : undefined

  router.get('/healthz', (_req, res) => {
    res.json({ ok: true })
  })

  router.get('/readyz', async (_req, res) => {
    if (state.draining) {
      res.status(503).json({ ok: false, reason: 'draining' })
      return
    }
    const readiness = await operations.readiness()
    res.status(readiness.ok ? 200 : 503).json(readiness)
  })

  router.get('/metrics', async (req, res) => {
    if (metricsDigest) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '')
      if (!match || !timingSafeEqual(digest(match[1]!), metricsDigest)) {
        throw ERRORS.unauthorized(
          'A valid metrics token is required (Authorization: Bearer <KAIXU_METRICS_TOKEN>).',
        )
      }
    }
    const { contentType, body } = await deps.metrics.render()
    res.type(contentType).send(body)
  })

  return router
}
