import { Router } from 'express'
import type { Db } from '../../db/db.ts'
import { pendingMigrations } from '../../db/migrate.ts'

/** Liveness never touches the database; readiness checks it and the migrations. */
export function healthRoutes(db: Db, state: { draining: boolean }): Router {
  const router = Router()
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
      res.json({ ok: true, database: db.kind })
    } catch {
      res.status(503).json({ ok: false, reason: 'database unavailable' })
    }
  })
  return router
}
