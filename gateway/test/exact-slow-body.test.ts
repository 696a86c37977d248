import { createHash } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  api,
  createTenant,
  databases,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.ts'

/**
 * A hostile client: announces a big body, then trickles it a few bytes at a time for as long as
 * the socket stays open. Answers the response it got and whether the server hung up on it.
 */
function slowBody(gw: TestGateway, head: string) {
  const u = new URL(gw.url)
  const socket: Socket = connect(Number(u.port), u.hostname)
  let received = ''
  socket.on('error', () => {}) // a reset after the answer is one way to hang up
  const answered = new Promise<string>((resolve) => {
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1')
      const end = received.indexOf('\r\n\r\n')
      const length = /content-length: (\d+)/i.exec(received)?.[1]
      if (end >= 0 && length && received.length >= end + 4 + Number(length)) resolve(received)
    })
  })
  socket.write(head)
  const trickle = setInterval(() => {
    if (!socket.destroyed) socket.write('x')
  }, 50)
  const closed = new Promise<void>((resolve) => {
    socket.on('close', () => {
      clearInterval(trickle)
      resolve()
    })
  })
  return { answered, closed }
}

describe.each(databases())('hostile clients: slow bodies on %s', (database) => {
  let gw: TestGateway

  beforeAll(async () => {
    gw = await startTestGateway(database)
  })
  afterAll(async () => {
    await gw?.stop()
  })

  test('a slow body to a route that refused it is answered, then disconnected', async () => {
    const t = await createTenant(gw)
    const host = new URL(gw.url).host
    const refusals = [
      // No key: 401 before a byte of the body is wanted.
      `PUT /v1/push-upload?pushId=push_nope HTTP/1.1\r\nHost: ${host}\r\nX-Content-Sha1: ${'a'.repeat(40)}\r\nContent-Length: 100000000\r\n\r\n`,
      // A key, but no such push: refused before the body is read.
      `PUT /v1/push-upload?pushId=push_nope HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${t.key}\r\nX-Content-Sha1: ${'a'.repeat(40)}\r\nContent-Length: 100000000\r\n\r\n`,
      // A manifest larger than the route takes: 413 from its Content-Length alone.
      `POST /v1/push-init HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${t.key}\r\nContent-Type: application/json\r\nContent-Length: 900000000\r\n\r\n{"files":`,
      // A chunked body past a small route's 16 kB limit: 413 once the limit is passed.
      `POST /v1/push-complete HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${t.key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5000\r\n${'x'.repeat(0x5000)}\r\n400\r\n`,
      // A route that does not exist (and no key).
      `POST /v1/nowhere HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100000000\r\n\r\n`,
    ]
    for (const head of refusals) {
      const client = slowBody(gw, head)
      const answer = await client.answered
      expect(answer).toMatch(/^HTTP\/1\.1 4\d\d /)
      expect(answer).toMatch(/\r\nconnection: close\r\n/i)
      expect(answer).toMatch(/"error":\{"code":"/)
      // The server hangs up although the client is still sending.
      await client.closed
    }
    // Answers to requests whose body was read keep their connection (keep-alive as usual).
    const usual = await api(gw, t.key, 'GET', '/v1/usage')
    expect(usual.status).toBe(200)
    expect(usual.headers.get('connection')).not.toBe('close')
    const refused = await api(gw, t.key, 'POST', '/v1/push-init', { project: 'nope', files: {} })
    expect(refused.status).toBeGreaterThanOrEqual(400)
    expect(refused.headers.get('connection')).not.toBe('close')
  }, 30_000)
})

describe.each(databases())('hostile clients: timeouts and the connection cap on %s', (database) => {
  let gw: TestGateway

  beforeAll(async () => {
    gw = await startTestGateway(database, {
      KAIXU_HEADERS_TIMEOUT_MS: '1000',
      KAIXU_REQUEST_TIMEOUT_MS: '2000',
      KAIXU_MAX_CONNECTIONS: '3',
    })
  })
  afterAll(async () => {
    await gw?.stop()
  })

  const open = () => {
    const u = new URL(gw.url)
    const socket = connect(Number(u.port), u.hostname)
    let received = ''
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')))
    socket.on('error', () => {})
    const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)))
    const connected = new Promise<void>((resolve) => socket.on('connect', () => resolve()))
    return { socket, closed, connected }
  }

  test('the server is configured from KAIXU_HEADERS_TIMEOUT_MS, _REQUEST_TIMEOUT_MS and _MAX_CONNECTIONS', () => {
    expect(gw.server.headersTimeout).toBe(1000)
    expect(gw.server.requestTimeout).toBe(2000)
    expect(gw.server.maxConnections).toBe(3)
  })

  test('headers that never finish get 408 and a closed connection', async () => {
    const c = open()
    await c.connected
    c.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: `)
    const trickle = setInterval(() => c.socket.write('a'), 100)
    const answer = await c.closed
    clearInterval(trickle)
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
  })

  test('a body trickled to a route that takes it is cut at the request time limit', async () => {
    const t = await createTenant(gw)
    const content = Buffer.alloc(1000, 7)
    const sha = createHash('sha1').update(content).digest('hex')
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'slow.bin': sha },
    })
    expect(init.status).toBe(201)
    const c = open()
    await c.connected
    c.socket.write(
      `PUT /v1/push-upload?pushId=${init.body['pushId']} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.key}\r\nX-Content-Sha1: ${sha}\r\nContent-Length: 1000\r\n\r\n`,
    )
    // One byte every 100 ms would take 100 s; the 2 s request limit ends it long before.
    let sent = 0
    const trickle = setInterval(() => {
      if (sent < 999) c.socket.write(content.subarray(sent, ++sent))
    }, 100)
    await c.closed
    clearInterval(trickle)
    expect(sent).toBeLessThan(999)
    // The cut upload uploaded nothing.
    const push = await api(gw, t.key, 'GET', `/v1/push-status?pushId=${init.body['pushId']}`)
    expect(push.body['bytesUploaded']).toBe(0)
  })

  test('connections past the cap are refused while the others stay open', async () => {
    // Keep-alive connections left by earlier tests would count against the cap.
    gw.server.closeIdleConnections()
    const held = [open(), open(), open()]
    await Promise.all(held.map((c) => c.connected))
    // Each holds its slot: headers started, not finished.
    for (const c of held) c.socket.write('GET /healthz HTTP/1.1\r\n')
    const extra = open()
    expect(await extra.closed).toBe('')
    expect(held.every((c) => !c.socket.destroyed)).toBe(true)
    for (const c of held) c.socket.destroy()
  })
})
