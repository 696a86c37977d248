#!/usr/bin/env node
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type Config } from '../config.ts'
import { AppError } from '../errors.ts'
import { invoicesToCsv } from '../services/billing.ts'
import { parseMonth } from '../services/metering.ts'
import type { JobState } from '../jobs/queue.ts'
import { httpAdmin, localAdmin, type AdminApi } from './admin-api.ts'
import {
  ACCOUNT_OPTIONS,
  ACCOUNT_USAGE,
  runAccountCommand,
  type CommandContext,
} from './cli-accounts.ts'
import { runWebhookCommand, WEBHOOK_OPTIONS, WEBHOOK_USAGE } from './cli-webhooks.ts'
import { ONBOARDING_OPTIONS, ONBOARDING_USAGE, runOnboardingCommand } from './cli-onboarding.ts'
import { acquireDataDirLock, DataDirBusyError } from './data-dir-lock.ts'

// The gateway itself (database, job queue, Netlify client) is imported only by the commands that
// run it in this process: one sent over HTTP (KAIXU_GATEWAY_URL) starts without loading it.

const USAGE = `Usage: kaixu-gateway <command> [options]

Commands:
  serve                                   run the gateway (HTTP API and job workers)
  migrate                                 apply database migrations and exit
  db export --out FILE                    copy the whole database into FILE (JSON lines); the gateway
                                          must be stopped when the database is the embedded one
  db import --in FILE                     load an export into this (empty) database: PGlite → Postgres
${ACCOUNT_USAGE}
  limits set --customer ID [--deploys-per-month N] [--bytes-per-month N] [--per-minute N] [--per-day N]
                                          override a customer's limits ('default' resets one)
  pricing set --cents-per-deploy N --cents-per-gb N [--effective-from ISO-TIME]
                                          add a pricing version (old events keep theirs)
  pricing list                            list pricing versions
  invoices --month YYYY-MM [--customer ID] [--json|--csv]
                                          the month's invoices (drafts are brought up to date)
  invoices finalize --month YYYY-MM [--customer ID]
                                          finalize a closed month's invoices
  jobs list [--state failed|active|created|retry|completed] [--queue Q]
                                          background jobs; failed = dead (every attempt used)
  jobs retry --queue Q --id ID            run a dead job again
${WEBHOOK_USAGE}
${ONBOARDING_USAGE}
  sandbox [--port P] [--host H]           run the Netlify sandbox on its own

Options:
  --json                                  print machine-readable JSON
  -h, --help                              show this help

Configuration comes from the environment: DATABASE_URL, KAIXU_DATA_DIR, PORT, HOST,
NETLIFY_API_URL, KAIXU_ADMIN_TOKEN, KAIXU_VAULT_KEYS (see the README). With KAIXU_GATEWAY_URL
(and KAIXU_ADMIN_TOKEN) set, commands run through that gateway's admin API instead: the way to
reach an embedded database while \`serve\` holds it.`

const OPTIONS = {
  name: { type: 'string' },
  customer: { type: 'string' },
  token: { type: 'string' },
  'site-id': { type: 'string' },
  'deploys-per-month': { type: 'string' },
  'bytes-per-month': { type: 'string' },
  'per-minute': { type: 'string' },
  'per-day': { type: 'string' },
  'cents-per-deploy': { type: 'string' },
  'cents-per-gb': { type: 'string' },
  'effective-from': { type: 'string' },
  month: { type: 'string' },
  state: { type: 'string' },
  queue: { type: 'string' },
  id: { type: 'string' },
  csv: { type: 'boolean', default: false },
  port: { type: 'string' },
  host: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  ...ACCOUNT_OPTIONS,
  out: { type: 'string' },
  in: { type: 'string' },
  ...WEBHOOK_OPTIONS,
  ...ONBOARDING_OPTIONS,
} as const

type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>['values']

class UsageError extends Error {}

function required(values: Values, name: 'name' | 'customer' | 'site-id'): string {
  const value = values[name]
  if (!value) throw new UsageError(`--${name} is required`)
  return value
}

/** A whole number option; `default` (for limits) means "back to the deployment default". */
function count(
  values: Values,
  name: keyof Values,
  allowDefault = false,
): number | null | undefined {
  const raw = values[name]
  if (raw === undefined) return undefined
  if (allowDefault && raw === 'default') return null
  const n = Number(raw)
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new UsageError(`--${name} must be a whole number${allowDefault ? " or 'default'" : ''}`)
  }
  return n
}

function month(values: Values): string {
  const m = values.month ? parseMonth(values.month) : undefined
  if (!m) throw new UsageError('--month YYYY-MM is required')
  return m
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('--token is required (or pipe the token on stdin)')
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').trim()
}

