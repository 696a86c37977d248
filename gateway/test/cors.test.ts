// CORS on /v1: only the origins in KAIXU_CORS_ORIGINS get the headers a browser needs to let a
// page read the answer; with none listed (the default) no page of another origin may.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { ConfigError, loadConfig } from '../src/config.ts'
import {
  createTenant,
  oneDatabase,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'

const EDITOR = 'https://editor.example'

const preflight = (gw: TestGateway, origin: string, path = '/v1/push-init') =>
  fetch(`${gw.url}${path}`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type, idempotency-key',
    },
  })

describe('KAIXU_CORS_ORIGINS', () => {
  it('defaults to none, and takes only bare origins', () => {
    expect(loadConfig({}).corsOrigins).toEqual([])
    expect(
      loadConfig({ KAIXU_CORS_ORIGINS: `${EDITOR}, http://127.0.0.1:5173` }).corsOrigins,
    ).toEqual([EDITOR, 'http://127.0.0.1:5173'])
    for (const bad of ['https://editor.example/', 'https://editor.example/app', '*', 'ftp://x.y']) {
      expect(() => loadConfig({ KAIXU_CORS_ORIGINS: bad })).toThrow(ConfigError)
      expect(() => loadConfig({ KAIXU_CORS_ORIGINS: bad })).toThrow(/KAIXU_CORS_ORIGINS/)
    }
  })
})

describe('CORS on /v1', () => {
  let listed: TestGateway
  let closed: TestGateway
  let tenant: Tenant

  beforeAll(async () => {
    listed = await startTestGateway(oneDatabase(), { KAIXU_CORS_ORIGINS: EDITOR })
    closed = await startTestGateway(oneDatabase())
    tenant = await createTenant(listed)
  }, 120_000)

  afterAll(async () => {
    await listed?.stop()
    await closed?.stop()
  })

  it('answers a listed origin’s preflight with what a push sends', async () => {
    const res = await preflight(listed, EDITOR)
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe(EDITOR)
    expect(res.headers.get('access-control-allow-methods')).toContain('PUT')
    const allowed = res.headers.get('access-control-allow-headers')!.toLowerCase()
    for (const header of [
      'authorization',
      'idempotency-key',
      'x-content-sha1',
      'x-chunk-sha1',
      'user-agent',
    ]) {
      expect(allowed).toContain(header)
    }
    expect(res.headers.get('access-control-allow-credentials')).toBeNull()
    expect(res.headers.get('vary')).toContain('Origin')
  })

  it('lets a listed origin read answers and errors, with the headers retries need', async () => {
    const ok = await fetch(`${listed.url}/v1/usage`, {
      headers: { origin: EDITOR, authorization: `Bearer ${tenant.key}` },
    })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('access-control-allow-origin')).toBe(EDITOR)
    expect(ok.headers.get('access-control-expose-headers')).toMatch(/Retry-After.*RateLimit/)
    const refused = await fetch(`${listed.url}/v1/usage`, { headers: { origin: EDITOR } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('access-control-allow-origin')).toBe(EDITOR)
  })

  it('gives any other origin no CORS header, and none at all when none is listed', async () => {
    for (const [gw, origin] of [
      [listed, 'https://evil.example'],
      [listed, `${EDITOR}.evil.example`],
      [closed, EDITOR],
    ] as const) {
      const res = await preflight(gw, origin)
      expect(res.status).toBe(401) // the key check answers: no preflight is granted
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
      const read = await fetch(`${gw.url}/v1/usage`, {
        headers: { origin, authorization: `Bearer ${tenant.key}` },
      })
      expect(read.headers.get('access-control-allow-origin')).toBeNull()
    }
  })

  it('leaves the admin API and the dashboard without CORS', async () => {
    const res = await preflight(listed, EDITOR, '/admin/api/customers')
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })
})
