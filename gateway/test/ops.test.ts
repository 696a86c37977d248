import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { ADMIN_TOKEN, createAccountTenant, rawRequest, sandboxControl } from './helpers/accounts.ts'
import {
  api,
  databases,
  scratchPostgres,
  startTestGateway,
  testVaultKeys,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { gatewayBin, startProcess, type Started } from './helpers/processes.ts'
import { sha1 } from './helpers/pushes.ts'

describe.each(databases())('operations on %s', (database) => {
  let gw: TestGateway
  let t: Tenant
  const lines: Record<string, any>[] = []

  beforeAll(async () => {
    const stream = new PassThrough()
    stream.on('data', (d: Buffer) => {
      for (const l of d.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l))
    })
    gw = await startTestGateway(
      database,
      { LOG_LEVEL: 'debug', KAIXU_ADMIN_TOKEN: ADMIN_TOKEN },
      { logStream: stream },
    )
    t = await createAccountTenant(gw, 'Ops')
  })
  afterAll(async () => {
    await gw?.stop()
  })

  test('liveness, readiness and security headers', async () => {
    const live = await api(gw, undefined, 'GET', '/healthz')
    expect(live).toMatchObject({ status: 200, body: { ok: true } })
    const ready = await api(gw, undefined, 'GET', '/readyz')
    expect(ready).toMatchObject({ status: 200, body: { ok: true, database: gw.db.kind } })
    for (const res of [live, ready, await api(gw, t.key, 'GET', '/v1/nope')]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/)
      expect(res.headers.get('content-security-policy')).toContain("default-src 'self'")
      expect(res.headers.get('x-powered-by')).toBeNull()
    }
  })

  test('every answer carries a request id, and every log line of the request carries it too', async () => {
    const reused = await api(gw, t.key, 'GET', '/v1/usage', undefined, {
      'x-request-id': 'ops-trace-1',
    })
    expect(reused.headers.get('x-request-id')).toBe('ops-trace-1')
    const replaced = await api(gw, t.key, 'GET', '/v1/usage', undefined, {
      'x-request-id': 'bad id <script>',
    })
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const raw = await rawRequest(
      gw,
      'GET /v1/usage HTTP/1.1\r\nHost: gw\r\nContent-Length: -1\r\n\r\n',
    )
    expect(raw.headers['x-request-id']).toBe(raw.body.requestId)

    // A service logs through the root logger (a failed live refresh): the line still carries
    // the request id, by the request's async context.
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'a.txt': sha1('a') },
    })
    await sandboxControl(gw, '/faults', {
      match: { method: 'GET', path: `/deploys/${init.body['deployId']}` },
      status: 404,
    })
    const status = await api(
      gw,
      t.key,
      'GET',
      `/v1/push-status?pushId=${init.body['pushId']}`,
      undefined,
      {
        'x-request-id': 'ops-trace-2',
      },
    )
    expect(status.status).toBe(200)
    const mine = lines.filter((l) => l.reqId === 'ops-trace-2' || l.req?.id === 'ops-trace-2')
    expect(mine.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['live Netlify refresh failed', 'request completed']),
    )
    expect(mine.find((l) => l.msg === 'live Netlify refresh failed')).toMatchObject({
      reqId: 'ops-trace-2',
    })
    // Lines that are not part of any request do not inherit one.
    const listening = lines.find((l) => l.msg === 'gateway listening')
    expect(listening?.reqId).toBeUndefined()
  })

  test('/metrics serves Prometheus text with HTTP, error and business series', async () => {
    await api(gw, 'kx_live_nope', 'GET', '/v1/usage')
    const res = await fetch(`${gw.url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    expect(text).toMatch(
      /kaixu_http_request_duration_seconds_count\{method="POST",route="\/v1\/push-init",status="201"\} \d+/,
    )
    expect(text).toMatch(/kaixu_http_errors_total\{code="unauthorized",status="401"\} \d+/)
    expect(text).toMatch(/kaixu_vault_tokens\{key_id="t1"\} 1/)
    expect(text).toMatch(/kaixu_pushes_in_flight\{state="uploading"\} \d+/)
    expect(text).toMatch(/kaixu_customers\{status="active"\} 1/)
    expect(text).toContain('process_cpu_user_seconds_total')
  })
})

/**
 * SIGTERM on `kaixu-gateway serve`: it stops accepting connections, lets an upload in flight
 * finish, stops its job workers and exits 0; nothing is lost across the restart.
 */
describe.each(databases())('graceful shutdown on %s', (database) => {
  let work: string
  let sandbox: Started
  let env: Record<string, string>
  let drop: (() => Promise<void>) | undefined

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kaixu-shutdown-'))
    sandbox = await startProcess(
      [gatewayBin, 'sandbox', '--port', '0', '--json'],
      { KAIXU_DATA_DIR: work },
      (j) => typeof j['url'] === 'string',
    )
    const pg = database === 'postgres' ? await scratchPostgres() : undefined
    drop = pg?.drop
    env = {
      KAIXU_DATA_DIR: join(work, 'data'),
      NETLIFY_API_URL: String(sandbox.line['apiUrl']),
      KAIXU_VAULT_KEYS: testVaultKeys(),
      KAIXU_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      PORT: '0',
      ...(pg ? { DATABASE_URL: pg.url } : {}),
    }
  }, 60_000)
  afterAll(async () => {
    await sandbox?.stop()
    await drop?.()
    await rm(work, { recursive: true, force: true })
  })

  const serve = () =>
    startProcess([gatewayBin, 'serve'], env, (j) => j['msg'] === 'gateway listening', 60_000)

  test('an upload in flight finishes, new connections are refused, the process exits 0', async () => {
    let gateway = await serve()
    const url = String(gateway.line['url'])
    const t = await createAccountTenant({ url }, 'Shutdown', { url: String(sandbox.line['url']) })
    const file = randomBytes(1024 * 1024)
    const init = await api({ url }, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'big.bin': sha1(file) },
      sizes: { 'big.bin': file.length },
    })
    expect(init.status).toBe(201)
    const pushId = init.body['pushId'] as string

    // A slow client: 16 pieces of 64 KiB, 40 ms apart.
    let signalledAt = 0
    const { hostname, port } = new URL(url)
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: hostname,
          port,
          method: 'PUT',
          path: `/v1/push-upload?pushId=${pushId}`,
          headers: {
            authorization: `Bearer ${t.key}`,
            'x-content-sha1': sha1(file),
            'content-type': 'application/octet-stream',
            'content-length': String(file.length),
          },
        },
        (res) => {
          let body = ''
          res.on('data', (d: Buffer) => (body += d))
          res.on('end', () => resolve({ status: res.statusCode!, body }))
        },
      )
      req.on('error', reject)
      void (async () => {
        for (let i = 0; i < 16; i++) {
          req.write(file.subarray(i * 65536, (i + 1) * 65536))
          if (i === 2) {
            signalledAt = Date.now()
            gateway.child.kill('SIGTERM')
          }
          await sleep(40)
        }
        req.end()
      })()
    })
    await sleep(300)
    await expect(fetch(`${url}/healthz`)).rejects.toThrow()
    const uploaded = await answer
    expect(uploaded.status).toBe(200)
    expect(JSON.parse(uploaded.body)).toMatchObject({ bytes: file.length, skipped: false })
    // One SIGTERM is enough: the process drains and exits 0 by itself, well within the grace.
    const [code] =
      gateway.child.exitCode !== null ? [gateway.child.exitCode] : await once(gateway.child, 'exit')
    expect(code).toBe(0)
    expect(Date.now() - signalledAt).toBeLessThan(15_000)

    // Started again on the same database, the push picks up where it was.
    gateway = await serve()
    try {
      const done = await api(
        { url: String(gateway.line['url']) },
        t.key,
        'POST',
        '/v1/push-complete',
        {
          pushId,
          wait: true,
        },
      )
      expect(done.body).toMatchObject({ state: 'ready', bytesUploaded: file.length })
    } finally {
      await gateway.stop()
    }
  }, 120_000)
})
