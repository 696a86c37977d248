import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import type { Queryable } from '../../src/db/db.ts'
import type { RunningGateway } from '../../src/start/gateway.ts'
import { api, type ApiResponse, type Tenant } from './gateway.ts'

/** The admin token every account suite starts its gateway with. */
export const ADMIN_TOKEN = 'kaixu-admin-token-for-the-tests-0123456789'

/** Calls the admin API with the admin token (or another credential, to test refusals). */
export const adminApi = <T = Record<string, any>>(
  gw: { url: string },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  token: string | undefined = ADMIN_TOKEN,
): Promise<ApiResponse<T>> => api<T>(gw, token, method, `/admin/api${path}`, body, headers)

/** The sandbox's control API: tie a token to a named Netlify account, or revoke it. */
export async function sandboxControl(gw: { url: string }, path: string, body: unknown) {
  const res = await fetch(`${gw.url}/__sandbox${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`sandbox ${path}: ${res.status} ${await res.text()}`)
  return res.json() as Promise<Record<string, unknown>>
}

export const netlifyTokenFor = (label: string) => `nfp_${label}_${randomBytes(12).toString('hex')}`

/** A site in the sandbox account that `token` names. */
export async function createSite(gw: { url: string }, token: string, name?: string) {
  const res = await fetch(`${gw.url}/api/v1/sites`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: name ?? `site-${randomBytes(4).toString('hex')}` }),
  })
  if (!res.ok) throw new Error(`sandbox site create failed: ${res.status} ${await res.text()}`)
  return (await res.json()) as { id: string; name: string }
}

/**
 * A customer whose Netlify token is bound to a named sandbox account, so a second token of the
 * same account (a rotation) reaches the same sites. Set up through the admin API.
 */
export async function createAccountTenant(
  gw: { url: string },
  name: string,
  sandbox: { url: string } = gw,
): Promise<Tenant & { accountSlug: string }> {
  const accountSlug = `acct-${name.toLowerCase().replace(/[^a-z0-9]/g, '')}-${randomBytes(3).toString('hex')}`
  const netlifyToken = netlifyTokenFor(name.toLowerCase().replace(/[^a-z0-9]/g, ''))
  await sandboxControl(sandbox, '/tokens', { token: netlifyToken, accountSlug })
  const site = await createSite(sandbox, netlifyToken)
  const ok = <T>(r: ApiResponse<T>, status: number) => {
    if (r.status !== status) throw new Error(`setup: ${r.status} ${JSON.stringify(r.body)}`)
    return r.body as Record<string, any>
  }
  const customer = ok(await adminApi(gw, 'POST', '/customers', { name }), 201)
  const key = ok(await adminApi(gw, 'POST', `/customers/${customer['id']}/keys`, {}), 201)
  ok(
    await adminApi(gw, 'PUT', `/customers/${customer['id']}/netlify-token`, {
      token: netlifyToken,
    }),
    200,
  )
  const project = ok(
    await adminApi(gw, 'POST', `/customers/${customer['id']}/projects`, {
      siteId: site.id,
      name: site.name,
    }),
    201,
  )
  return {
    customerId: customer['id'],
    key: key['key'],
    keyId: key['id'],
    projectId: project['id'],
    projectName: site.name,
    siteId: site.id,
    netlifyToken,
    accountSlug,
  }
}

/**
 * Every row of every table in the public schema (as JSON text, sorted), except the audit log,
 * which records refused requests on purpose, and `last_used_at`, bookkeeping that any
 * authenticated call may touch. Equal snapshots mean a request changed nothing.
 */
export async function snapshotAll(db: Queryable): Promise<Record<string, string[]>> {
  const tables = await db.query<{ tablename: string }>(
    `SELECT tablename FROM pg_tables WHERE schemaname = 'public'
        AND tablename NOT IN ('audit_log', 'kaixu_migrations') ORDER BY tablename`,
  )
  const out: Record<string, string[]> = {}
  for (const { tablename } of tables) {
    const rows = await db.query<{ r: string }>(
      `SELECT (to_jsonb(t) - 'last_used_at')::text AS r FROM "${tablename}" t`,
    )
    out[tablename] = rows.map((row) => row.r).sort()
  }
  return out
}

/** Every value of every table in every schema, as one string: a poor man's database dump. */
export async function dumpDatabase(db: Queryable): Promise<string> {
  const tables = await db.query<{ schemaname: string; tablename: string }>(
    `SELECT schemaname, tablename FROM pg_tables
      WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
  )
  const parts: string[] = []
  for (const t of tables) {
    const rows = await db.query<{ r: string }>(
      `SELECT to_jsonb(x)::text AS r FROM "${t.schemaname}"."${t.tablename}" x`,
    )
    parts.push(`-- ${t.schemaname}.${t.tablename}`, ...rows.map((row) => row.r))
  }
  return parts.join('\n')
}

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: any
  text: string
}

/**
 * Sends bytes exactly as given (fetch would fix a wrong Content-Length or refuse bad headers)
 * and reads the first answer. `halfClose` ends the request side, as a client that sent less
 * than it announced and gave up would.
 */
export function rawRequest(
  gw: RunningGateway | { url: string },
  request: string | Buffer,
  halfClose = true,
): Promise<RawResponse> {
  const { hostname, port } = new URL(gw.url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(request)
      if (halfClose) socket.end()
    })
    let data = Buffer.alloc(0)
    const timer = setTimeout(() => socket.destroy(new Error('raw request timed out')), 10_000)
    socket.on('data', (d: Buffer) => (data = Buffer.concat([data, d])))
    socket.on('error', reject)
    socket.on('close', () => {
      clearTimeout(timer)
      const text = data.toString('utf8')
      const head = text.slice(0, text.indexOf('\r\n\r\n'))
      const [statusLine, ...lines] = head.split('\r\n')
      const headers = Object.fromEntries(
        lines.map((l) => [
          l.slice(0, l.indexOf(':')).toLowerCase(),
          l.slice(l.indexOf(':') + 1).trim(),
        ]),
      )
      let rest = text.slice(head.length + 4)
      if (headers['transfer-encoding'] === 'chunked') {
        // One chunk is all our JSON error answers ever take.
        const size = parseInt(rest, 16)
        rest = rest.slice(rest.indexOf('\r\n') + 2).slice(0, size)
      } else if (headers['content-length']) {
        rest = Buffer.from(rest).subarray(0, Number(headers['content-length'])).toString('utf8')
      }
      let body: unknown = rest
      try {
        body = JSON.parse(rest)
      } catch {
        // not JSON
      }
      resolve({ status: Number(statusLine?.split(' ')[1]), headers, body, text })
    })
  })
}
