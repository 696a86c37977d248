import { randomBytes } from 'node:crypto'
import { request, type IncomingMessage } from 'node:http'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  api,
  createTenant,
  databases,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.ts'
import { sha1 } from './helpers/pushes.ts'

/** A clock tests can move; every service reads time through it. */
function testClock(start: string) {
  let now = new Date(start)
  return {
    now: () => new Date(now),
    set(iso: string) {
      now = new Date(iso)
    },
  }
}

/**
 * An upload whose body the test writes piece by piece, as a hostile client would, so two uploads
 * can be interleaved exactly.
 */
function openUpload(
  url: string,
  key: string,
  pushId: string,
  sha: string,
  length: number,
  route: { path: string; method: string; type: string } = {
    path: '/v1/push-upload',
    method: 'PUT',
    type: 'application/octet-stream',
  },
) {
  const u = new URL(`${url}${route.path}?pushId=${pushId}`)
  const req = request({
    host: u.hostname,
    port: u.port,
    path: u.pathname + u.search,
    method: route.method,
    headers: {
      authorization: `Bearer ${key}`,
      'x-content-sha1': sha,
      'content-length': String(length),
      'content-type': route.type,
    },
  })
  const answer = new Promise<{ status: number; body: Record<string, any> }>((resolve, reject) => {
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }),
      )
    })
    req.on('error', reject)
  })
  req.flushHeaders()
  let sent = 0
  return {
    /** Writes the first `n` bytes of `body` at once. */
    async begin(body: Buffer, n: number) {
      await new Promise<void>((r) => req.write(body.subarray(0, n), () => r()))
      sent = n
    },
    /**
     * Writes `body` in small pieces until `started` says the upload reached Netlify (the gateway
     * holds back the last piece it got until the next arrives), keeping the last bytes back.
     */
    async startStreaming(body: Buffer, started: () => Promise<boolean>) {
      while (!(await started())) {
        if (sent + 50 >= body.length) throw new Error('the upload never reached Netlify')
        await new Promise<void>((r) => req.write(body.subarray(sent, sent + 50), () => r()))
        sent += 50
      }
    },
    end: (body: Buffer) => {
      req.end(body.subarray(sent))
      return answer
    },
  }
}

const sandboxFilePuts = async (gw: TestGateway) => {
  const stats = (await (await fetch(`${gw.url}/__sandbox/stats`)).json()) as {
    requests: Record<string, number>
  }
  return stats.requests['PUT /deploys/:deploy_id/files/*path'] ?? 0
}

