import { resolve } from 'node:path'
import { z } from 'zod'
import { MAX_CHUNK_COUNT, MIN_CHUNK_BYTES } from 'kaixu-contract'

/** The real Netlify API; `NETLIFY_API_URL=sandbox` swaps in the built-in sandbox. */
export const NETLIFY_API_DEFAULT = 'https://api.netlify.com/api/v1'

const intFromEnv = (min: number, max: number) => z.coerce.number().int().min(min).max(max)

/**
 * The chunk size when KAIXU_CHUNK_BYTES is unset. On Postgres a chunk being received is held in
 * memory to go in its row, so chunks stay small (5 MiB: a few in flight stay tens of MB). With the
 * embedded database they stream to files and are never held, so bigger chunks cost no memory and
 * save per-chunk work (a request, a transaction, a file): 16 MiB.
 */
const defaultChunkBytes = (databaseUrl: string | undefined) => (databaseUrl ? 5 : 16) * 1024 * 1024

const envSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  KAIXU_DB_POOL_MAX: intFromEnv(1, 1000).default(10),
  KAIXU_JOB_POOL_MAX: intFromEnv(2, 100).default(4),
  KAIXU_DATA_DIR: z.string().min(1).default('.kaixu'),
  PORT: intFromEnv(0, 65535).default(8787),
  HOST: z.string().min(1).default('127.0.0.1'),
  NETLIFY_API_URL: z
    .union([z.literal('sandbox'), z.url({ protocol: /^https?$/ })])
    .default(NETLIFY_API_DEFAULT),
  KAIXU_ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  KAIXU_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  KAIXU_GATEWAY_URL: z.url({ protocol: /^https?$/ }).optional(),
  KAIXU_CORS_ORIGINS: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z.string().refine(isOrigin, 'must be origins (scheme://host[:port]), comma-separated'),
      ),
    )
    .default([]),
  KAIXU_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  KAIXU_ONBOARDING_TTL_HOURS: intFromEnv(1, 24 * 30).default(72),
  KAIXU_SHUTDOWN_GRACE_MS: intFromEnv(0, 600_000).default(20_000),
  KAIXU_VAULT_KEYS: z.string().min(1).optional(),
  KAIXU_WAIT_TIMEOUT_MS: intFromEnv(0, 3_600_000).default(120_000),
  KAIXU_HEADERS_TIMEOUT_MS: intFromEnv(1_000, 600_000).default(20_000),
  KAIXU_REQUEST_TIMEOUT_MS: intFromEnv(1_000, 3_600_000).default(15 * 60_000),
  KAIXU_MAX_CONNECTIONS: intFromEnv(1, 1_000_000).default(1_000),
  KAIXU_MAX_FILES: intFromEnv(1, 1_000_000).default(100_000),
  KAIXU_INLINE_MAX_BYTES: intFromEnv(1, 2 ** 32).default(5 * 1024 * 1024),
  KAIXU_CHUNK_BYTES: intFromEnv(MIN_CHUNK_BYTES, 64 * 1024 * 1024).optional(),
  KAIXU_FUNCTION_MAX_BYTES: intFromEnv(1, 2 ** 32).default(50 * 1024 * 1024),
  KAIXU_BATCH_MAX_FILES: intFromEnv(1, 10_000).default(500),
  KAIXU_BATCH_MAX_BYTES: intFromEnv(1, 1024 * 1024 * 1024).default(32 * 1024 * 1024),
  KAIXU_BATCH_FILE_MAX_BYTES: intFromEnv(0, 2 ** 32 - 1).default(1024 * 1024),
  KAIXU_NETLIFY_UPLOAD_CONCURRENCY: intFromEnv(1, 64).default(5),
  KAIXU_ZIP: z.enum(['auto', 'always', 'off']).default('auto'),
  KAIXU_ZIP_MIN_FILES: intFromEnv(1, 1_000_000).default(100),
  KAIXU_ZIP_MIN_SHARE: z.coerce.number().min(0).max(1).default(0.9),
  KAIXU_ZIP_MAX_BYTES: intFromEnv(1, 2 ** 40).default(1024 * 1024 * 1024),
  KAIXU_CHUNK_RETENTION_HOURS: intFromEnv(1, 24 * 365).default(48),
  KAIXU_PUSH_IDLE_TIMEOUT_SECONDS: intFromEnv(1, 30 * 86_400).default(3600),
  KAIXU_JOB_ATTEMPTS: intFromEnv(1, 100).default(10),
  KAIXU_JOB_RETRY_DELAY_SECONDS: intFromEnv(1, 86_400).default(30),
  KAIXU_JOB_RETRY_CRON: z.string().min(9).default('*/5 * * * *'),
  KAIXU_JOB_HEARTBEAT_SECONDS: intFromEnv(10, 3600).default(30),
  KAIXU_JOB_CUSTOMER_CONCURRENCY: intFromEnv(1, 64).default(2),
  KAIXU_JOB_POLL_SECONDS: z.coerce.number().min(0.5).max(60).default(0.5),
  KAIXU_WEBHOOK_ATTEMPTS: intFromEnv(1, 100).default(8),
  KAIXU_WEBHOOK_RETRY_DELAY_SECONDS: intFromEnv(1, 86_400).default(30),
  KAIXU_WEBHOOK_TIMEOUT_MS: intFromEnv(100, 120_000).default(10_000),
  KAIXU_WEBHOOK_DISABLE_AFTER: intFromEnv(1, 10_000).default(50),
  KAIXU_DEPLOYS_PER_MONTH: intFromEnv(0, 10_000_000).default(1000),
  KAIXU_BYTES_PER_MONTH: intFromEnv(0, Number.MAX_SAFE_INTEGER).default(50_000_000_000),
  KAIXU_PACING_PER_MINUTE: intFromEnv(0, 1_000_000).default(3),
  KAIXU_PACING_PER_DAY: intFromEnv(0, 10_000_000).default(100),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
})

