import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { createNetlifyClient, NetlifyApiError, type NetlifyClient } from '../src/netlify/client.ts'
import { createRatePacer } from '../src/netlify/pacer.ts'

/**
 * A loopback stand-in for Netlify's request limit with short windows: `LIMIT` requests per token
 * per window, a window opened by a token's first request and ending on a whole second at least
 * `WINDOW_MS` later (`X-RateLimit-Reset` is in epoch seconds). The sandbox's window is a fixed
 * minute, too long for a test.
 */
const LIMIT = 6
const WINDOW_MS = 1_000

interface Arrival {
  token: string
  method: string
  at: number
  status: number
}

let server: Server
let baseUrl: string
let client: NetlifyClient
const arrivals: Arrival[] = []
const windows = new Map<string, { resetSec: number; count: number }>()
/** Windows each token has opened. */
const opened = new Map<string, number>()
/** Tokens whose next request is refused with a 429, with the reset (epoch seconds) to send. */
const forced = new Map<string, number>()

beforeAll(async () => {
  server = createServer((req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? ''
    const now = Date.now()
    let w = windows.get(token)
    if (!w || now >= w.resetSec * 1000) {
      w = { resetSec: Math.ceil((now + WINDOW_MS) / 1000), count: 0 }
      windows.set(token, w)
      opened.set(token, (opened.get(token) ?? 0) + 1)
    }
    let status = 200
    let reset = w.resetSec
    if (forced.has(token)) {
      status = 429
      reset = forced.get(token)!
      forced.delete(token)
    } else if (w.count >= LIMIT) status = 429
    else w.count++
    arrivals.push({ token, method: req.method!, at: now, status })
    res.setHeader('X-RateLimit-Limit', String(LIMIT))
    res.setHeader('X-RateLimit-Remaining', String(status === 429 ? 0 : LIMIT - w.count))
    res.setHeader('X-RateLimit-Reset', String(reset))
    // Answer once the body is in, as Netlify does after storing a file.
    req.resume()
    req.on('end', () => {
      res.statusCode = status
      res.setHeader('content-type', 'application/json')
      res.end(
        status === 429
          ? JSON.stringify({ code: 429, message: 'API rate limit exceeded' })
          : JSON.stringify({ id: 'site-1', name: 'site' }),
      )
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  client = createNetlifyClient({ baseUrl, uploadConcurrency: 3 })
})

afterAll(async () => {
  await client.close()
  await new Promise((resolve) => server.close(resolve))
})

beforeEach(() => {
  arrivals.length = 0
})

const refused = (token: string) =>
  arrivals.filter((a) => a.token === token && a.status === 429).length
const upload = (token: string, path: string) =>
  client.uploadFile(token, 'deploy-1', path, Readable.from([Buffer.from(`body of ${path}`)]))

describe('Netlify calls are paced per token', () => {
  it('sends nothing into a spent window: JSON calls and file PUTs all pass without a 429', async () => {
    const token = 'tok-burst'
    const calls = [
      ...Array.from({ length: 10 }, () => client.getSite(token, 'site-1')),
      ...Array.from({ length: 10 }, (_, i) => upload(token, `assets/file-${i}.css`)),
    ]
    await Promise.all(calls)
    const mine = arrivals.filter((a) => a.token === token)
    expect(mine).toHaveLength(20)
    expect(refused(token)).toBe(0)
    // 20 requests at 6 a window: the pacer waited for at least 3 resets.
    expect(opened.get(token)).toBeGreaterThanOrEqual(4)
  })

  it("one token's spent window never holds another token's calls", async () => {
    const busy = 'tok-busy'
    const other = 'tok-other'
    // Spend busy's window, then queue more: they must wait for its reset.
    await Promise.all(Array.from({ length: LIMIT }, () => client.getSite(busy, 'site-1')))
    const resetMs = windows.get(busy)!.resetSec * 1000
    let busyDone = 0
    const held = Array.from({ length: 3 }, () =>
      client.getSite(busy, 'site-1').then(() => {
        busyDone = Date.now()
      }),
    )
    await Promise.all(Array.from({ length: 4 }, () => client.getSite(other, 'site-1')))
    expect(busyDone).toBe(0) // the other token finished while busy's calls were still held
    await Promise.all(held)
    expect(busyDone).toBeGreaterThanOrEqual(resetMs)
    expect(refused(busy)).toBe(0)
    expect(refused(other)).toBe(0)
  })

  it('a 429 holds the token until X-RateLimit-Reset: retries and file PUTs wait for it', async () => {
    const token = 'tok-429'
    // A cold token whose first answer is a 429 (another process spent the window, say).
    const resetSec = Math.ceil(Date.now() / 1000) + 2
    forced.set(token, resetSec)
    const first = client.getSite(token, 'site-1')
    // Queued behind the 429: a file PUT whose body must not be spent into the held window.
    await new Promise((resolve) => setTimeout(resolve, 100))
    const put = upload(token, 'index.html')
    await Promise.all([first, put])
    const mine = arrivals.filter((a) => a.token === token)
    expect(mine.map((a) => a.status)).toEqual([429, 200, 200])
    for (const a of mine.slice(1)) expect(a.at).toBeGreaterThanOrEqual(resetSec * 1000)
  })

  it('a file PUT answered 429 surfaces a transient error and holds the next ones', async () => {
    const token = 'tok-put-429'
    await client.getSite(token, 'site-1') // the budget is known: the 429 below is a surprise
    const resetSec = Math.ceil(Date.now() / 1000) + 2
    forced.set(token, resetSec)
    const error = await upload(token, 'a.js').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NetlifyApiError)
    expect((error as NetlifyApiError).transient).toBe(true)
    expect((error as NetlifyApiError).status).toBe(429)
    await upload(token, 'a.js')
    const last = arrivals.filter((a) => a.token === token).at(-1)!
    expect(last.status).toBe(200)
    expect(last.at).toBeGreaterThanOrEqual(resetSec * 1000)
  })
})

describe('two gateway processes on one token', () => {
  it('each paces on the Remaining Netlify counts for both: everything lands, no 429 storm', async () => {
    const token = 'tok-shared'
    const clients = [1, 2].map(() => createNetlifyClient({ baseUrl, maxInFlightPerToken: 2 }))
    try {
      await Promise.all(
        clients.flatMap((c) => Array.from({ length: 12 }, () => c.getSite(token, 'site-1'))),
      )
    } finally {
      for (const c of clients) await c.close()
    }
    const mine = arrivals.filter((a) => a.token === token)
    // Each process sees the other's spending in Remaining; what it cannot see is the other's
    // requests in flight (at most 2), the most a window can be overspent by.
    expect(mine.filter((a) => a.status === 200)).toHaveLength(24)
    expect(refused(token)).toBeLessThanOrEqual(2 * opened.get(token)!)
  })
})

describe('the pacer', () => {
  it('forgets tokens idle past their window', async () => {
    let clock = 1_000_000
    const pacer = createRatePacer({ uploadConcurrency: 2, maxWaitMs: 60_000, now: () => clock })
    for (let i = 0; i < 50; i++) {
      const token = `tok-${i}`
      await pacer.acquire(token)
      pacer.release(token, { status: 200, limit: 500, remaining: 499, reset: clock / 1000 + 60 })
    }
    expect(pacer.size).toBe(50)
    clock += 61_000
    await pacer.acquire('tok-new')
    expect(pacer.size).toBe(1)
    pacer.release('tok-new')
  })

  it('refuses, without sending, a hold longer than the caller can wait', async () => {
    const pacer = createRatePacer({ uploadConcurrency: 2, maxWaitMs: 60_000 })
    await pacer.acquire('t')
    pacer.release('t', { status: 429, limit: 500, remaining: 0, reset: Date.now() / 1000 + 30 })
    expect(pacer.isHeld('t')).toBe(true)
    const error = await pacer.acquire('t', 1_000).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NetlifyApiError)
    expect((error as NetlifyApiError).retryAfter).toBeGreaterThanOrEqual(29)
  })
})
