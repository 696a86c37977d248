/**
 * Benchmark (issue 7: the admin dashboard): server time of the deploy history page and the
 * invoice page with 100 000 pushes in the database (20 customers, one push every 5 minutes over
 * the last year, each ready and billed). Pages are keyset-paged and indexed, so the target is a
 * median under 100 ms. Timed as the full HTTP round trip on loopback (an upper bound of server
 * time), with a signed-in session.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { loadConfig } from '../gateway/src/config.ts'
import { insertSession } from '../gateway/src/db/dashboard-repo.ts'
import { createApp } from '../gateway/src/http/app.ts'
import { adminApiRoutes } from '../gateway/src/start/admin-routes.ts'
import { sessionTokenHash } from '../gateway/src/http/dashboard/session.ts'
import { createLogger } from '../gateway/src/lib/logger.ts'
import { monthOf } from '../gateway/src/services/metering.ts'
import { openServices } from '../gateway/src/start/gateway.ts'
import { createScratchDatabase } from '../gateway/test/helpers/scratch-postgres.ts'
import { summarize, type Summary } from './stats.ts'

const SAMPLES = 100
const WARMUP = 10
const PUSHES = 100_000
const CUSTOMERS = 20

async function seed(db: { query: (sql: string, params?: unknown[]) => Promise<unknown[]> }) {
  await db.query(
    `INSERT INTO customers (id, name) SELECT 'cus_b' || g, 'Customer ' || lpad(g::text, 2, '0')
       FROM generate_series(1, $1) g`,
    [CUSTOMERS],
  )
  await db.query(
    `INSERT INTO projects (id, customer_id, name, site_id)
     SELECT 'prj_b' || g, 'cus_b' || g, 'site-' || g, 'site' || g FROM generate_series(1, $1) g`,
    [CUSTOMERS],
  )
  // Every 50th push failed; the others are ready and billed, like real finalized pushes.
  await db.query(
    `INSERT INTO pushes (id, customer_id, project_id, site_id, state, netlify_state, files_total,
                        files_required, billing_month, reservation, created_at, finished_at,
                        bytes_uploaded, deploy_ssl_url, error_message)
     SELECT 'push_b' || g, 'cus_b' || (g % $2 + 1), 'prj_b' || (g % $2 + 1), 'site', 
            CASE WHEN g % 50 = 0 THEN 'error' ELSE 'ready' END,
            CASE WHEN g % 50 = 0 THEN 'error' ELSE 'ready' END, 10, 3,
            date_trunc('month', (now() - g * interval '5 minutes') AT TIME ZONE 'UTC')::date,
            'settled', now() - g * interval '5 minutes', now() - g * interval '5 minutes' + interval '2 seconds',
            100000 + g, 'https://d' || g || '--site.netlify.app',
            CASE WHEN g % 50 = 0 THEN 'Build failed' END
       FROM generate_series(1, $1) g`,
    [PUSHES, CUSTOMERS],
  )
  await db.query(
    `INSERT INTO push_usage_events (customer_id, project_id, push_id, bytes, pricing_version,
                                    cost_cents, occurred_at, billing_month)
     SELECT customer_id, project_id, id, bytes_uploaded, 1, 10 + ceil(bytes_uploaded * 25 / 1e9)::bigint,
            finished_at, billing_month
       FROM pushes WHERE state = 'ready'`,
  )
  await db.query('ANALYZE')
}

/** Dashboard page timings on PGlite (no URL) or a scratch database on a Postgres server. */
export async function benchDashboard(serverUrl?: string): Promise<Record<string, Summary>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kaixu-bench-dash-'))
  const scratch = serverUrl ? await createScratchDatabase(serverUrl) : undefined
  const config = loadConfig({
    KAIXU_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    KAIXU_ADMIN_TOKEN: randomBytes(24).toString('hex'),
    KAIXU_VAULT_KEYS: `b1:${randomBytes(32).toString('base64')}`,
    ...(scratch ? { DATABASE_URL: scratch.url } : {}),
  })
  const services = await openServices(config, createLogger('silent'))
  const adminApi = adminApiRoutes({ ...services, jobs: () => services.startJobs({ work: false }) })
  const server = createServer(createApp({ ...services, adminApi, state: { draining: false } }))
  try {
    await seed(services.db)
    const sessionId = randomBytes(32).toString('base64url')
    await insertSession(services.db, {
      idHash: createHash('sha256').update(sessionId).digest('hex'),
      csrf: 'csrf',
      tokenHash: sessionTokenHash(config.adminToken!),
      expiresAt: new Date(Date.now() + 3600_000),
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const month = monthOf(new Date()).slice(0, 7)
    const lastMonth = monthOf(new Date(Date.now() - 32 * 86_400_000)).slice(0, 7)

    // A cursor half-way through the history: deep pages cost what the first one does.
    const deep = (
      await services.db.query<{ c: string }>(
        `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '_' || id AS c
         FROM pushes ORDER BY created_at DESC, id DESC OFFSET 50000 LIMIT 1`,
      )
    )[0]!.c
    const pages: Record<string, string> = {
      'history: first page': '/admin/pushes',
      'history: page 1000 (keyset)': `/admin/pushes?before=${encodeURIComponent(deep)}`,
      'history: customer + month': `/admin/pushes?customer=cus_b7&month=${lastMonth}`,
      'history: failed only': '/admin/pushes?state=error',
      'invoices: this month (20 drafts)': `/admin/invoices?month=${month}`,
      'invoices: one customer': `/admin/invoices?month=${lastMonth}&customer=cus_b7`,
    }
    const results: Record<string, Summary> = {}
    for (const [label, path] of Object.entries(pages)) {
      const times: number[] = []
      for (let i = 0; i < SAMPLES + WARMUP; i++) {
        const t0 = performance.now()
        const res = await fetch(base + path, { headers: { cookie: `kaixu_admin=${sessionId}` } })
        const body = await res.text()
        if (res.status !== 200) throw new Error(`${path}: ${res.status} ${body.slice(0, 300)}`)
        if (i >= WARMUP) times.push(performance.now() - t0)
      }
      results[label] = summarize(times)
    }
    return results
  } finally {
    server.close()
    await services.db.close()
    await scratch?.drop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

// `node bench/dashboard.ts [postgres://…]` runs it alone.
if (import.meta.main) {
  const url = process.argv[2]
  const results = await benchDashboard(url)
  for (const [label, s] of Object.entries(results)) {
    console.log(
      `${label.padEnd(36)} median ${s.median.toFixed(2)} ms  min ${s.min.toFixed(2)}  p99 ${s.p99.toFixed(2)}  max ${s.max.toFixed(2)}`,
    )
  }
}
