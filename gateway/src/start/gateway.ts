import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { ConfigError, type Config } from '../config.ts'
import { createDb, type Db } from '../db/db.ts'
import { migrate } from '../db/migrate.ts'
import { tokenKeyIds } from '../db/accounts-repo.ts'
import { secretKeyIds } from '../db/webhooks-repo.ts'
import { createApp } from '../http/app.ts'
import { handleClientError } from '../http/client-error.ts'
import { assembleFileJob } from '../jobs/assemble-file.ts'
import { cleanupJob } from '../jobs/cleanup.ts'
import { finalizePushJob } from '../jobs/finalize-push.ts'
import { pushJobRetryJob } from '../jobs/push-job-retry.ts'
import { pushSweepJob } from '../jobs/push-sweep.ts'
import { deliverWebhookJob } from '../jobs/deliver-webhook.ts'
import { startJobQueue, type JobDefinition, type JobQueue } from '../jobs/queue.ts'
import { createNetlifyClient, type NetlifyClient } from '../netlify/client.ts'
import { createNetlifySandbox, type NetlifySandbox } from '../netlify/sandbox/index.ts'
import { createAccountService } from '../services/accounts.ts'
import { createChunkUploads } from '../services/chunk-uploads.ts'
import { createBatchUploads } from '../services/batch-uploads.ts'
import { chunkStoreFor } from '../services/chunk-store.ts'
import type { AppServices } from '../services/index.ts'
import { createOperations } from '../services/operations.ts'
import { createPushContext } from '../services/push-context.ts'
import { createPushService } from '../services/pushes.ts'
import { createReporting } from '../services/reporting.ts'
import { createAuditLog } from '../services/audit.ts'
import { createVault, loadKeyring, type Vault } from '../services/vault.ts'
import { createVaultAdmin } from '../services/vault-admin.ts'
import { createBilling } from '../services/billing.ts'
import { createIdempotency } from '../services/idempotency.ts'
import { createMetering, systemClock, type Clock, type Metering } from '../services/metering.ts'
import { finalizeInvoicesJob } from '../jobs/finalize-invoices.ts'
import { createWebhooks } from '../services/webhooks.ts'
import { createOnboarding } from '../services/onboarding.ts'
import { adminApiRoutes } from './admin-routes.ts'
import { acquireDataDirLock } from './data-dir-lock.ts'

/** The application services plus what only the composition root and commands hold. */
export interface Services extends AppServices {
  db: Db
  netlify: NetlifyClient
  metering: Metering
  vault: Vault
  /** The job queue, once `startJobs` ran. */
  jobs: () => JobQueue
  /** Starts the queues (and, with `work`, the workers and schedules) of every job. */
  startJobs(options: { work: boolean }): Promise<JobQueue>
  stopJobs(): Promise<void>
}

/**
 * Opens the database (migrating it), the vault and the Netlify client: everything a command
 * needs, without HTTP or workers. `netlifyBaseUrl` overrides the configured API (the sandbox).
 */
export async function openServices(
  config: Config,
  logger: Logger,
  options: { netlifyBaseUrl?: string; clock?: Clock } = {},
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
    uploadConcurrency: config.netlifyUploadConcurrency,
  })
  // Services are built before the queue (its jobs need them); they reach it through this ref.
  let started: JobQueue | undefined
  const jobs = () => {
    if (!started) throw new Error('The job queue is not started')
    return started
  }
  const clock = options.clock ?? systemClock
  const metering = createMetering({ defaults: config.defaultLimits, clock })
  const webhooks = createWebhooks({
    db,
    vault,
    queue: jobs,
    settings: config.webhooks,
    logger,
    metering,
    clock,
  })
  const accounts = createAccountService({ db, netlify, vault, logger, metering })
  const pushDeps = {
    ...{ db, netlify, vault, queue: jobs, config, logger, metering, clock },
    onPushEnded: webhooks.pushEnded,
  }
  const pushContext = createPushContext(pushDeps)
  const pushes = createPushService(pushDeps, pushContext)
  const chunkStore = chunkStoreFor(db, config.dataDir)
  const chunked = createChunkUploads(pushDeps, pushContext, chunkStore)
  const batch = createBatchUploads(pushDeps, pushContext)
  const billing = createBilling({
    db,
    metering,
    clock,
    onInvoiceFinalized: webhooks.invoiceFinalized,
  })
  const idempotency = createIdempotency(db, { requestTimeoutMs: config.http.requestTimeoutMs })
  const vaultAdmin = createVaultAdmin({ db, vault, logger })
  const auditLog = createAuditLog(db)
  const operations = createOperations({
    db,
    jobs,
    adminToken: config.adminToken,
    vaultKeyIds: vault.keyIds,
  })
  const reporting = createReporting({ db })
  const onboarding = createOnboarding({
    db,
    vault,
    accounts,
    settings: { ttlHours: config.onboardingTtlHours, publicUrl: config.publicUrl },
  })
  const definitions = [
    finalizePushJob(pushes, config),
    assembleFileJob(chunked, config),
    cleanupJob(db, chunked, pushes, clock, config),
    pushSweepJob(pushes, config),
    pushJobRetryJob(db, jobs, config),
    finalizeInvoicesJob(billing, config),
    deliverWebhookJob(webhooks, config),
  ] as JobDefinition<object>[]
  return {
    config,
    db,
    logger,
    netlify,
    accounts,
    pushes,
    metering,
    billing,
    idempotency,
    chunked,
    batch,
    clock,
    vault,
    vaultAdmin,
    auditLog,
    webhooks,
    operations,
    reporting,
    onboarding,
    jobs,
    async startJobs({ work }) {
      started ??= await startJobQueue(db, definitions, {
        pollSeconds: config.jobPollSeconds,
        customerConcurrency: config.jobs.customerConcurrency,
        logger,
        work,
        maxConnections: config.dbPool.jobs,
        onDead: webhooks.jobDead,
      })
      return started
    },
    async stopJobs() {
      await started?.stop()
    },
  }
}

