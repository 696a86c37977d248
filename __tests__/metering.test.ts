import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { PushError, push } from '../src/deploy.ts'
import { digestDir } from '../src/files.ts'
import { getErrorMessage } from '../src/errors.ts'
import { GatewayClient, toGatewayError } from '../src/gateway-client.ts'
import { setOutputs, writeSummary } from '../src/outputs.ts'
import type { Digest, FileEntry } from '../src/files.ts'
import type { PushOptions, Reporter } from '../src/deploy.ts'
import type { GatewayClientOptions } from '../src/gateway-client.ts'

interface Seen {
  method: string
  route: string
  headers: http.IncomingHttpHeaders
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string> }

// A stand-in for a metering gateway: answers each route from its own script, so the whole push
// flow (init → upload → complete) can run against it.
let server: http.Server
let baseUrl: string
let seen: Seen[] = []
let replies: Record<string, Reply[]> = {}

let tmp: string
let digest: Digest
let logs: string[] = []
const reporter: Reporter = {
  info: (m) => logs.push(m),
  warning: (m) => logs.push(m),
  debug: () => {},
}
const options: PushOptions = {
  project: 'site',
  draft: false,
  wait: true,
  timeoutMs: 60_000,
  concurrency: 1,
  sleep: async () => {},
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const route = new URL(req.url ?? '/', 'http://x').pathname
      seen.push({ method: req.method ?? '', route, headers: req.headers })
      const reply = replies[route]?.shift() ?? {
        status: 500,
        body: { error: { code: 'unscripted', message: `nothing scripted for ${route}` } },
      }
      res.writeHead(reply.status, { 'Content-Type': 'application/json', ...reply.headers })
      res.end(JSON.stringify(reply.body ?? {}))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kaixu-metering-'))
  const site = path.join(tmp, 'site')
  await fs.promises.mkdir(site)
  await fs.promises.writeFile(path.join(site, 'index.html'), '<h1>metered</h1>')
  digest = await digestDir(site)
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
  await fs.promises.rm(tmp, { recursive: true, force: true })
})

beforeEach(() => {
  seen = []
  replies = {}
  logs = []
})

function client(retry: GatewayClientOptions['retry'] = {}): GatewayClient {
  return new GatewayClient({ baseUrl, apiKey: 'kx_test', retry, log: (m) => logs.push(m) })
}

function sha1Of(file: string): string {
  return [...digest.byPath.values()].find((entry: FileEntry) => entry.path === file)!.sha1
}

const limits = {
  month: '2026-11',
  resetAt: '2026-12-01T00:00:00.000Z',
  deploys: { limit: 1000, used: 3, remaining: 997 },
  bytes: { limit: 50_000_000_000, used: 12_345, remaining: 49_999_987_655 },
}

function initAnswer(extra: Record<string, unknown> = {}) {
  return {
    status: 201,
    body: {
      pushId: 'push_1',
      deployId: 'd1',
      state: 'uploading',
      required: [sha1Of('index.html')],
      upload: { inlineMaxBytes: 1000, chunkBytes: 65536 },
      ...extra,
    },
  }
}

function capExceeded(limit: 'deploys' | 'bytes', remaining: { deploys: number; bytes: number }) {
  return {
    status: 402,
    body: {
      error: {
        code: 'cap_exceeded',
        message: 'Monthly cap reached (gateway wording)',
        details: {
          limit,
          remaining,
          limits: { deploys: 10, bytes: 1_000_000_000 },
          resetAt: '2026-12-01T00:00:00.000Z',
        },
      },
      requestId: 'req_cap',
    },
  }
}

function rateLimited(window: 'minute' | 'day', max: number, seconds: number): Reply {
  return {
    status: 429,
    headers: {
      'Retry-After': String(seconds),
      'RateLimit-Policy': '"minute";q=3;w=60, "day";q=100;w=86400',
      RateLimit: `"${window}";r=0;t=${seconds}`,
    },
    body: {
      error: {
        code: 'rate_limited',
        message: `Deploy pacing: at most ${max} deploys per ${window}; retry in ${seconds} s.`,
        details: { limit: window, max, retryAfterSeconds: seconds },
      },
      requestId: 'req_pace',
    },
  }
}

async function failure(promise: Promise<unknown>): Promise<PushError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(PushError)
  return error as PushError
}

