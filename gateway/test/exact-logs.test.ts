import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  api,
  createTenant,
  databases,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'

/** What an access line may carry: what an operator reads, nothing a client sent verbatim. */
const ACCESS_FIELDS = new Set([
  'level',
  'time',
  'pid',
  'hostname',
  'service',
  'reqId',
  'msg',
  'method',
  'route',
  'status',
  'ms',
  'customerId',
  'keyId',
  'pushId',
  'bytesIn',
  'bytesOut',
  'err',
])

describe.each(databases())('hostile clients: nothing leaks into logs on %s', (database) => {
  let gw: TestGateway
  let t: Tenant
  const lines: Record<string, any>[] = []
  const raw: string[] = []

  beforeAll(async () => {
    const stream = new PassThrough()
    stream.on('data', (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n').filter(Boolean)) {
        raw.push(line)
        lines.push(JSON.parse(line) as Record<string, any>)
      }
    })
    gw = await startTestGateway(database, { LOG_LEVEL: 'debug' }, { logStream: stream })
    t = await createTenant(gw)
  })
  afterAll(async () => {
    await gw?.stop()
  })

  const linesOf = (res: { headers: Headers }) =>
    lines.filter((l) => l['reqId'] === res.headers.get('x-request-id'))

  test('a Kaixu key or Netlify token never reaches a log line, wherever the client puts it', async () => {
    const attempts = [
      // In the query string instead of the Authorization header.
      await api(gw, undefined, 'POST', `/v1/push-init?key=${t.key}`, {}),
      await api(gw, undefined, 'GET', `/v1/usage?token=${t.netlifyToken}&x=1`),
      // In the path.
      await api(gw, t.key, 'GET', `/v1/${t.key}/${t.netlifyToken}`),
      // In a body field whose value the error message repeats.
      await api(gw, t.key, 'POST', '/v1/push-init', { project: t.key, files: {} }),
      await api(gw, t.key, 'POST', '/v1/push-init', { project: t.netlifyToken, files: {} }),
      // In any header at all.
      await api(gw, t.key, 'GET', '/v1/usage', undefined, {
        'x-forwarded-authorization': `Bearer ${t.key}`,
        'x-netlify': t.netlifyToken,
        referer: `https://ci.example/?key=${t.key}`,
      }),
    ]
    for (const res of attempts) expect(linesOf(res).length).toBeGreaterThan(0)
    const leaked = raw.filter(
      (l) =>
        l.includes(t.key) ||
        l.includes(t.netlifyToken) ||
        l.includes(t.key.slice(8, 30)) ||
        l.includes(t.netlifyToken.slice(3)),
    )
    expect(leaked).toEqual([])
  })

  test('access lines carry method, route, status, ms, ids and bytes, never the headers', async () => {
    const res = await api(gw, t.key, 'GET', '/v1/usage?month=2026-01', undefined, {
      'user-agent': 'curious-client/1.0',
    })
    expect(res.status).toBe(200)
    const access = linesOf(res).filter((l) => l['msg'] === 'request completed')
    expect(access).toHaveLength(1)
    const line = access[0]!
    expect(line).toMatchObject({
      level: 30,
      method: 'GET',
      route: '/v1/usage',
      status: 200,
      customerId: t.customerId,
      keyId: t.keyId,
    })
    expect(typeof line['ms']).toBe('number')
    expect(line['bytesOut']).toBeGreaterThan(0)
    expect(Object.keys(line).filter((k) => !ACCESS_FIELDS.has(k))).toEqual([])
    // Each key once (a request id bound twice made duplicate JSON keys).
    const rawLine = raw.find(
      (l) => l.includes(`"reqId":"${line['reqId']}"`) && l.includes('request completed'),
    )!
    expect(rawLine.split('"reqId"').length).toBe(2)
    expect(JSON.stringify(line)).not.toContain('curious-client')
  })

  test('/healthz, /readyz and /metrics polls log at debug, not info', async () => {
    const polls = [
      await api(gw, undefined, 'GET', '/healthz'),
      await api(gw, undefined, 'GET', '/readyz'),
      await api(gw, undefined, 'GET', '/metrics'),
    ]
    for (const res of polls) {
      expect(res.status).toBe(200)
      const access = linesOf(res).filter((l) => l['msg'] === 'request completed')
      expect(access).toHaveLength(1)
      expect(access[0]!['level']).toBe(20)
    }
  })
})
