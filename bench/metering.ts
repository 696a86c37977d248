/**
 * Benchmark (issue: metering): the cost of the cap and pacing checks of one push-init with 0 and
 * with 100 000 past pushes for the customer. The checks read one usage row and two pacing
 * windows by primary key, so history must not slow them down.
 */
import { performance } from 'node:perf_hooks'
import type { Db } from '../gateway/src/db/db.ts'
import { createPgliteDb, createPostgresDb } from '../gateway/src/db/db.ts'
import { migrate } from '../gateway/src/db/migrate.ts'
import { createMetering } from '../gateway/src/services/metering.ts'
import { createScratchDatabase } from '../gateway/test/helpers/scratch-postgres.ts'
import { summarize, type Summary } from './stats.ts'

const SAMPLES = 300
const HISTORY = 100_000

async function measure(db: Db, customerId: string): Promise<Summary> {
  const metering = createMetering({
    defaults: { deploysPerMonth: 1e9, bytesPerMonth: 1e15, perMinute: 1e9, perDay: 1e9 },
    clock: { now: () => new Date() },
  })
  const times: number[] = []
  for (let i = 0; i < SAMPLES + 20; i++) {
    const t0 = performance.now()
    await db.transaction((tx) => metering.admitDeploy(tx, customerId))
    if (i >= 20) times.push(performance.now() - t0) // the first 20 warm up caches and plans
  }
  return summarize(times)
}

async function seedHistory(db: Db, customerId: string, projectId: string) {
  // 100k past pushes over the last year with their usage events, written in bulk by SQL.
  await db.query(
    `INSERT INTO pushes (id, customer_id, project_id, site_id, state, files_total, billing_month,
                         reservation, created_at, bytes_uploaded)
     SELECT 'push_hist' || g, $1, $2, 'site', 'ready', 10,
            date_trunc('month', now() - g * interval '5 minutes')::date, 'settled',
            now() - g * interval '5 minutes', 1000
       FROM generate_series(1, $3) g`,
    [customerId, projectId, HISTORY],
  )
  await db.query(
    `INSERT INTO push_usage_events (customer_id, project_id, push_id, bytes, pricing_version, cost_cents,
                                    occurred_at, billing_month)
     SELECT customer_id, project_id, id, 1000, 1, 10, created_at, billing_month
       FROM pushes WHERE customer_id = $1`,
    [customerId],
  )
  await db.query('ANALYZE')
}

export async function benchMetering(serverUrl?: string) {
  const scratch = serverUrl ? await createScratchDatabase(serverUrl) : undefined
  const db = scratch ? await createPostgresDb(scratch.url) : await createPgliteDb(undefined)
  try {
    await migrate(db)
    const results: Record<string, Summary> = {}
    for (const [label, history] of [
      ['no history', false],
      [`${HISTORY.toLocaleString('en')} past pushes`, true],
    ] as const) {
      const customerId = `cus_bench_${history ? 'h' : 'n'}_${Date.now()}`
      const projectId = `prj_bench_${history ? 'h' : 'n'}_${Date.now()}`
      await db.query('INSERT INTO customers (id, name) VALUES ($1, $2)', [customerId, 'bench'])
      await db.query(
        "INSERT INTO projects (id, customer_id, name, site_id) VALUES ($1, $2, $1, 'site')",
        [projectId, customerId],
      )
      if (history) await seedHistory(db, customerId, projectId)
      results[label] = await measure(db, customerId)
    }
    return results
  } finally {
    await db.close()
    await scratch?.drop()
  }
}