describe('a metered push', () => {
  it('logs the budget after init and the cost at the end, and reports both', async () => {
    replies['/v1/push-init'] = [initAnswer({ limits })]
    replies['/v1/push-upload'] = [
      { status: 200, body: { sha1: sha1Of('index.html'), bytes: 15, skipped: false } },
    ]
    replies['/v1/push-complete'] = [
      {
        status: 200,
        body: {
          pushId: 'push_1',
          deployId: 'd1',
          state: 'ready',
          deploy_ssl_url: 'https://d1--site.netlify.app',
          costCents: 12,
        },
      },
    ]

    const result = await push(client(), digest, options, reporter)

    expect(logs).toContain(
      'Budget for 2026-11: 997 of 1000 deploys and 49.9 GB of 50 GB left ' +
        '(resets 2026-12-01 00:00 UTC)',
    )
    expect(logs.at(-1)).toBe('Cost: 12 ¢')
    expect(result).toMatchObject({ state: 'ready', costCents: 12, limits })

    // The step outputs and the job summary go to the files the runner names.
    const outputFile = path.join(tmp, 'output')
    const summaryFile = path.join(tmp, 'summary')
    await fs.promises.writeFile(outputFile, '')
    await fs.promises.writeFile(summaryFile, '')
    process.env['GITHUB_OUTPUT'] = outputFile
    process.env['GITHUB_STEP_SUMMARY'] = summaryFile
    try {
      setOutputs(result)
      await writeSummary({ project: 'site', result })
    } finally {
      delete process.env['GITHUB_OUTPUT']
      delete process.env['GITHUB_STEP_SUMMARY']
    }
    const outputs = await fs.promises.readFile(outputFile, 'utf8')
    expect(outputs).toMatch(/^cost-cents<<(.+)\n12\n\1$/m)
    const summary = await fs.promises.readFile(summaryFile, 'utf8')
    expect(summary).toContain('<th>Cost</th><td>12 ¢</td>')
    expect(summary).toContain(
      '<th>Budget for 2026-11</th><td>997 of 1000 deploys and 49.9 GB of 50 GB left ' +
        '(resets 2026-12-01 00:00 UTC)</td>',
    )
  })

  it('works with a gateway that reports no budget', async () => {
    replies['/v1/push-init'] = [initAnswer()]
    replies['/v1/push-upload'] = [
      { status: 200, body: { sha1: sha1Of('index.html'), bytes: 15, skipped: false } },
    ]
    replies['/v1/push-complete'] = [
      { status: 200, body: { pushId: 'push_1', deployId: 'd1', state: 'finalizing' } },
    ]

    const result = await push(client(), digest, { ...options, wait: false }, reporter)

    expect(result.limits).toBeUndefined()
    expect(result.costCents).toBeUndefined()
    expect(logs.some((line) => line.startsWith('Budget') || line.startsWith('Cost'))).toBe(false)
  })

  it('fails at once on the deploy cap, saying what is left and when it resets', async () => {
    replies['/v1/push-init'] = [capExceeded('deploys', { deploys: 0, bytes: 5_000 })]

    const error = await failure(push(client(), digest, options, reporter))

    expect(error.message).toBe(
      'Monthly deploy cap reached: 0 of 10 deploys left this month; resets 2026-12-01 00:00 UTC. ' +
        'Ask the gateway operator to raise it. (HTTP 402, cap_exceeded, request req_cap)',
    )
    expect(seen).toHaveLength(1)
  })

  it('fails at once on the byte cap during an upload', async () => {
    replies['/v1/push-init'] = [initAnswer({ limits })]
    replies['/v1/push-upload'] = [capExceeded('bytes', { deploys: 7, bytes: 120 })]

    const error = await failure(push(client(), digest, options, reporter))

    expect(error.message).toBe(
      'Monthly byte cap reached: 120 B of 1 GB left this month; resets 2026-12-01 00:00 UTC. ' +
        'Ask the gateway operator to raise it. (HTTP 402, cap_exceeded, request req_cap)',
    )
    expect(seen.map((r) => r.route)).toEqual(['/v1/push-init', '/v1/push-upload'])
    expect(error.result).toMatchObject({ pushId: 'push_1', limits })
  })

  it("falls back to the gateway's message when a 402 has no details", async () => {
    replies['/v1/push-init'] = [
      { status: 402, body: { error: { code: 'cap_exceeded', message: 'Over the cap.' } } },
    ]
    const error = await failure(push(client(), digest, options, reporter))
    expect(error.message).toBe(
      'Over the cap. Ask the gateway operator to raise it. (HTTP 402, cap_exceeded)',
    )
  })

  it('gives up at once when the day window is full', async () => {
    // Real waits: a client that honoured this Retry-After would sleep for five hours.
    replies['/v1/push-init'] = [rateLimited('day', 100, 18_180)]

    const error = await failure(push(client(), digest, options, reporter))

    expect(error.message).toBe(
      'Deploy pacing: at most 100 deploys per day for this customer; retry in 5 h 3 min. ' +
        '(HTTP 429, rate_limited, request req_pace)',
    )
    expect(seen).toHaveLength(1)
  })

  it('waits out a full minute window and retries the same init', async () => {
    replies['/v1/push-init'] = [rateLimited('minute', 3, 1), initAnswer()]

    const answer = await client().init({ project: 'site', files: digest.files })

    expect(answer.pushId).toBe('push_1')
    expect(seen).toHaveLength(2)
    expect(seen[1]!.headers['idempotency-key']).toBe(seen[0]!.headers['idempotency-key'])
    expect(logs[0]).toMatch(
      /^POST \/v1\/push-init failed: Deploy pacing: at most 3 deploys per minute/,
    )
  })

  it('fails with the pacing rule once the minute retries run out', async () => {
    replies['/v1/push-init'] = [rateLimited('minute', 3, 42), rateLimited('minute', 3, 42)]

    const error = await client({ attempts: 2, sleep: async () => {} })
      .init({ project: 'site', files: digest.files })
      .catch((e: unknown) => e)

    expect(getErrorMessage(error)).toBe(
      'Deploy pacing: at most 3 deploys per minute for this customer; retry in 42 s. ' +
        '(HTTP 429, rate_limited, request req_pace)',
    )
    expect(seen).toHaveLength(2)
  })

  it('retries an init whose first attempt is still in flight, with the same key', async () => {
    replies['/v1/push-init'] = [
      {
        status: 409,
        headers: { 'Retry-After': '1' },
        body: { error: { code: 'idempotency_in_flight', message: 'still running' } },
      },
      initAnswer(),
    ]

    const answer = await client({ sleep: async () => {} }).init({
      project: 'site',
      files: digest.files,
    })

    expect(answer.pushId).toBe('push_1')
    expect(seen).toHaveLength(2)
    expect(seen[1]!.headers['idempotency-key']).toBe(seen[0]!.headers['idempotency-key'])
  })

  it.each([
    [411, 'length_required'],
    [422, 'idempotency_key_reused'],
    [409, 'conflict'],
  ])('does not retry %i %s', async (status, code) => {
    replies['/v1/push-init'] = [{ status, body: { error: { code, message: 'no' } } }, initAnswer()]
    const error = await client({ sleep: async () => {} })
      .init({ project: 'site', files: digest.files })
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ status, code })
    expect(seen).toHaveLength(1)
  })
})

