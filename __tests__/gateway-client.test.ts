import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import http from 'node:http'
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { GatewayClient, parseRetryAfter } from '../src/gateway-client.ts'
import { GatewayError } from '../src/errors.ts'

interface Seen {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: Buffer
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string> }

// A tiny stand-in for the gateway: records each request and answers from a script.
let server: http.Server
let baseUrl: string
let seen: Seen[] = []
let replies: Reply[] = []

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      })
      const reply = replies.shift() ?? { status: 500, body: { error: { code: 'unscripted' } } }
      const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {})
      res.writeHead(reply.status, { 'Content-Type': 'application/json', ...reply.headers })
      res.end(text)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/kaixu`
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
})

beforeEach(() => {
  seen = []
  replies = []
})

function client(): GatewayClient {
  // No real waiting between retries.
  return new GatewayClient({ baseUrl, apiKey: 'kx_test', retry: { sleep: async () => {} } })
}

const record = { pushId: 'push_1', deployId: 'd1', state: 'ready' }

describe('GatewayClient', () => {
  it('parses the error JSON into a GatewayError and does not retry a 4xx', async () => {
    replies.push({
      status: 402,
      headers: { 'Retry-After': '30', 'X-Request-Id': 'hdr' },
      body: {
        error: { code: 'cap_exceeded', message: 'Monthly cap reached', details: { left: 0 } },
        requestId: 'req_9',
      },
    })
    const error = await client()
      .status('push_1')
      .catch((e: unknown) => e)

    expect(error).toBeInstanceOf(GatewayError)
    expect(error).toMatchObject({
      status: 402,
      code: 'cap_exceeded',
      message: 'Monthly cap reached',
      details: { left: 0 },
      retryAfterSeconds: 30,
      requestId: 'req_9',
    })
    expect(seen).toHaveLength(1)
  })

  it('retries a 503 and returns the next success', async () => {
    replies.push(
      { status: 503, headers: { 'Retry-After': '1' }, body: { error: { code: 'busy' } } },
      { status: 200, body: record },
    )
    await expect(client().complete('push_1', true)).resolves.toEqual(record)
    expect(seen.map((r) => r.method)).toEqual(['POST', 'POST'])
    expect(JSON.parse(seen[1]!.body.toString())).toEqual({ pushId: 'push_1', wait: true })
  })

  it('long-polls push-status with waitFor=ready and a timeout capped at 60 s', async () => {
    replies.push({ status: 200, body: record }, { status: 200, body: record })
    await client().status('push_1', undefined, 12.2)
    await client().status('push_1', undefined, 600)
    expect(seen.map((r) => r.url)).toEqual([
      '/kaixu/v1/push-status?pushId=push_1&waitFor=ready&timeout=13',
      '/kaixu/v1/push-status?pushId=push_1&waitFor=ready&timeout=60',
    ])
  })

  it('keeps the base path, sends the key and one Idempotency-Key across retries', async () => {
    const answer = {
      pushId: 'push_1',
      deployId: 'd1',
      state: 'uploading',
      required: [],
      upload: { inlineMaxBytes: 10, chunkBytes: 65536 },
    }
    replies.push({ status: 504, body: 'Gateway Timeout' }, { status: 201, body: answer })
    const request = { project: 'site', files: { 'a.txt': 'f'.repeat(40) } }

    await expect(client().init(request)).resolves.toEqual(answer)
    expect(seen.map((r) => r.url)).toEqual(['/kaixu/v1/push-init', '/kaixu/v1/push-init'])
    expect(seen[0]!.headers.authorization).toBe('Bearer kx_test')
    expect(seen[0]!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/)
    expect(seen[1]!.headers['idempotency-key']).toBe(seen[0]!.headers['idempotency-key'])
    expect(JSON.parse(seen[1]!.body.toString())).toEqual(request)
  })

  it('turns a body that is not JSON into a readable error', async () => {
    replies.push({ status: 400, body: '<html>Bad Request</html>' })
    await expect(client().status('push_1')).rejects.toMatchObject({
      status: 400,
      code: 'http_error',
      message: expect.stringContaining('<html>Bad Request</html>'),
    })
  })

  it('streams an upload with its SHA-1 and re-opens the file for a retry', async () => {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kaixu-client-'))
    const file = path.join(dir, 'big.bin')
    const content = Buffer.alloc(300_000, 'kaixu')
    await fs.promises.writeFile(file, content)
    const sha1 = createHash('sha1').update(content).digest('hex')
    replies.push(
      { status: 503, body: { error: { code: 'netlify_unavailable', message: 'later' } } },
      { status: 200, body: { sha1, bytes: content.length, skipped: false } },
    )

    const answer = await client().upload('push_1', sha1, file, content.length)

    expect(answer).toEqual({ sha1, bytes: content.length, skipped: false })
    expect(seen).toHaveLength(2)
    for (const request of seen) {
      expect(request.method).toBe('PUT')
      expect(request.url).toBe('/kaixu/v1/push-upload?pushId=push_1')
      expect(request.headers['x-content-sha1']).toBe(sha1)
      expect(request.headers['content-type']).toBe('application/octet-stream')
      expect(request.headers['content-length']).toBe(String(content.length))
      expect(request.body.equals(content)).toBe(true)
    }
    await fs.promises.rm(dir, { recursive: true })
  })

  it('uploads an empty file', async () => {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kaixu-client-'))
    const file = path.join(dir, 'empty')
    await fs.promises.writeFile(file, '')
    const sha1 = createHash('sha1').digest('hex')
    replies.push({ status: 200, body: { sha1, bytes: 0, skipped: false } })

    await expect(client().upload('push_1', sha1, file, 0)).resolves.toMatchObject({ bytes: 0 })
    expect(seen[0]!.headers['content-length']).toBe('0')
    await fs.promises.rm(dir, { recursive: true })
  })
})

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(parseRetryAfter('12', now)).toBe(12)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30)
    expect(parseRetryAfter(null, now)).toBeUndefined()
    expect(parseRetryAfter('soon', now)).toBeUndefined()
  })
})