/**
 * Runs a command against the operator's interface: through a running gateway's admin API when
 * KAIXU_GATEWAY_URL is set (the way to reach an embedded database that `serve` holds), else on
 * this process's services, holding the embedded database's lock meanwhile.
 */
async function withAdmin<T>(config: Config, fn: (admin: AdminApi) => Promise<T>): Promise<T> {
  if (config.gatewayUrl) {
    if (!config.adminToken) {
      throw new UsageError("KAIXU_GATEWAY_URL needs KAIXU_ADMIN_TOKEN (that gateway's admin token)")
    }
    return fn(httpAdmin(config.gatewayUrl, config.adminToken))
  }
  if (config.netlifyApiUrl === 'sandbox') {
    throw new UsageError(
      'NETLIFY_API_URL=sandbox lives inside `serve`; for commands, run `kaixu-gateway sandbox` and set NETLIFY_API_URL to its /api/v1 URL',
    )
  }
  const [{ openServices }, { createLogger }] = await Promise.all([
    import('./gateway.ts'),
    import('../lib/logger.ts'),
  ])
  const release = config.databaseUrl ? async () => {} : await acquireDataDirLock(config.dataDir)
  const services = await openServices(config, createLogger('warn', process.stderr))
  try {
    return await fn(localAdmin(services, 'cli'))
  } finally {
    await services.stopJobs()
    await services.netlify.close()
    await services.db.close()
    await release()
  }
}