/** What the HTTP app is given: the application services, not the database or the queue. */
export const appServices = (s: Services): AppServices => ({
  config: s.config,
  logger: s.logger,
  clock: s.clock,
  accounts: s.accounts,
  pushes: s.pushes,
  billing: s.billing,
  idempotency: s.idempotency,
  chunked: s.chunked,
  batch: s.batch,
  auditLog: s.auditLog,
  webhooks: s.webhooks,
  vaultAdmin: s.vaultAdmin,
  onboarding: s.onboarding,
  operations: s.operations,
  reporting: s.reporting,
})

/** A key id still used by a stored token but missing from the keyring would strand that token. */
async function assertKeysPresent(db: Db, keyIds: readonly string[]) {
  const inUse = [
    ...(await tokenKeyIds(db)).map((r) => ({ key_id: r.key_id, what: `${r.tokens} token(s)` })),
    ...(await secretKeyIds(db)).map((r) => ({
      key_id: r.key_id,
      what: `${r.secrets} webhook secret(s)`,
    })),
  ]
  const missing = inUse.filter((r) => !keyIds.includes(r.key_id))
  if (missing.length) {
    const list = missing.map((r) => `'${r.key_id}' (${r.what})`).join(', ')
    throw new ConfigError(
      `KAIXU_VAULT_KEYS lacks ${list} that stored Netlify tokens or webhook secrets are sealed with; add the key(s) back (new keys go first, old ones after) and run \`kaixu-gateway vault rotate\` before removing any`,
    )
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
  // A client gets so long for its headers and its whole body, and so many sockets in all: past
  // them Node answers 408 (or refuses the connection) instead of holding a slot for ever.
  const server = createServer({
    headersTimeout: config.http.headersTimeoutMs,
    requestTimeout: config.http.requestTimeoutMs,
    // Node checks those timeouts on this period (30 s by default): check often enough that
    // a short headers timeout means what it says.
    connectionsCheckingInterval: Math.min(1_000, config.http.headersTimeoutMs),
  })
  server.maxConnections = config.http.maxConnections
  // Malformed HTTP gets a JSON error with a request id, like everything else.
  server.on('clientError', handleClientError(logger))
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

  let services: Services
  try {
    services = await openServices(config, logger, {
      ...(sandbox ? { netlifyBaseUrl: `${url}/api/v1` } : {}),
      ...options,
    })
  } catch (error) {
    server.close()
    await releaseLock()
    throw error
  }
  const queue = await services.startJobs({ work: true })

  const state = { draining: false }
  const adminApi = adminApiRoutes({ ...services, jobs: async () => queue })
  server.on(
    'request',
    createApp(appServices(services), { adminApi, sandbox: sandbox?.router, state }),
  )
  logger.info(
    {
      url,
      database: services.db.kind,
      // The most Postgres connections this process opens: what a connection budget counts.
      ...(services.db.kind === 'postgres'
        ? { connections: config.dbPool.requests + config.dbPool.jobs }
        : {}),
      netlify: sandbox ? 'sandbox' : config.netlifyApiUrl,
    },
    'gateway listening',
  )

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      state.draining = true
      // Stop taking requests, let in-flight ones (uploads included) finish, then stop workers.
      // Keep-alive connections are closed as soon as their request is done; whatever still
      // runs after the grace period is cut.
      await new Promise<void>((resolve) => {
        const idle = setInterval(() => server.closeIdleConnections(), 100)
        const cut = setTimeout(() => {
          logger.warn('shutdown grace period over: closing the remaining connections')
          server.closeAllConnections()
        }, config.shutdownGraceMs)
        server.close(() => {
          clearInterval(idle)
          clearTimeout(cut)
          resolve()
        })
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
