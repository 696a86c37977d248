import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.ts'
import { createScratchDatabase } from './scratch-postgres.ts'
import { createLogger } from '../../src/lib/logger.ts'
import { startGateway, type RunningGateway } from '../../src/start/gateway.ts'
import type { Clock } from '../../src/services/metering.ts'

/** The databases every gateway suite runs on: PGlite always, Postgres when CI provides one. */
export function databases(): string[] {
  return process.env['TEST_DATABASE_URL'] ? ['pglite', 'postgres'] : ['pglite']
}

/**
 * One database, for suites that test a client or the HTTP layer rather than storage: Postgres
 * when there is one, which starts in a fraction of PGlite's time on a loaded machine.
 */
export function oneDatabase(): string {
  return databases().at(-1)!
}

export const testVaultKeys = () => `t1:${randomBytes(32).toString('base64')}`

/** A scratch database on the TEST_DATABASE_URL server for one suite. */
export const scratchPostgres = () => createScratchDatabase(process.env['TEST_DATABASE_URL']!)

export interface TestGateway extends RunningGateway {
  dataDir: string
  stop(): Promise<void>
}

/** An in-process gateway on a free port with the built-in sandbox and a fresh database. */
export async function startTestGateway(
  database: string,
  env: Record<string, string> = {},
  options: { clock?: Clock; logStream?: NodeJS.WritableStream } = {},
): Promise<TestGateway> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kaixu-test-'))
  const pgDb = database === 'postgres' ? await scratchPostgres() : undefined
  const config = loadConfig({
    KAIXU_DATA_DIR: dataDir,
    PORT: '0',
    NETLIFY_API_URL: 'sandbox',
    LOG_LEVEL: 'silent',
    KAIXU_VAULT_KEYS: testVaultKeys(),
    // Suites push many times a minute; the pacing suite sets its own limits.
    KAIXU_PACING_PER_MINUTE: '100000',
    KAIXU_PACING_PER_DAY: '100000',
    ...(pgDb ? { DATABASE_URL: pgDb.url } : {}),
    ...env,
  })
  const gateway = await startGateway(config, createLogger(config.logLevel, options.logStream), {
    ...(options.clock ? { clock: options.clock } : {}),
  })
  return {
    ...gateway,
    dataDir,
    async stop() {
      await gateway.close()
      await pgDb?.drop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

export interface Tenant {
  customerId: string
  key: string
  keyId: string
  projectId: string
  projectName: string
  siteId: string
  netlifyToken: string
}

/** A customer with a key, a Netlify token and one project on a fresh sandbox site. */
export async function createTenant(gw: RunningGateway, name = 'Acme'): Promise<Tenant> {
  const netlifyToken = `nf_${randomBytes(12).toString('hex')}`
  const siteName = `site-${randomBytes(4).toString('hex')}`
  const res = await fetch(`${gw.url}/api/v1/sites`, {
    method: 'POST',
    headers: { authorization: `Bearer ${netlifyToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: siteName }),
  })
  if (!res.ok) throw new Error(`sandbox site create failed: ${res.status} ${await res.text()}`)
  const site = (await res.json()) as { id: string }
  const customer = await gw.accounts.createCustomer(name, 'test')
  const key = await gw.accounts.createApiKey(customer.id, 'test')
  await gw.accounts.setNetlifyToken(customer.id, netlifyToken, 'test')
  const project = await gw.accounts.addProject(
    customer.id,
    { siteId: site.id, name: siteName },
    'test',
  )
  return {
    customerId: customer.id,
    key: key.key,
    keyId: key.id,
    projectId: project.id,
    projectName: siteName,
    siteId: site.id,
    netlifyToken,
  }
}

export interface ApiResponse<T = Record<string, unknown>> {
  status: number
  headers: Headers
  body: T
}

/** Calls the gateway API with a key; answers status, headers and parsed JSON, never throws. */
export async function api<T = Record<string, any>>(
  gw: { url: string },
  key: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiResponse<T>> {
  const init: RequestInit & { duplex?: string } = {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined && !(body instanceof Uint8Array) && typeof body !== 'string'
        ? { 'content-type': 'application/json' }
        : {}),
      ...headers,
    },
  }
  if (body !== undefined) {
    init.body =
      body instanceof Uint8Array || typeof body === 'string'
        ? (body as NonNullable<RequestInit['body']>)
        : JSON.stringify(body)
  }
  const res = await fetch(gw.url + path, init)
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed as T }
}

/**
 * GETs a sandbox site URL such as http://<deploy>--<site>.localhost:PORT/path. Node cannot
 * resolve *.localhost, so connect to loopback and send the Host header a browser would.
 */
export function fetchSite(
  url: string,
): Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: u.port, path: u.pathname + u.search, headers: { host: u.host } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode!, body: Buffer.concat(chunks), headers: res.headers }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end()
  })
}

/** Row counts of every business table, to prove a rejected request changed nothing. */
export async function snapshotRows(gw: RunningGateway): Promise<Record<string, unknown>> {
  const tables = [
    'customers',
    'api_keys',
    'netlify_tokens',
    'projects',
    'pushes',
    'push_files',
    'push_usage_events',
  ]
  const out: Record<string, unknown> = {}
  for (const t of tables) {
    const rows = await gw.db.query(`SELECT * FROM ${t} ORDER BY 1, 2`)
    // last_used_at is bookkeeping written after any authenticated call, good or bad.
    out[t] = rows.map(({ last_used_at: _ignored, ...row }) => row)
  }
  return out
}
