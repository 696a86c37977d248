import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { loadConfig, type Config } from '../src/config.ts'
import { createLogger } from '../src/lib/logger.ts'
import { openServices, type Services } from '../src/start/gateway.ts'
import { databases, scratchPostgres, startTestGateway, testVaultKeys } from './helpers/gateway.ts'
import { runCli } from './helpers/processes.ts'

const ADMIN_TOKEN = 'cli-jobs-admin-token-0123456789abcdef'
const QUEUE = 'push-cleanup'
/** Each test opens the embedded database more than once (in this process and in the CLI's). */
const SLOW = 240_000

/**
 * A dead job: sent, then marked as having used every attempt. (Failing it for real would need a
 * worker and a handler that throws; the retry only looks at the state.)
 */
async function deadJob(s: Pick<Services, 'jobs' | 'db'>): Promise<string> {
  const id = await s.jobs().send(QUEUE, {})
  await s.db.query(`UPDATE pgboss.job SET state = 'failed' WHERE id = $1`, [id])
  return id!
}

async function retryAudits(s: Pick<Services, 'auditLog'>, id: string) {
  const { entries } = await s.auditLog.list({ action: 'job.retry', limit: 100 })
  return entries.filter((e) => e.details?.['id'] === id)
}

describe.each(databases())('jobs retry from the CLI on %s', (database) => {
  let dataDir: string
  let pg: Awaited<ReturnType<typeof scratchPostgres>> | undefined
  let env: Record<string, string>
  let config: Config

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kaixu-cli-jobs-'))
    pg = database === 'postgres' ? await scratchPostgres() : undefined
    env = {
      KAIXU_DATA_DIR: dataDir,
      KAIXU_VAULT_KEYS: testVaultKeys(),
      // Never called: retrying a job does not reach Netlify.
      NETLIFY_API_URL: 'http://127.0.0.1:9/api/v1',
      LOG_LEVEL: 'silent',
      ...(pg ? { DATABASE_URL: pg.url } : {}),
    }
    config = loadConfig(env)
  })

  afterAll(async () => {
    await pg?.drop()
    await rm(dataDir, { recursive: true, force: true })
  })

  const withServices = async <T>(fn: (s: Services) => Promise<T>) => {
    const s = await openServices(config, createLogger('silent'))
    try {
      await s.startJobs({ work: false })
      return await fn(s)
    } finally {
      await s.stopJobs()
      await s.netlify.close()
      await s.db.close()
    }
  }

  test(
    'in-process, a dead job run again is audited as the CLI',
    async () => {
      const id = await withServices(deadJob)
      const res = await runCli(['jobs', 'retry', '--queue', QUEUE, '--id', id, '--json'], env)
      expect(res.stderr).toBe('')
      expect(JSON.parse(res.stdout)).toEqual({ retried: true, queue: QUEUE, id })
      const audits = await withServices((s) => retryAudits(s, id))
      expect(audits).toEqual([
        expect.objectContaining({
          actor: 'cli',
          action: 'job.retry',
          status: 'ok',
          details: { queue: QUEUE, id },
        }),
      ])
    },
    SLOW,
  )

  test(
    'over HTTP, the same retry is audited as the admin API with its request id',
    async () => {
      const gw = await startTestGateway(database, { KAIXU_ADMIN_TOKEN: ADMIN_TOKEN })
      try {
        const id = await deadJob(gw)
        const res = await runCli(['jobs', 'retry', '--queue', QUEUE, '--id', id, '--json'], {
          KAIXU_GATEWAY_URL: gw.url,
          KAIXU_ADMIN_TOKEN: ADMIN_TOKEN,
          LOG_LEVEL: 'silent',
        })
        expect(res.stderr).toBe('')
        expect(JSON.parse(res.stdout)).toEqual({ retried: true, queue: QUEUE, id })
        expect(await retryAudits(gw, id)).toEqual([
          expect.objectContaining({
            actor: 'admin',
            action: 'job.retry',
            requestId: expect.any(String),
            details: { queue: QUEUE, id },
          }),
        ])
      } finally {
        await gw.stop()
      }
    },
    SLOW,
  )
})
