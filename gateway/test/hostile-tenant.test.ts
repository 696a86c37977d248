import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  api,
  createTenant,
  databases,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { sha1 } from './helpers/pushes.ts'

const IDLE_SECONDS = 600
const CHUNK = 64 * 1024

/**
 * Issue 18's closing check: one customer abuses every route at once (lies about sizes and
 * chunks, races bad and good bodies of one SHA-1, floods manifests and long-polls, sends a body
 * it was refused, replays idempotency keys with other bodies, abandons, cancels and never
 * completes pushes) while a second customer deploys as usual. Afterwards both customers' books
 * equal what Netlify actually published: usage counters, usage events, `/v1/usage` and the
 * draft invoice all count exactly the ready deploys and their bytes, and the deploys Netlify
 * shows ready are exactly the pushes the gateway billed.
 */
describe.each(databases())('a hostile tenant on %s', (database) => {
  let gw: TestGateway
  // The gateway's clock runs ahead by `ahead`: idle timeouts pass without waiting.
  let ahead = 0
  const clock = { now: () => new Date(Date.now() + ahead) }

  beforeAll(async () => {
    gw = await startTestGateway(
      database,
      { KAIXU_PUSH_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS), KAIXU_CHUNK_BYTES: String(CHUNK) },
      { clock },
    )
  })
  afterAll(async () => {
    await gw?.stop()
  })

  async function init(t: Tenant, files: Record<string, Buffer>, sizes = true, key?: string) {
    return api(
      gw,
      t.key,
      'POST',
      '/v1/push-init',
      {
        project: t.projectName,
        files: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)])),
        ...(sizes
          ? { sizes: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, c.length])) }
          : {}),
      },
      key ? { 'idempotency-key': key } : {},
    )
  }

  const upload = (t: Tenant, pushId: string, content: Buffer, sha = sha1(content)) =>
    api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, content, {
      'x-content-sha1': sha,
      'content-type': 'application/octet-stream',
    })

  const chunk = (t: Tenant, pushId: string, file: Buffer, index: number, count: number) => {
    const body = file.subarray(index * CHUNK, (index + 1) * CHUNK)
    return api(gw, t.key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, body, {
      'x-content-sha1': sha1(file),
      'x-chunk-index': String(index),
      'x-chunk-count': String(count),
      'x-chunk-sha1': sha1(body),
    })
  }

  /** A full, honest push: init, upload what is required, complete and wait. */
  async function honestPush(t: Tenant, n: number) {
    const files = {
      'index.html': Buffer.from(`<h1>honest ${n} ${randomBytes(4).toString('hex')}</h1>`),
      'app.js': randomBytes(2000 + n),
      'big.bin': randomBytes(CHUNK + 1000),
    }
    const res = await init(t, files)
    expect(res.status).toBe(201)
    const pushId = String(res.body['pushId'])
    const required = new Set(res.body['required'] as string[])
    for (const content of Object.values(files)) {
      if (!required.has(sha1(content))) continue
      if (content.length > CHUNK) {
        expect((await chunk(t, pushId, content, 0, 2)).status).toBe(201)
        expect((await chunk(t, pushId, content, 1, 2)).status).toBe(201)
      } else {
        expect((await upload(t, pushId, content)).status).toBe(200)
      }
    }
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.status).toBe(200)
    expect(done.body['state']).toBe('ready')
    return pushId
  }

  /** A body the route refuses at once (too large), then trickled: the gateway must hang up. */
  function refusedSlowBody(t: Tenant): Promise<string> {
    const { port } = new URL(gw.url)
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1')
      let answer = ''
      let trickle: NodeJS.Timeout | undefined
      // Bounded: a gateway that never hangs up fails the test rather than holding it.
      const limit = setTimeout(
        () => socket.destroy(new Error('the gateway kept a refused body open')),
        20_000,
      )
      const stop = () => {
        clearInterval(trickle)
        clearTimeout(limit)
      }
      socket.on('connect', () => {
        socket.write(
          `POST /v1/push-complete HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.key}\r\n` +
            'Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{',
        )
        trickle = setInterval(() => socket.write(' '), 50)
      })
      socket.on('data', (d: Buffer) => (answer += d.toString('latin1')))
      socket.on('close', () => {
        stop()
        resolve(answer.split('\r\n')[0] ?? '')
      })
      socket.on('error', (e) => {
        stop()
        reject(e)
      })
    })
  }

  /** Every abuse of issue 18, each checked for the answer it must get. */
  async function abuse(t: Tenant) {
    // Abandoned pushes: inits never touched again, and a push uploaded in full but never
    // completed (Netlify publishes it by itself).
    expect((await init(t, { 'a.txt': randomBytes(50) })).status).toBe(201)
    expect((await init(t, { 'b.txt': randomBytes(60) })).status).toBe(201)
    const free = Buffer.from(`<h1>free ${randomBytes(4).toString('hex')}</h1>`)
    const unfinished = await init(t, { 'index.html': free })
    expect((await upload(t, String(unfinished.body['pushId']), free)).status).toBe(200)

    // A cancelled push, cancelled twice.
    const cancelled = await init(t, { 'c.txt': randomBytes(70) })
    const cancelBody = { pushId: String(cancelled.body['pushId']) }
    expect((await api(gw, t.key, 'POST', '/v1/push-cancel', cancelBody)).status).toBe(200)
    expect((await api(gw, t.key, 'POST', '/v1/push-cancel', cancelBody)).status).toBe(200)

    // Sizes that lie: more keys than files, a key that is not a file, a size past any file.
    const lie = randomBytes(40)
    for (const sizes of [
      { 'l.txt': 40, 'ghost.txt': 1 },
      { 'other.txt': 40 },
      { 'l.txt': 2 ** 53 - 1 },
    ]) {
      const res = await api(gw, t.key, 'POST', '/v1/push-init', {
        project: t.projectName,
        files: { 'l.txt': sha1(lie) },
        sizes,
      })
      expect(res.status).toBe(400)
    }

    // Chunks that add up to less than the declared size, and a chunk with a wrong SHA-1.
    const short = randomBytes(1000)
    const shortPush = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'short.bin': sha1(short) },
      sizes: { 'short.bin': 2000 },
    })
    expect(shortPush.status).toBe(201)
    const shortId = String(shortPush.body['pushId'])
    expect((await chunk(t, shortId, short, 0, 1)).status).toBe(400)
    const wrong = await api(gw, t.key, 'PUT', `/v1/push-upload-chunk?pushId=${shortId}`, short, {
      'x-content-sha1': sha1(short),
      'x-chunk-index': '0',
      'x-chunk-count': '1',
      'x-chunk-sha1': sha1(randomBytes(8)),
    })
    expect(wrong.status).toBe(422)

    // A bad and a good body of one SHA-1 racing: the good one lands, the bad one is refused.
    const good = randomBytes(3000)
    const raced = await init(t, { 'race.bin': good })
    const racedId = String(raced.body['pushId'])
    const [bad, ok] = await Promise.all([
      upload(t, racedId, randomBytes(3000), sha1(good)),
      upload(t, racedId, good),
    ])
    expect(ok.status).toBe(200)
    // Refused when it streamed beside the good one; skipped (nothing sent) when it came after.
    if (bad.status === 200) expect(bad.body['skipped']).toBe(true)
    else expect(bad.status).toBe(422)
    // Twenty long-poll waiters on one push, then it completes.
    const waiters = Array.from({ length: 20 }, () =>
      api(gw, t.key, 'GET', `/v1/push-status?pushId=${racedId}&waitFor=ready&timeout=5`),
    )
    const completed = await api(gw, t.key, 'POST', '/v1/push-complete', {
      pushId: racedId,
      wait: true,
    })
    expect(completed.body['state']).toBe('ready')
    for (const w of await Promise.all(waiters)) expect(w.status).toBe(200)

    // The same Idempotency-Key with another body is refused, never a second push.
    const key = `hostile-${randomBytes(6).toString('hex')}`
    const first = await init(t, { 'i.txt': randomBytes(10) }, true, key)
    expect(first.status).toBe(201)
    const replay = await init(t, { 'j.txt': randomBytes(10) }, true, key)
    expect(replay.status).toBe(422)

    // A body the route refuses, sent slowly: answered and disconnected.
    expect(await refusedSlowBody(t)).toMatch(/^HTTP\/1\.1 413/)

    return { freeDeploy: String(unfinished.body['deployId']) }
  }

  test('one customer abuses every route while another deploys; every book equals what Netlify published', async () => {
    const hostile = await createTenant(gw, 'Hostile')
    const honest = await createTenant(gw, 'Honest')

    const [abused, honestPushes] = await Promise.all([
      abuse(hostile),
      (async () => {
        const ids: string[] = []
        for (let n = 0; n < 3; n++) ids.push(await honestPush(honest, n))
        return ids
      })(),
    ])
    expect(honestPushes).toHaveLength(3)

    // Netlify publishes the never-completed push by itself; then every abandoned push idles out.
    for (let i = 0; ; i++) {
      const res = await fetch(`${gw.url}/api/v1/deploys/${abused.freeDeploy}`, {
        headers: { authorization: `Bearer ${hostile.netlifyToken}` },
      })
      if (((await res.json()) as { state: string }).state === 'ready') break
      if (i > 400) throw new Error('Netlify never published the uploaded push')
      await sleep(25)
    }
    ahead += (IDLE_SECONDS + 1) * 1000
    await gw.pushes.sweep()

    for (const t of [hostile, honest]) {
      const ready = await gw.db.query<{ deploy_id: string; bytes: string }>(
        `SELECT deploy_id, bytes_uploaded::text AS bytes FROM pushes
          WHERE customer_id = $1 AND state = 'ready' ORDER BY deploy_id`,
        [t.customerId],
      )
      const bytes = ready.reduce((n, r) => n + Number(r.bytes), 0)
      const left = await gw.db.query(
        `SELECT id FROM pushes WHERE customer_id = $1 AND state IN ('uploading', 'finalizing')`,
        [t.customerId],
      )
      expect(left).toEqual([])

      // What Netlify published for this customer's site is exactly what the gateway billed.
      const res = await fetch(`${gw.url}/api/v1/sites/${t.siteId}/deploys?state=ready`, {
        headers: { authorization: `Bearer ${t.netlifyToken}` },
      })
      const published = ((await res.json()) as { id: string }[]).map((d) => d.id).sort()
      expect(published).toEqual(ready.map((r) => r.deploy_id).sort())

      const events = await gw.db.query<{ n: number; bytes: string }>(
        `SELECT count(*)::int AS n, coalesce(sum(bytes), 0)::text AS bytes
           FROM push_usage_events WHERE customer_id = $1`,
        [t.customerId],
      )
      expect({ n: Number(events[0]!.n), bytes: Number(events[0]!.bytes) }).toEqual({
        n: ready.length,
        bytes,
      })
      const months = await gw.db.query<{ deploys: number; bytes: string }>(
        'SELECT deploys, bytes::text AS bytes FROM usage_months WHERE customer_id = $1',
        [t.customerId],
      )
      expect(
        months.reduce(
          (n, m) => ({ deploys: n.deploys + m.deploys, bytes: n.bytes + Number(m.bytes) }),
          {
            deploys: 0,
            bytes: 0,
          },
        ),
      ).toEqual({ deploys: ready.length, bytes })
      const usage = (await api(gw, t.key, 'GET', '/v1/usage')).body
      expect({ deploys: usage['deploys'], bytes: usage['bytes'] }).toEqual({
        deploys: ready.length,
        bytes,
      })
      // The draft invoice is the events priced: its lines add up to its total.
      const invoice = usage['invoice'] as {
        deploys: number
        bytes: number
        totalCents: number
        lines: { amountCents: number }[]
      }
      expect({ deploys: invoice.deploys, bytes: Number(invoice.bytes) }).toEqual({
        deploys: ready.length,
        bytes,
      })
      expect(invoice.lines.reduce((n, l) => n + l.amountCents, 0)).toBe(invoice.totalCents)
    }

    // The honest customer got all three deploys; the hostile one its two real ones (the raced
    // push it completed and the one Netlify published without push-complete), nothing more.
    const readyOf = async (t: Tenant) =>
      (
        await gw.db.query(`SELECT id FROM pushes WHERE customer_id = $1 AND state = 'ready'`, [
          t.customerId,
        ])
      ).length
    expect(await readyOf(honest)).toBe(3)
    expect(await readyOf(hostile)).toBe(2)
  })
})