describe.each(databases())('hostile clients: exact caps and pacing on %s', (database) => {
  let gw: TestGateway
  const clock = testClock('2026-01-15T12:00:00Z')

  beforeAll(async () => {
    gw = await startTestGateway(database, { KAIXU_REQUEST_TIMEOUT_MS: '60000' }, { clock })
  })
  afterAll(async () => {
    await gw?.stop()
  })

  test('an Idempotency-Key whose request died mid-flight is free again once the request time limit passed', async () => {
    const t = await createTenant(gw)
    const body = { project: t.projectName, files: { 'i.txt': sha1('died') } }
    const key = `k-${randomBytes(6).toString('hex')}`
    // What a request leaves behind when its process dies after claiming the key: an in-flight
    // claim nobody will ever free (made here from a real claim of the same body, rewound).
    const first = await api(gw, t.key, 'POST', '/v1/push-init', body, { 'idempotency-key': key })
    expect(first.status).toBe(201)
    const claim = (ageSeconds: number) =>
      gw.db.query(
        `UPDATE idempotency_keys SET state = 'in_flight', status_code = NULL, response = NULL,
                created_at = now() - make_interval(secs => $3)
          WHERE customer_id = $1 AND key = $2`,
        [t.customerId, key, ageSeconds],
      )
    // Within the 60 s request limit it is a live claim: 409.
    await claim(30)
    const during = await api(gw, t.key, 'POST', '/v1/push-init', body, { 'idempotency-key': key })
    expect(during.status).toBe(409)
    expect(during.body['error']['code']).toBe('idempotency_in_flight')
    // Past the limit the request cannot still be running: the key runs afresh, not 409 for 24 h.
    await claim(61)
    const after = await api(gw, t.key, 'POST', '/v1/push-init', body, { 'idempotency-key': key })
    expect(after.status).toBe(201)
    const replay = await api(gw, t.key, 'POST', '/v1/push-init', body, { 'idempotency-key': key })
    expect(replay.status).toBe(201)
    expect(replay.headers.get('idempotent-replayed')).toBe('true')
    expect(replay.body['pushId']).toBe(after.body['pushId'])
    expect(after.body['pushId']).not.toBe(first.body['pushId'])
  })

  test('the byte cap holds when a bad and a good upload of the same SHA-1 race', async () => {
    const t = await createTenant(gw)
    await gw.accounts.setLimits(t.customerId, { bytesPerMonth: 1000 }, 'test')
    const good = randomBytes(1000)
    const bad = randomBytes(1000)
    const sha = sha1(good)
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'big.bin': sha },
    })
    expect(init.status).toBe(201)
    const pushId = init.body['pushId'] as string
    const putsBefore = await sandboxFilePuts(gw)
    // A (a wrong body) reserves the file's 1000 bytes and starts streaming to Netlify.
    const a = openUpload(gw.url, t.key, pushId, sha, 1000)
    await a.startStreaming(bad, async () => (await sandboxFilePuts(gw)) === putsBefore + 1)
    // B (the right body, same SHA-1) starts while A still holds the reservation.
    const b = openUpload(gw.url, t.key, pushId, sha, 1000)
    await b.startStreaming(good, async () => (await sandboxFilePuts(gw)) === putsBefore + 2)
    // A fails; what it gives back must not be the reservation B is streaming under.
    expect((await a.end(bad)).status).toBe(422)
    expect((await b.end(good)).status).toBe(200)

    const usage = async () =>
      (
        await gw.db.query<{ bytes: number }>(
          'SELECT bytes FROM usage_months WHERE customer_id = $1',
          [t.customerId],
        )
      )[0]?.bytes
    expect(Number(await usage())).toBe(1000)
    // The cap is spent: another 1000-byte file is refused before a byte moves.
    const other = randomBytes(1000)
    const second = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'other.bin': sha1(other) },
      sizes: { 'other.bin': 1000 },
    })
    expect(second.status).toBe(402)
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')
    const billed = await gw.db.query<{ bytes: number }>(
      'SELECT bytes FROM push_usage_events WHERE push_id = $1',
      [pushId],
    )
    expect(Number(billed[0]?.bytes)).toBe(1000)
    expect(Number(await usage())).toBe(1000)
  })

  test('pacing is a sliding window: 3 a minute means 3 in any 60 s, across the minute boundary too', async () => {
    const t = await createTenant(gw)
    await gw.accounts.setLimits(t.customerId, { perMinute: 3, perDay: 100 }, 'test')
    const init = (label: string) =>
      api(gw, t.key, 'POST', '/v1/push-init', {
        project: t.projectName,
        files: { 'a.txt': sha1(`${label} ${randomBytes(4).toString('hex')}`) },
      })
    try {
      // Ten at once at :59: exactly three pass, whatever process or connection each lands on.
      clock.set('2026-01-15T12:00:59Z')
      const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => init(`b${i}`)))
      expect(burst.filter((r) => r.status === 201)).toHaveLength(3)
      expect(burst.filter((r) => r.status === 429)).toHaveLength(7)
      // Two seconds later a calendar minute has begun, but the last 60 s already hold three.
      clock.set('2026-01-15T12:01:01Z')
      const early = await init('early')
      expect(early.status).toBe(429)
      expect(early.body['error']['details']).toMatchObject({ limit: 'minute', max: 3 })
      // The headers tell the truth: the three leave the window at 12:01:59, 58 s from now.
      expect(early.headers.get('retry-after')).toBe('58')
      expect(early.headers.get('ratelimit')).toBe('"minute";r=0;t=58')
      expect(early.headers.get('ratelimit-policy')).toBe('"minute";q=3;w=60, "day";q=100;w=86400')
      clock.set('2026-01-15T12:01:58Z')
      expect((await init('still')).status).toBe(429)
      // Retrying when told to works, for exactly three again.
      clock.set('2026-01-15T12:01:59Z')
      const next = await Promise.all(Array.from({ length: 4 }, (_, i) => init(`n${i}`)))
      expect(next.filter((r) => r.status === 201)).toHaveLength(3)
      const paced = next.find((r) => r.status === 429)!
      expect(paced.headers.get('retry-after')).toBe('60')
    } finally {
      clock.set('2026-01-15T12:00:00Z')
    }
  })

  test('the day window slides too: Retry-After is when the oldest of the day leaves it', async () => {
    const t = await createTenant(gw)
    await gw.accounts.setLimits(t.customerId, { perMinute: 100, perDay: 2 }, 'test')
    const init = (label: string) =>
      api(gw, t.key, 'POST', '/v1/push-init', {
        project: t.projectName,
        files: { 'a.txt': sha1(`${label} ${randomBytes(4).toString('hex')}`) },
      })
    try {
      clock.set('2026-01-15T23:59:00Z')
      expect((await init('d1')).status).toBe(201)
      expect((await init('d2')).status).toBe(201)
      // Past midnight UTC a calendar day is new; the last 24 h are not.
      clock.set('2026-01-16T00:01:00Z')
      const third = await init('d3')
      expect(third.status).toBe(429)
      expect(third.body['error']['details']['limit']).toBe('day')
      expect(third.headers.get('retry-after')).toBe(String(86_400 - 120))
      clock.set('2026-01-16T23:59:00Z')
      expect((await init('d4')).status).toBe(201)
    } finally {
      clock.set('2026-01-15T12:00:00Z')
    }
  })

  test('a wrong file in a batch racing a good inline upload of the same SHA-1 keeps the cap', async () => {
    const t = await createTenant(gw)
    await gw.accounts.setLimits(t.customerId, { bytesPerMonth: 1000 }, 'test')
    const good = randomBytes(1000)
    const sha = sha1(good)
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'big.bin': sha },
    })
    expect(init.status).toBe(201)
    const pushId = init.body['pushId'] as string
    // A batch whose table announces the file and whose bytes are wrong.
    const head = Buffer.alloc(8 + 24)
    head.write('KXB1', 0, 'latin1')
    head.writeUInt32BE(1, 4)
    Buffer.from(sha, 'hex').copy(head, 8)
    head.writeUInt32BE(1000, 28)
    const batchBody = Buffer.concat([head, randomBytes(1000)])
    const a = openUpload(gw.url, t.key, pushId, sha, batchBody.length, {
      path: '/v1/push-upload-batch',
      method: 'POST',
      type: 'application/vnd.kaixu.batch',
    })
    // The batch reserves the file's bytes from its table, before reading them.
    await a.begin(batchBody, 32 + 500)
    const reserved = async () =>
      (
        await gw.db.query<{ reserved_bytes: number | null }>(
          'SELECT reserved_bytes FROM push_files WHERE push_id = $1',
          [pushId],
        )
      )[0]?.reserved_bytes
    while ((await reserved()) === null) await new Promise((r) => setTimeout(r, 10))
    // The right body starts streaming under that reservation.
    const putsBefore = await sandboxFilePuts(gw)
    const b = openUpload(gw.url, t.key, pushId, sha, 1000)
    await b.startStreaming(good, async () => (await sandboxFilePuts(gw)) === putsBefore + 1)
    // The batch's file turns out wrong; the bytes it gives back must not be the ones B uses.
    expect((await a.end(batchBody)).status).toBe(422)
    expect((await b.end(good)).status).toBe(200)
    const usage = await gw.db.query<{ bytes: number }>(
      'SELECT bytes FROM usage_months WHERE customer_id = $1',
      [t.customerId],
    )
    expect(Number(usage[0]?.bytes)).toBe(1000)
  })
})
