import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { ConfigError, type Config } from '../config.ts'
import { createDb, type Db } from '../db/db.ts'
import { migrate } from '../db/migrate.ts'
import { createApp } from '../http/app.ts'
import { finalizePushJob } from '../jobs/finalize-push.ts'
import { startJobQueue, type JobDefinition, type JobQueue } from '../jobs/queue.ts'
import { createNetlifyClient, type NetlifyClient } from '../netlify/client.ts'
import { createNetlifySandbox, type NetlifySandbox } from '../netlify/sandbox/index.ts'
import { createAccountService, type AccountService } from '../services/accounts.ts'
import { createPushService, type PushService } from '../services/pushes.ts'
import { createVault, loadKeyring } from '../services/vault.ts'
import { createBilling, type Billing } from '../services/billing.ts'
import { createIdempotency, type Idempotency } from '../services/idempotency.ts'
import { createMetering, systemClock, type Clock, type Metering } from '../services/metering.ts'
import { finalizeInvoicesJob } from '../jobs/finalize-invoices.ts'
import { acquireDataDirLock } from './data-dir-lock.ts'

export interface Services {
  config: Config
  db: Db
  logger: Logger
  netlify: NetlifyClient
  accounts: AccountService
  pushes: PushService
  metering: Metering
  billing: Billing
  idempotency: Idempotency
  clock: Clock
}

/**
 * Opens the database (migrating it), the vault and the Netlify client: everything a command
 * needs, without HTTP or workers. `netlifyBaseUrl` overrides the configured API (the sandbox).
 */
export async function openServices(
  config: Config,
  logger: Logger,
  options: { netlifyBaseUrl?: string; queue?: () => JobQueue; clock?: Clock } = {},
): Promise<Services> {
  const keyring = await loadKeyring({ ...config, warn: (m) => logger.warn(m) })
  const vault = createVault(keyring)
  const db = await createDb(config)
  try {
    const applied = await migrate(db)
    if (applied.length) logger.info({ applied }, 'database migrated')
    await assertKeysPresent(db, vault.keyIds)
  } catch (error) {
    await db.close()
    throw error
  }
  const netlify = createNetlifyClient({
    baseUrl: options.netlifyBaseUrl ?? config.netlifyApiUrl,
  })
  const queue =
    options.queue ??
    (() => {
      throw new Error('This command runs no job queue')
    })
  const clock = options.clock ?? systemClock
  const metering = createMetering({ defaults: config.defaultLimits, clock })
  const accounts = createAccountService({ db, netlify, vault, logger, metering })
  const pushes = createPushService({ db, netlify, vault, queue, config, logger, metering, clock })
  const billing = createBilling({ db, metering, clock })
  const idempotency = createIdempotency(db)
  return { config, db, logger, netlify, accounts, pushes, metering, billing, idempotency, clock }
}

/** A key id still used by a stored token but missing from the keyring would strand that token. */
async function assertKeysPresent(db: Db, keyIds: readonly string[]) {
  const rows = await db.query<{ key_id: string }>('SELECT DISTINCT key_id FROM netlify_tokens')
  const missing = rows.map((r) => r.key_id).filter((k) => !keyIds.includes(k))
  if (missing.length) {
    throw new Error(`KAIXU_VAULT_KEYS lacks key(s) ${missing.join(', ')} that stored tokens use`)
  }
}

export interface RunningGateway extends Services {
  /** Where the gateway listens, e.g. http://127.0.0.1:8787 */
  url: string
  server: Server
  sandbox: NetlifySandbox | undefined
  close(): Promise<void>
}

/**
 * The whole gateway: HTTP server, job workers and (with NETLIFY_API_URL=sandbox) the Netlify
 * sandbox on the same port. Used by `kaixu-gateway serve`, `npm start` and the tests.
 */
export async function startGateway(
  config: Config,
  logger: Logger,
  options: { clock?: Clock } = {},
): Promise<RunningGateway> {
  const releaseLock = config.databaseUrl ? async () => {} : await acquireDataDirLock(config.dataDir)
  const server = createServer({ requestTimeout: 15 * 60_000 })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      void releaseLock()
      reject(
        error.code === 'EADDRINUSE'
          ? new ConfigError(
              `PORT: ${config.host}:${config.port} is already in use; set PORT to a free port`,
            )
          : error,
      )
    })
    server.listen(config.port, config.host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`

  const sandbox =
    config.netlifyApiUrl === 'sandbox'
      ? createNetlifySandbox({
          dataDir: join(config.dataDir, 'sandbox'),
          logger: logger.child({ component: 'netlify-sandbox' }),
        })
      : undefined
  sandbox?.setBaseUrl(url)

  // Services are built before the queue (its jobs need them); they reach it through this ref.
  const jobsRef: { queue?: JobQueue } = {}
  let services: Services
  try {
    services = await openServices(config, logger, {
      ...(sandbox ? { netlifyBaseUrl: `${url}/api/v1` } : {}),
      queue: () => jobsRef.queue!,
      ...options,
    })
  } catch (error) {
    server.close()
    await releaseLock()
    throw error
  }
  const jobs = [
    finalizePushJob(services.pushes),
    finalizeInvoicesJob(services.billing),
  ] as JobDefinition<object>[]
  const queue = await startJobQueue(services.db, jobs, {
    pollSeconds: config.jobPollSeconds,
    logger,
    work: true,
  })
  jobsRef.queue = queue

  const state = { draining: false }
  server.on('request', createApp({ ...services, sandbox: sandbox?.router, state }))
  logger.info(
    { url, database: services.db.kind, netlify: sandbox ? 'sandbox' : config.netlifyApiUrl },
    'gateway listening',
  )

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      state.draining = true
      // Stop taking requests, let in-flight ones (uploads included) finish, then stop workers.
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
      })
      await queue.stop()
      await services.netlify.close()
      await sandbox?.close()
      await services.db.close()
      await releaseLock()
    })())
  return { ...services, url, server, sandbox, close }
}
