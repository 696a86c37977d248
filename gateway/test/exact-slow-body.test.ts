import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { createTenant, databases, startTestGateway, type TestGateway } from './helpers/gateway.ts'

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
  }, 30_000)
})
