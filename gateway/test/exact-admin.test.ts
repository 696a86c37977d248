import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/lib/logger.ts'
import { startGateway, type RunningGateway } from '../src/start/gateway.ts'
import { databases, scratchPostgres, testVaultKeys } from './helpers/gateway.ts'

const TOKEN_A = 'admin-token-one-for-the-exact-tests-0123'
const TOKEN_B = 'admin-token-two-for-the-exact-tests-4567'

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** One HTTP request from a chosen loopback address (127.0.0.x are all this machine on Linux). */
function call(
  gw: { url: string },
  options: { method: string; path: string; from?: string; cookie?: string; form?: string },
): Promise<Answer> {
  const u = new URL(gw.url)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: options.path,
        method: options.method,
        localAddress: options.from ?? '127.0.0.1',
        headers: {
          ...(options.cookie ? { cookie: options.cookie } : {}),
          ...(options.form !== undefined
            ? {
                'content-type': 'application/x-www-form-urlencoded',
                'content-length': String(Buffer.byteLength(options.form)),
              }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        )
      },
    )
    req.on('error', reject)
    req.end(options.form)
  })
}

const cookieOf = (answer: Answer, name: string) =>
  ([answer.headers['set-cookie'] ?? []].flat() as string[])
    .map((c) => c.split(';', 1)[0]!)
    .find((c) => c.startsWith(`${name}=`) && c.length > name.length + 1)

/** Signs in through the form as a browser would; answers the sign-in's answer and its session. */
async function signIn(gw: { url: string }, token: string, from = '127.0.0.1') {
  const page = await call(gw, { method: 'GET', path: '/admin/login', from })
  const login = cookieOf(page, 'kaixu_admin_login')!
  const csrf = login.split('=')[1]!
  const answer = await call(gw, {
    method: 'POST',
    path: '/admin/login',
    from,
    cookie: login,
    form: new URLSearchParams({ token, _csrf: csrf }).toString(),
  })
  return { answer, session: cookieOf(answer, 'kaixu_admin') }
}

describe.each(databases())('hostile clients: admin sign-in on %s', (database) => {
  let work: string
  let pg: { url: string; drop(): Promise<void> } | undefined
  let gw: RunningGateway | undefined
  const vaultKeys = testVaultKeys()

  /** A gateway on the suite's one database, which outlives restarts. */
  const open = async (adminToken: string) => {
    await gw?.close()
    const config = loadConfig({
      KAIXU_DATA_DIR: join(work, 'data'),
      PORT: '0',
      NETLIFY_API_URL: 'sandbox',
      LOG_LEVEL: 'silent',
      KAIXU_ADMIN_TOKEN: adminToken,
      KAIXU_VAULT_KEYS: vaultKeys,
      ...(pg ? { DATABASE_URL: pg.url } : {}),
    })
    gw = await startGateway(config, createLogger(config.logLevel))
    return gw
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kaixu-admin-'))
    pg = database === 'postgres' ? await scratchPostgres() : undefined
  })
  afterAll(async () => {
    await gw?.close()
    await pg?.drop()
    await rm(work, { recursive: true, force: true })
  })

  test('failed sign-ins are throttled per address with a clear 429', async () => {
    const g = await open(TOKEN_A)
    for (let i = 0; i < 5; i++) {
      expect(
        (await signIn(g, 'not-the-admin-token-at-all-000000', '127.0.0.2')).answer.status,
      ).toBe(401)
    }
    // The sixth try from that address is refused before the token is even compared.
    const throttled = await signIn(g, TOKEN_A, '127.0.0.2')
    expect(throttled.answer.status).toBe(429)
    expect(throttled.session).toBeUndefined()
    expect(Number(throttled.answer.headers['retry-after'])).toBeGreaterThan(0)
    expect(throttled.answer.body).toMatch(/Too many failed sign-ins from your address/)
    // Another address is not locked out by someone else's guessing.
    const other = await signIn(g, TOKEN_A, '127.0.0.3')
    expect(other.answer.status).toBe(303)
    expect(other.session).toBeDefined()
    // Refused attempts are audited like any sign-in.
    const audited = await g.db.query<{ status: string }>(
      "SELECT status FROM audit_log WHERE action = 'admin.sign_in'",
    )
    expect(audited.filter((r) => r.status === 'throttled')).toHaveLength(1)
  })

  test('a dashboard form fails as the API would: 413 when oversized, 403 forbidden when forged', async () => {
    const g = await open(TOKEN_A)
    const { session } = await signIn(g, TOKEN_A, '127.0.0.5')
    expect(session).toBeDefined()
    const post = (form: string) =>
      call(g, { method: 'POST', path: '/admin/logout', from: '127.0.0.5', cookie: session!, form })
    // Over the form's 8 kB limit: the JSON API's classifier says 413, and so does the page.
    const big = await post(new URLSearchParams({ _csrf: 'x', note: 'a'.repeat(9000) }).toString())
    expect(big.status).toBe(413)
    expect(big.headers['content-type']).toMatch(/^text\/html/)
    expect(big.body).toContain('<code>payload_too_large</code>')
    // A known session with someone else's CSRF token: not "who are you" (401) but "no" (403).
    const forged = await post(new URLSearchParams({ _csrf: 'forged' }).toString())
    expect(forged.status).toBe(403)
    expect(forged.body).toContain('<code>forbidden</code>')
    // Without a session a POST is unauthorized.
    const anonymous = await call(g, { method: 'POST', path: '/admin/logout', form: '_csrf=x' })
    expect(anonymous.status).toBe(401)
    expect(anonymous.body).toContain('<code>unauthorized</code>')
  })

  test('sessions die when KAIXU_ADMIN_TOKEN changes; expired sessions are purged', async () => {
    let g = await open(TOKEN_A)
    const { session } = await signIn(g, TOKEN_A, '127.0.0.4')
    expect(session).toBeDefined()
    const home = () => call(gw!, { method: 'GET', path: '/admin', cookie: session! })
    expect((await home()).status).toBe(200)
    // The operator rotates the admin token (say it leaked): every session made with the old one
    // ends with it.
    g = await open(TOKEN_B)
    const after = await home()
    expect(after.status).toBe(303)
    expect(after.headers['location']).toBe('/admin/login')
    // Expired sessions (and those of a replaced token) do not linger in the table.
    await g.db.query("UPDATE admin_sessions SET expires_at = now() - interval '1 minute'")
    expect((await signIn(g, TOKEN_B, '127.0.0.4')).answer.status).toBe(303)
    const rows = await g.db.query<{ expires_at: Date }>('SELECT expires_at FROM admin_sessions')
    expect(rows).toHaveLength(1)
    expect(new Date(rows[0]!.expires_at).getTime()).toBeGreaterThan(Date.now())
  })
})