/**
 * `KAIXU_ZIP`: `auto` zips a push when Netlify lacks at least `minShare` of its distinct files,
 * at least `minFiles` of them, and their PUTs would not fit the token's request budget left in
 * Netlify's current window; `always` whenever a push can be zipped at all (tests, demos);
 * `off` never. A push can be zipped when it has no functions, every size is known, every file
 * fits one inline upload and the archive stays under `maxBytes` (Netlify's limit: 1 GiB).
 */
export interface ZipSettings {
  mode: 'auto' | 'always' | 'off'
  minFiles: number
  minShare: number
  maxBytes: number
}

export interface Config {
  /** Postgres URL; unset means embedded PGlite in `dataDir`. */
  readonly databaseUrl: string | undefined
  /**
   * Postgres connections per process: `requests` for the gateway's own pool, `jobs` for the job
   * queue's. A process opens at most their sum; budget N processes × the sum against the server.
   */
  readonly dbPool: Readonly<{ requests: number; jobs: number }>
  readonly dataDir: string
  readonly port: number
  readonly host: string
  /** Base URL of Netlify's API, or `sandbox` for the built-in one. */
  readonly netlifyApiUrl: string
  readonly adminToken: string | undefined
  /**
   * Where clients reach this gateway (`https://deploy.example.com`), for the links it hands out;
   * unset, an admin request's own origin is used (the CLI's local path: `http://HOST:PORT`).
   */
  readonly publicUrl: string | undefined
  /** How long an onboarding link stays usable unless its creator asks for less. */
  readonly onboardingTtlHours: number
  /** Bearer token for GET /metrics; unset leaves it open (the default HOST is loopback). */
  readonly metricsToken: string | undefined
  /** A running gateway's URL: CLI commands then go through its admin API. */
  readonly gatewayUrl: string | undefined
  /**
   * Web origins whose pages may call `/v1` from the browser (CORS), exactly as a browser sends
   * `Origin`. Empty (the default): no page of another origin may.
   */
  readonly corsOrigins: readonly string[]
  /** How long SIGTERM waits for in-flight requests and jobs before closing anyway. */
  readonly shutdownGraceMs: number
  /** Raw keyring spec (`kid:base64key,…`); parsed by the vault. */
  readonly vaultKeys: string | undefined
  readonly waitTimeoutMs: number
  /**
   * What one client may hold of the server: the request headers must arrive within
   * `headersTimeoutMs`, the whole request (body included) within `requestTimeoutMs` (also how
   * long an Idempotency-Key claim lasts), and at most `maxConnections` sockets are open at once.
   */
  readonly http: Readonly<{
    headersTimeoutMs: number
    requestTimeoutMs: number
    maxConnections: number
  }>
  readonly maxFiles: number
  readonly inlineMaxBytes: number
  readonly chunkBytes: number
  /** The largest file a push may hold: `MAX_CHUNK_COUNT` chunks of `chunkBytes`. */
  readonly maxFileBytes: number
  /** The largest function zip a push may hold: Netlify's own 50 MB bundle limit by default. */
  readonly functionMaxBytes: number
  /**
   * push-upload-batch: files per request, bytes of files per request, and the largest file a
   * batch may carry (bigger ones go through push-upload or chunks).
   */
  readonly batch: Readonly<{ maxFiles: number; maxBytes: number; fileMaxBytes: number }>
  /** Netlify allows 5 file PUTs in flight per token on free plans. */
  readonly netlifyUploadConcurrency: number
  /** When a push goes to Netlify as one zip deploy instead of file PUTs (see services/zip-deploys.ts). */
  readonly zip: Readonly<ZipSettings>
  readonly jobPollSeconds: number
  /** Chunks of unfinished uploads are kept this long, then cleaned up. */
  readonly chunkRetentionHours: number
  /**
   * An uploading push with no init or upload for this long expires (billed if Netlify published
   * it, else cancelled there) and gives its reservation back.
   */
  readonly pushIdleTimeoutSeconds: number
  /** Background jobs: attempts in all (first run included), first retry delay, sweep schedule. */
  readonly jobs: Readonly<{
    attempts: number
    retryDelaySeconds: number
    retryCron: string
    heartbeatSeconds: number
    /**
     * Jobs of one customer active at once per queue, across all processes (each process runs
     * 4 workers per queue): one customer's stuck work never holds every worker.
     */
    customerConcurrency: number
  }>
  /**
   * Outgoing webhooks: attempts per delivery, first retry delay (doubling), per-attempt timeout,
   * and failed attempts in a row after which an endpoint is disabled.
   */
  readonly webhooks: Readonly<{
    attempts: number
    retryDelaySeconds: number
    timeoutMs: number
    disableAfter: number
  }>
  /** Deployment-wide limits; customers may have their own overrides. */
  readonly defaultLimits: Readonly<{
    deploysPerMonth: number
    bytesPerMonth: number
    perMinute: number
    perDay: number
  }>
  readonly logLevel: string
}