function print(json: boolean, value: Record<string, unknown>, human: string) {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human}\n`)
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: OPTIONS,
    allowPositionals: true,
    strict: true,
  })
  const command = positionals.join(' ')
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (command === 'sandbox') {
    const [{ startSandboxServer }, { createLogger }] = await Promise.all([
      import('../netlify/sandbox/index.ts'),
      import('../lib/logger.ts'),
    ])
    const dataDir = join(process.env['KAIXU_DATA_DIR'] || '.kaixu', 'sandbox')
    const running = await startSandboxServer({
      dataDir,
      port: Number(values.port ?? process.env['PORT'] ?? 8788),
      host: values.host ?? '127.0.0.1',
      logger: createLogger(process.env['LOG_LEVEL'] || 'info'),
    })
    print(
      values.json,
      { url: running.url, apiUrl: `${running.url}/api/v1` },
      `Netlify sandbox on ${running.url} (API ${running.url}/api/v1)`,
    )
    const stop = () => void running.close().then(() => process.exit(0))
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
    return
  }
  const config = loadConfig()
  const use = <T>(fn: (admin: AdminApi) => Promise<T>) => withAdmin(config, fn)
  const ctx: CommandContext = {
    values,
    print: (value, human) => print(values.json, value, human),
    use,
    readStdin,
    usageError: (message) => new UsageError(message),
  }
  switch (command) {
    case 'serve': {
      const [{ startGateway }, { createLogger }, { QUEUE_STOP_TIMEOUT_MS }] = await Promise.all([
        import('./gateway.ts'),
        import('../lib/logger.ts'),
        import('../jobs/queue.ts'),
      ])
      const gateway = await startGateway(config, createLogger(config.logLevel))
      const stop = (signal: string) => {
        gateway.logger.info({ signal }, 'shutting down')
        // The drain takes at most the grace period, then the queue's stop timeout; the forced
        // exit comes only after both, so it never cuts a drain the settings allow.
        const force = setTimeout(
          () => process.exit(1),
          config.shutdownGraceMs + QUEUE_STOP_TIMEOUT_MS + 5_000,
        )
        force.unref()
        void gateway.close().then(() => process.exit(0))
      }
      process.once('SIGTERM', () => stop('SIGTERM'))
      process.once('SIGINT', () => stop('SIGINT'))
      return
    }
    case 'migrate': {
      const [{ createDb }, { migrate }] = await Promise.all([
        import('../db/db.ts'),
        import('../db/migrate.ts'),
      ])
      const release = config.databaseUrl ? async () => {} : await acquireDataDirLock(config.dataDir)
      const db = await createDb(config)
      try {
        const applied = await migrate(db)
        print(
          values.json,
          { applied },
          applied.length ? `Applied ${applied.join(', ')}` : 'Database is up to date',
        )
      } finally {
        await db.close()
        await release()
      }
      return
    }
    case 'db export':
    case 'db import': {
      const { runDbCommand } = await import('./cli-db.ts')
      await runDbCommand(command, config, ctx)
      return
    }
    case 'limits set': {
      const customerId = required(values, 'customer')
      const overrides = {
        deploysPerMonth: count(values, 'deploys-per-month', true),
        bytesPerMonth: count(values, 'bytes-per-month', true),
        perMinute: count(values, 'per-minute', true),
        perDay: count(values, 'per-day', true),
      }
      if (Object.values(overrides).every((v) => v === undefined)) {
        throw new UsageError(
          'give at least one of --deploys-per-month, --bytes-per-month, --per-minute, --per-day',
        )
      }
      const report = await use((a) => a.limitsSet({ id: customerId, ...overrides }))
      print(
        values.json,
        { customerId, ...report },
        `Limits for ${customerId}: ${report.deploys.limit} deploys and ${report.bytes.limit} bytes a month`,
      )
      return
    }
    case 'pricing set': {
      const centsPerDeploy = count(values, 'cents-per-deploy')
      const centsPerGb = count(values, 'cents-per-gb')
      if (centsPerDeploy == null || centsPerGb == null) {
        throw new UsageError('--cents-per-deploy and --cents-per-gb are required')
      }
      const from = values['effective-from']
      if (from && Number.isNaN(new Date(from).getTime()))
        throw new UsageError('--effective-from must be an ISO time')
      const version = await use((a) =>
        a.pricingSet({ centsPerDeploy, centsPerGb, ...(from ? { effectiveFrom: from } : {}) }),
      )
      print(
        values.json,
        { ...version },
        `Pricing version ${version.version}: ${version.cents_per_deploy} ¢/deploy, ${version.cents_per_gb} ¢/GB from ${new Date(version.effective_from).toISOString()}`,
      )
      return
    }
    case 'pricing list': {
      const { versions } = await use((a) => a.pricingList({}))
      print(
        values.json,
        { versions },
        versions
          .map(
            (v) =>
              `v${v.version}  ${v.cents_per_deploy} ¢/deploy  ${v.cents_per_gb} ¢/GB  from ${new Date(v.effective_from).toISOString()}`,
          )
          .join('\n'),
      )
      return
    }
    case 'invoices': {
      const m = month(values).slice(0, 7)
      const { invoices } = await use((a) =>
        a.invoicesList({ month: m, ...(values.customer ? { customer: values.customer } : {}) }),
      )
      if (values.csv) process.stdout.write(invoicesToCsv(invoices))
      else
        print(
          values.json,
          { invoices },
          invoices.length
            ? invoices
                .map(
                  (i) =>
                    `${i.month}  ${i.customerId}  ${i.customerName}  ${i.status}  ${i.deploys} deploys  ${i.bytes} bytes  ${i.totalCents} ¢`,
                )
                .join('\n')
            : 'No invoices for that month',
        )
      return
    }
    case 'jobs list': {
      const state = values.state as JobState | undefined
      const { jobs } = await use((a) =>
        a.jobsList({
          ...(state ? { state } : {}),
          ...(values.queue ? { queue: values.queue } : {}),
        }),
      )
      print(
        values.json,
        { jobs },
        jobs.length
          ? jobs
              .map(
                (j) =>
                  `${j.id}  ${j.queue}  ${j.state}  attempt ${j.attempts}/${j.maxAttempts}  ${JSON.stringify(j.data)}${j.error ? `  ${j.error}` : ''}`,
              )
              .join('\n')
          : 'No jobs',
      )
      return
    }
    case 'jobs retry': {
      const queue = values.queue
      const id = values.id
      if (!queue || !id) throw new UsageError('--queue and --id are required')
      const retried = await use((a) => a.jobsRetry({ queue, id }))
      print(values.json, retried, `Job ${id} queued again`)
      return
    }
    case 'invoices finalize': {
      const m = month(values).slice(0, 7)
      const result = await use((a) =>
        a.invoicesFinalize({
          month: m,
          ...(values.customer ? { customerId: values.customer } : {}),
        }),
      )
      print(
        values.json,
        result,
        `Finalized ${result.finalized.length} invoice(s) for ${result.month}`,
      )
      return
    }
    default: {
      const handled =
        (await runAccountCommand(command, ctx)) ||
        (await runWebhookCommand(command, ctx)) ||
        (await runOnboardingCommand(command, ctx))
      if (!handled) throw new UsageError(`unknown command '${command}'`)
    }
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (
    error instanceof UsageError ||
    (error instanceof TypeError &&
      'code' in error &&
      String(error.code).startsWith('ERR_PARSE_ARGS'))
  ) {
    process.stderr.write(`kaixu-gateway: ${error.message}\n\n${USAGE}\n`)
    process.exit(2)
  }
  if (
    error instanceof ConfigError ||
    error instanceof DataDirBusyError ||
    // cli-db.ts (which loads the database) is imported only by the db commands: known by name.
    (error instanceof Error && error.name === 'TransferError') ||
    error instanceof AppError
  ) {
    process.stderr.write(`kaixu-gateway: ${error.message}\n`)
    process.exit(1)
  }
  process.stderr.write(
    `kaixu-gateway: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
  process.exit(1)
})
