import { createHash, timingSafeEqual } from 'node:crypto'
import { Router } from 'express'
import { tokenKeyIds } from '../../db/accounts-repo.ts'
import type { Db } from '../../db/db.ts'
import { pendingMigrations } from '../../db/migrate.ts'
import { ERRORS } from '../../errors.ts'
import type { Metrics } from '../metrics.ts'

const digest = (s: string) => createHash('sha256').update(s).digest()

export interface HealthDeps {
  db: Db
  state: { draining: boolean }
  metrics: Metrics
  /** Bearer token for /metrics; undefined leaves it open. */
  metricsToken: string | undefined
  /** Vault key ids this process holds, to report a keyring that lacks a key in use. */
  vaultKeyIds: readonly string[]
}

/**
 * Liveness never touches the database; readiness checks it, the migrations and the keyring, and
 * answers 503 while draining; /metrics serves Prometheus text.
 */
export function healthRoutes(deps: HealthDeps): Router {
  const { db, state } = deps
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
    try {
      await db.query('SELECT 1')
      const pending = await pendingMigrations(db)
      if (pending.length) {
        res.status(503).json({ ok: false, reason: 'migrations pending', pending })
        return
      }
      // Another process may have re-encrypted tokens with a key this one was not given.
      const missing = (await tokenKeyIds(db))
        .map((r) => r.key_id)
        .filter((k) => !deps.vaultKeyIds.includes(k))
      if (missing.length) {
        res.status(503).json({ ok: false, reason: 'vault keys missing', keyIds: missing })
        return
      }
      res.json({ ok: true, database: db.kind })
    } catch {
      res.status(503).json({ ok: false, reason: 'database unavailable' })
    }
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
