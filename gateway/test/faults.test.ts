import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  api,
  createTenant,
  fetchSite,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { sha1 } from './helpers/pushes.ts'

/**
 * Netlify misbehaving at every step, through the sandbox's fault schedule: rate limits with
 * X-RateLimit-Reset, 502/503, slow answers and dropped connections. Transient faults never cost a
 * deploy; permanent ones fail fast with Netlify's message and give the reservation back.
 */
describe('Netlify faults', () => {
  let gw: TestGateway
  let t: Tenant

  beforeAll(async () => {
    gw = await startTestGateway('pglite', {
      KAIXU_JOB_RETRY_DELAY_SECONDS: '1',
      KAIXU_CHUNK_BYTES: String(64 * 1024),
    })
    t = await createTenant(gw)
  })
  afterAll(async () => {
    await gw?.stop()
  })

  const sandbox = (path: string, body: unknown) =>
    fetch(`${gw.url}/__sandbox${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  const faults = (list: unknown[]) => sandbox('/faults', list)

  /** A client that retries what the gateway says is retryable, as the Action does. */
  async function call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) {
    for (let attempt = 1; ; attempt++) {
      const res = await api(gw, t.key, method, path, body, headers)
      if (![429, 503].includes(res.status) || attempt === 8) return res
      await sleep(Math.min(Number(res.headers.get('retry-after') ?? 1), 2) * 200)
    }
  }

  async function push(files: Record<string, Buffer>) {
    const manifest = Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)]))
    const init = await call('POST', '/v1/push-init', { project: t.projectName, files: manifest })
    expect(init.status).toBe(201)
    const pushId = String(init.body['pushId'])
    for (const sha of init.body['required'] as string[]) {
      const content = Object.values(files).find((c) => sha1(c) === sha)!
      const up = await call('PUT', `/v1/push-upload?pushId=${pushId}`, content, {
        'x-content-sha1': sha,
      })
      expect(up.status).toBe(200)
    }
    return { pushId, done: await call('POST', '/v1/push-complete', { pushId, wait: true }) }
  }

  test('transient faults at every step: the push still completes and bills once', async () => {
    const reset = String(Math.ceil(Date.now() / 1000) + 1)
    await faults([
      {
        match: { method: 'POST', pathRegex: '/sites/[^/]+/deploys' },
        status: 429,
        headers: { 'X-RateLimit-Reset': reset },
        times: 1,
      },
      { match: { method: 'POST', pathRegex: '/sites/[^/]+/deploys' }, status: 502, times: 1 },
      { match: { method: 'POST', pathRegex: '/sites/[^/]+/deploys' }, drop: true, times: 1 },
      { match: { method: 'PUT', path: '/files/' }, status: 503, times: 2 },
      { match: { method: 'PUT', path: '/files/' }, status: 429, times: 1 },
      { match: { method: 'PUT', path: '/files/' }, drop: true, times: 1 },
      { match: { method: 'GET', pathRegex: '/deploys/[^/]+$' }, status: 502, times: 2 },
      { match: { method: 'GET', pathRegex: '/deploys/[^/]+$' }, delayMs: 1500, times: 1 },
      { match: { method: 'GET', pathRegex: '/deploys/[^/]+$' }, drop: true, times: 1 },
    ])
    const files = {
      'index.html': randomBytes(100),
      'a.css': randomBytes(200),
      'b.js': randomBytes(300),
    }
    const { pushId, done } = await push(files)
    expect(done.body['state']).toBe('ready')
    for (const [path, content] of Object.entries(files)) {
      expect((await fetchSite(`${done.body['deploy_ssl_url']}/${path}`)).body.equals(content)).toBe(
        true,
      )
    }
    expect(
      await gw.db.query('SELECT 1 FROM push_usage_events WHERE push_id = $1', [pushId]),
    ).toHaveLength(1)
    const stats = (await (await fetch(`${gw.url}/__sandbox/stats`)).json()) as {
      faultsInjected: number
    }
    expect(stats.faultsInjected).toBeGreaterThanOrEqual(9)
    await fetch(`${gw.url}/__sandbox/faults`, { method: 'DELETE' })
  })

  test('a chunked file survives a failing Netlify during assembly', async () => {
    const file = randomBytes(64 * 1024 * 2 + 7)
    const init = await call('POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'big.bin': sha1(file) },
      sizes: { 'big.bin': file.length },
    })
    const pushId = String(init.body['pushId'])
    await faults([{ match: { method: 'PUT', path: '/files/big.bin' }, status: 502, times: 5 }])
    const parts = [file.subarray(0, 65536), file.subarray(65536, 131072), file.subarray(131072)]
    for (const [i, part] of parts.entries()) {
      const res = await call('PUT', `/v1/push-upload-chunk?pushId=${pushId}`, part, {
        'x-content-sha1': sha1(file),
        'x-chunk-index': String(i),
        'x-chunk-count': '3',
        'x-chunk-sha1': sha1(part),
      })
      expect(res.status).toBe(201)
    }
    const done = await call('POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')
    expect((await fetchSite(`${done.body['deploy_ssl_url']}/big.bin`)).body.equals(file)).toBe(true)
  })

  test('a revoked Netlify token fails fast with Netlify message and returns the reservation', async () => {
    const other = await createTenant(gw, 'Revoked')
    const content = randomBytes(50)
    const init = await api(gw, other.key, 'POST', '/v1/push-init', {
      project: other.projectName,
      files: { 'x.bin': sha1(content) },
    })
    expect(init.status).toBe(201)
    await sandbox('/tokens/revoke', { token: other.netlifyToken })
    const up = await api(
      gw,
      other.key,
      'PUT',
      `/v1/push-upload?pushId=${init.body['pushId']}`,
      content,
      { 'x-content-sha1': sha1(content) },
    )
    expect(up.status).toBe(412)
    expect(up.body['error']).toMatchObject({
      code: 'netlify_token_rejected',
      details: { netlifyStatus: 401 },
    })
    const status = await api(gw, other.key, 'GET', `/v1/push-status?pushId=${init.body['pushId']}`)
    expect(status.body['state']).toBe('error')
    expect(status.body['error_message']).toMatch(/Netlify no longer accepts/)
    const usage = await gw.db.query<{ deploys: number }>(
      'SELECT deploys FROM usage_months WHERE customer_id = $1',
      [other.customerId],
    )
    expect(usage[0]!.deploys).toBe(0)
    const again = await api(gw, other.key, 'POST', '/v1/push-init', {
      project: other.projectName,
      files: { 'x.bin': sha1(content) },
    })
    expect(again.status).toBe(412)
    expect(again.body['error']['code']).toBe('netlify_token_rejected')
  })

  test('a 422 from Netlify on a file fails the push with its message', async () => {
    const content = randomBytes(60)
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'y.bin': sha1(content) },
    })
    await faults([
      {
        match: { method: 'PUT', path: '/files/y.bin' },
        status: 422,
        body: { code: 422, message: 'No records matched' },
        times: 1,
      },
    ])
    const up = await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${init.body['pushId']}`,
      content,
      { 'x-content-sha1': sha1(content) },
    )
    expect(up.status).toBe(502)
    expect(up.body['error']['message']).toContain('No records matched')
    const status = await api(gw, t.key, 'GET', `/v1/push-status?pushId=${init.body['pushId']}`)
    expect(status.body).toMatchObject({
      state: 'error',
      error_message: expect.stringContaining('No records matched'),
    })
  })

  test('wait:true answers 202 with the current state when the wait budget runs out', async () => {
    const slow = await startTestGateway('pglite', { KAIXU_WAIT_TIMEOUT_MS: '500' })
    try {
      const s = await createTenant(slow)
      await fetch(`${slow.url}/__sandbox/config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ processingMs: 3000 }),
      })
      const content = randomBytes(10)
      const init = await api(slow, s.key, 'POST', '/v1/push-init', {
        project: s.projectName,
        files: { 'z.bin': sha1(content) },
      })
      await api(slow, s.key, 'PUT', `/v1/push-upload?pushId=${init.body['pushId']}`, content, {
        'x-content-sha1': sha1(content),
      })
      const done = await api(slow, s.key, 'POST', '/v1/push-complete', {
        pushId: init.body['pushId'],
        wait: true,
      })
      expect(done.status).toBe(202)
      // Netlify needs 3 s here, so 'finalizing' proves the answer came at the 0.5 s budget.
      expect(done.body['state']).toBe('finalizing')
    } finally {
      await slow.stop()
    }
  })
})