describe('a 429 explained from its headers alone', () => {
  it('reads the window from RateLimit and its quota from RateLimit-Policy', async () => {
    const response = new Response('<html>slow down</html>', {
      status: 429,
      headers: {
        'Retry-After': '42',
        'RateLimit-Policy': '"minute";q=3;w=60, "day";q=100;w=86400',
        RateLimit: '"minute";r=0;t=42',
      },
    })
    const error = await toGatewayError(response)
    expect(error.rateLimit).toEqual({
      policy: 'minute',
      quota: 3,
      windowSeconds: 60,
      resetSeconds: 42,
    })
    // Not the gateway's own error JSON, so no pacing wording is made up for it.
    expect(error.code).toBe('http_error')

    const gateway = await toGatewayError(
      new Response(JSON.stringify({ error: { code: 'rate_limited', message: 'slow' } }), {
        status: 429,
        headers: {
          'Retry-After': '18180',
          'RateLimit-Policy': '"minute";q=3;w=60, "day";q=100;w=86400',
          RateLimit: '"day";r=0;t=18180',
        },
      }),
    )
    expect(getErrorMessage(gateway)).toBe(
      'Deploy pacing: at most 100 deploys per day for this customer; retry in 5 h 3 min. ' +
        '(HTTP 429, rate_limited)',
    )
  })
})