/**
 * An origin as a browser sends it in `Origin`: http(s), a host, maybe a port, nothing else (no
 * path, no trailing slash), so the listed value and the header compare as plain strings.
 */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value)
    return /^https?:$/.test(url.protocol) && url.origin === value
  } catch {
    return false
  }
}

/** Raised for bad configuration; the message names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/**
 * Reads and validates the environment once. Everything else receives the frozen result, so no
 * module reads `process.env` on its own.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings are treated as unset: `FOO= kaixu-gateway serve` should not mean "FOO is ''".
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  )
  const parsed = envSchema.safeParse(cleaned)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`)
  }
  const e = parsed.data
  const chunkBytes = e.KAIXU_CHUNK_BYTES ?? defaultChunkBytes(e.DATABASE_URL)
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    dbPool: Object.freeze({ requests: e.KAIXU_DB_POOL_MAX, jobs: e.KAIXU_JOB_POOL_MAX }),
    dataDir: resolve(e.KAIXU_DATA_DIR),
    port: e.PORT,
    host: e.HOST,
    netlifyApiUrl: e.NETLIFY_API_URL.replace(/\/+$/, ''),
    adminToken: e.KAIXU_ADMIN_TOKEN,
    metricsToken: e.KAIXU_METRICS_TOKEN,
    gatewayUrl: e.KAIXU_GATEWAY_URL?.replace(/\/+$/, ''),
    corsOrigins: Object.freeze(e.KAIXU_CORS_ORIGINS),
    publicUrl: e.KAIXU_PUBLIC_URL?.replace(/\/+$/, ''),
    onboardingTtlHours: e.KAIXU_ONBOARDING_TTL_HOURS,
    shutdownGraceMs: e.KAIXU_SHUTDOWN_GRACE_MS,
    vaultKeys: e.KAIXU_VAULT_KEYS,
    waitTimeoutMs: e.KAIXU_WAIT_TIMEOUT_MS,
    http: Object.freeze({
      // Node requires headersTimeout <= requestTimeout.
      headersTimeoutMs: Math.min(e.KAIXU_HEADERS_TIMEOUT_MS, e.KAIXU_REQUEST_TIMEOUT_MS),
      requestTimeoutMs: e.KAIXU_REQUEST_TIMEOUT_MS,
      maxConnections: e.KAIXU_MAX_CONNECTIONS,
    }),
    maxFiles: e.KAIXU_MAX_FILES,
    inlineMaxBytes: e.KAIXU_INLINE_MAX_BYTES,
    chunkBytes,
    maxFileBytes: chunkBytes * MAX_CHUNK_COUNT,
    functionMaxBytes: e.KAIXU_FUNCTION_MAX_BYTES,
    batch: Object.freeze({
      maxFiles: e.KAIXU_BATCH_MAX_FILES,
      maxBytes: e.KAIXU_BATCH_MAX_BYTES,
      // A batch never takes a file that a single request could not: bigger ones go in chunks.
      fileMaxBytes: Math.min(
        e.KAIXU_BATCH_FILE_MAX_BYTES,
        e.KAIXU_BATCH_MAX_BYTES,
        e.KAIXU_INLINE_MAX_BYTES,
      ),
    }),
    netlifyUploadConcurrency: e.KAIXU_NETLIFY_UPLOAD_CONCURRENCY,
    zip: Object.freeze({
      mode: e.KAIXU_ZIP,
      minFiles: e.KAIXU_ZIP_MIN_FILES,
      minShare: e.KAIXU_ZIP_MIN_SHARE,
      maxBytes: e.KAIXU_ZIP_MAX_BYTES,
    }),
    jobPollSeconds: e.KAIXU_JOB_POLL_SECONDS,
    chunkRetentionHours: e.KAIXU_CHUNK_RETENTION_HOURS,
    pushIdleTimeoutSeconds: e.KAIXU_PUSH_IDLE_TIMEOUT_SECONDS,
    jobs: Object.freeze({
      attempts: e.KAIXU_JOB_ATTEMPTS,
      retryDelaySeconds: e.KAIXU_JOB_RETRY_DELAY_SECONDS,
      retryCron: e.KAIXU_JOB_RETRY_CRON,
      heartbeatSeconds: e.KAIXU_JOB_HEARTBEAT_SECONDS,
      customerConcurrency: e.KAIXU_JOB_CUSTOMER_CONCURRENCY,
    }),
    webhooks: Object.freeze({
      attempts: e.KAIXU_WEBHOOK_ATTEMPTS,
      retryDelaySeconds: e.KAIXU_WEBHOOK_RETRY_DELAY_SECONDS,
      timeoutMs: e.KAIXU_WEBHOOK_TIMEOUT_MS,
      disableAfter: e.KAIXU_WEBHOOK_DISABLE_AFTER,
    }),
    defaultLimits: Object.freeze({
      deploysPerMonth: e.KAIXU_DEPLOYS_PER_MONTH,
      bytesPerMonth: e.KAIXU_BYTES_PER_MONTH,
      perMinute: e.KAIXU_PACING_PER_MINUTE,
      perDay: e.KAIXU_PACING_PER_DAY,
    }),
    logLevel: e.LOG_LEVEL,
  })
}
