import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { loadConfig } from '../src/config.ts'
import { APPLICATION_NAME } from '../src/db/db.ts'
import { createTenant, startTestGateway, api, type TestGateway } from './helpers/gateway.ts'

/**
 * The connection budget of one process is configurable and honoured: the gateway's request pool
 * opens at most KAIXU_DB_POOL_MAX connections and the job queue at most KAIXU_JOB_POOL_MAX, so an
 * operator can size N processes against a server's (or Neon's) connection limit.
 */
describe('connection budget', () => {
  test('pool sizes come from the environment and are validated', () => {
    expect(loadConfig({}).dbPool).toEqual({ requests: 10, jobs: 4 })
    expect(loadConfig({ KAIXU_DB_POOL_MAX: '3', KAIXU_JOB_POOL_MAX: '2' }).dbPool).toEqual({
      requests: 3,
      jobs: 2,
    })
    expect(() => loadConfig({ KAIXU_DB_POOL_MAX: '0' })).toThrow(/KAIXU_DB_POOL_MAX/)
    expect(() => loadConfig({ KAIXU_JOB_POOL_MAX: '1' })).toThrow(/KAIXU_JOB_POOL_MAX/)
    expect(() => loadConfig({ KAIXU_DB_POOL_MAX: 'lots' })).toThrow(/KAIXU_DB_POOL_MAX/)
  })

  const onPostgres = process.env['TEST_DATABASE_URL'] ? describe : describe.skip
  onPostgres('on Postgres (PGlite has no connections)', () => {
    let gw: TestGateway
    beforeAll(async () => {
      gw = await startTestGateway('postgres', { KAIXU_DB_POOL_MAX: '3', KAIXU_JOB_POOL_MAX: '2' })
    })
    afterAll(() => gw?.stop())

    /** Connections to this suite's scratch database, by who opened them. */
    const connections = async () => {
      const rows = await gw.db.query<{ app: string; n: number }>(
        `SELECT CASE WHEN application_name = $1 THEN 'gateway'
                     WHEN application_name = 'pgboss' OR application_name LIKE 'pgboss:%' THEN 'jobs'
                     ELSE 'other' END AS app, count(*)::int AS n
           FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1`,
        [APPLICATION_NAME],
      )
      return Object.fromEntries(rows.map((r) => [r.app, r.n])) as Record<string, number>
    }

    test('eight queries at once share the request pool of three connections', async () => {
      const rows = await Promise.all(
        Array.from({ length: 8 }, () =>
          gw.db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_sleep(0.2)'),
        ),
      )
      expect(new Set(rows.map(([r]) => r!.pid)).size).toBe(3)
    })

    test('after pushes through jobs, the process holds at most 3 + 2 connections', async () => {
      const t = await createTenant(gw)
      await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          api(gw, t.key, 'POST', '/v1/push-init', {
            project: t.projectName,
            files: { [`f${i}.txt`]: 'a'.repeat(40) },
          }),
        ),
      )
      const counts = await connections()
      expect(counts['gateway'] ?? 0).toBeLessThanOrEqual(3)
      expect(counts['jobs'] ?? 0).toBeLessThanOrEqual(2)
      expect(counts['gateway']).toBeGreaterThan(0)
    })
  })
})
