import { randomBytes } from 'node:crypto'
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
import { sha1, frame } from './helpers/pushes.ts'

const IDLE_SECONDS = 600

/**
 * Hostile and careless clients (issue 18): a push nobody completes, cancels or touches again
 * still ends, a deploy Netlify published is billed exactly once whatever the client skipped, and
 * nothing abandoned keeps holding the month's caps.
 */
describe.each(databases())('push lifecycle on %s', (database) => {
  let gw: TestGateway
  // The gateway's clock runs ahead of real time by `ahead`: idle timeouts pass without waiting.
  let ahead = 0
  const clock = { now: () => new Date(Date.now() + ahead) }
  const idleFor = (seconds: number) => (ahead += seconds * 1000)

  beforeAll(async () => {
    gw = await startTestGateway(
      database,
      { KAIXU_PUSH_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS), KAIXU_CHUNK_BYTES: '65536' },
      { clock },
    )
  })
  afterAll(async () => {
    await gw?.stop()
  })

  /** What the sandbox (Netlify) says about a deploy, under the tenant's own token. */
  const netlifyDeploy = async (t: Tenant, deployId: string) =>
    (await (
      await fetch(`${gw.url}/api/v1/deploys/${deployId}`, {
        headers: { authorization: `Bearer ${t.netlifyToken}` },
      })
    ).json()) as { state: string }

  /** Waits (bounded) until Netlify has published the deploy by itself. */
  async function untilNetlifyReady(t: Tenant, deployId: string) {
    for (let i = 0; i < 400; i++) {
      if ((await netlifyDeploy(t, deployId)).state === 'ready') return
      await sleep(25)
    }
    throw new Error(`deploy ${deployId} never became ready at Netlify`)
  }

  /** init with sizes (so bytes are reserved at once); answers the push id and deploy id. */
  async function init(t: Tenant, files: Record<string, Buffer>) {
    const res = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)])),
      sizes: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, c.length])),
    })
    expect(res.status).toBe(201)
    return { pushId: String(res.body['pushId']), deployId: String(res.body['deployId']) }
  }

  const upload = (t: Tenant, pushId: string, content: Buffer) =>
    api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, content, {
      'x-content-sha1': sha1(content),
    })

  const row = async (pushId: string) =>
    (
      await gw.db.query<{ state: string; reservation: string; active_at: Date }>(
        'SELECT state, reservation, active_at FROM pushes WHERE id = $1',
        [pushId],
      )
    )[0]!

  const usageEvents = async (pushId: string) =>
    (await gw.db.query('SELECT 1 FROM push_usage_events WHERE push_id = $1', [pushId])).length

  const monthUsage = async (t: Tenant) =>
    (
      await gw.db.query<{ deploys: number; bytes: number }>(
        'SELECT deploys, bytes FROM usage_months WHERE customer_id = $1',
        [t.customerId],
      )
    ).reduce((n, r) => ({ deploys: n.deploys + r.deploys, bytes: n.bytes + r.bytes }), {
      deploys: 0,
      bytes: 0,
    })

  const auditRows = (pushId: string, action: string) =>
    gw.db.query<{ actor: string; status: string }>(
      'SELECT actor, status FROM audit_log WHERE push_id = $1 AND action = $2',
      [pushId, action],
    )

  describe('every ready deploy is billed exactly once, completed or not', () => {
    test.each(['status read', 'long-poll', 'minute sweep'])(
      'uploaded in full and never completed: Netlify publishes it, and a %s bills it once',
      async (path) => {
        const t = await createTenant(gw)
        const content = randomBytes(1500)
        const { pushId, deployId } = await init(t, { 'index.html': content })
        expect((await upload(t, pushId, content)).status).toBe(200)
        await untilNetlifyReady(t, deployId)

        if (path === 'status read') {
          const status = await api(gw, t.key, 'GET', `/v1/push-status?pushId=${pushId}`)
          expect(status.body['state']).toBe('ready')
          expect(typeof status.body['costCents']).toBe('number')
        } else if (path === 'long-poll') {
          const status = await api(
            gw,
            t.key,
            'GET',
            `/v1/push-status?pushId=${pushId}&waitFor=ready&timeout=10`,
          )
          expect(status.body['state']).toBe('ready')
        } else {
          await gw.pushes.sweep()
          expect((await row(pushId)).state).toBe('ready')
        }
        expect(await usageEvents(pushId)).toBe(1)
        expect(await monthUsage(t)).toEqual({ deploys: 1, bytes: 1500 })

        // Every later path sees it settled: no second event, no second deploy counted.
        const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true })
        expect(done.body['state']).toBe('ready')
        await api(gw, t.key, 'GET', `/v1/push-status?pushId=${pushId}`)
        await gw.pushes.sweep()
        expect(await usageEvents(pushId)).toBe(1)
        expect(await monthUsage(t)).toEqual({ deploys: 1, bytes: 1500 })
      },
    )
  })

  describe('no push lives forever', () => {
    test('two abandoned inits at a cap of 2 expire: the third init is admitted, not 402 for the month', async () => {
      const t = await createTenant(gw)
      await gw.accounts.setLimits(t.customerId, { deploysPerMonth: 2 }, 'test')
      const a = await init(t, { 'a.txt': randomBytes(100) })
      const b = await init(t, { 'b.txt': randomBytes(200) })
      const third = { project: t.projectName, files: { 'c.txt': sha1(randomBytes(10)) } }
      // Not idle yet: the cap is really full.
      expect((await api(gw, t.key, 'POST', '/v1/push-init', third)).status).toBe(402)

      idleFor(IDLE_SECONDS + 1)
      // Admission itself expires them: no waiting for the sweep.
      const admitted = await api(gw, t.key, 'POST', '/v1/push-init', third)
      expect(admitted.status).toBe(201)

      for (const { pushId, deployId } of [a, b]) {
        expect(await row(pushId)).toMatchObject({ state: 'expired', reservation: 'released' })
        expect((await netlifyDeploy(t, deployId)).state).toBe('error')
        expect(await auditRows(pushId, 'push.expired')).toEqual([{ actor: 'system', status: 'ok' }])
        const status = await api(gw, t.key, 'GET', `/v1/push-status?pushId=${pushId}`)
        expect(status.body['state']).toBe('expired')
        expect(await usageEvents(pushId)).toBe(0)
      }
      // Only the admitted push holds anything now.
      expect(await monthUsage(t)).toEqual({ deploys: 1, bytes: 0 })
    })

    test('the minute sweep expires an idle push on its own and returns deploy and bytes', async () => {
      const t = await createTenant(gw)
      const { pushId, deployId } = await init(t, { 'x.bin': randomBytes(5000) })
      expect(await monthUsage(t)).toEqual({ deploys: 1, bytes: 5000 })
      idleFor(IDLE_SECONDS + 1)
      await gw.pushes.sweep()
      expect(await row(pushId)).toMatchObject({ state: 'expired', reservation: 'released' })
      expect((await netlifyDeploy(t, deployId)).state).toBe('error')
      expect(await monthUsage(t)).toEqual({ deploys: 0, bytes: 0 })
      // An expired push takes no more uploads.
      expect((await upload(t, pushId, randomBytes(5000))).status).toBe(409)
    })

    test('inline, chunk and batch uploads are activity: a push that keeps uploading does not expire', async () => {
      const t = await createTenant(gw)
      const inline = randomBytes(300)
      const small = randomBytes(400)
      const big = randomBytes(65536 + 10)
      const { pushId } = await init(t, { 'i.txt': inline, 's.txt': small, 'big.bin': big })
      const part = big.subarray(0, 65536)
      const steps: Array<() => Promise<{ status: number }>> = [
        () => upload(t, pushId, inline),
        () =>
          api(gw, t.key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, part, {
            'x-content-sha1': sha1(big),
            'x-chunk-index': '0',
            'x-chunk-count': '2',
            'x-chunk-sha1': sha1(part),
          }),
        () =>
          api(gw, t.key, 'POST', `/v1/push-upload-batch?pushId=${pushId}`, frame([small]), {
            'content-type': 'application/vnd.kaixu.batch',
          }),
      ]
      for (const step of steps) {
        idleFor(IDLE_SECONDS * 0.75)
        expect((await step()).status).toBeLessThan(300)
        await gw.pushes.sweep()
        // 0.75 of the timeout since the last upload, 1.5 or more since init: still alive.
        expect((await row(pushId)).state).toBe('uploading')
      }
      // A refused upload is no activity: bad requests cannot keep a push alive.
      idleFor(IDLE_SECONDS * 0.75)
      const refused = await api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, big, {
        'x-content-sha1': sha1(inline.subarray(1)),
      })
      expect(refused.status).toBe(422)
      idleFor(IDLE_SECONDS * 0.3)
      await gw.pushes.sweep()
      expect(await row(pushId)).toMatchObject({ state: 'expired', reservation: 'released' })
      expect(await monthUsage(t)).toEqual({ deploys: 0, bytes: 0 })
    })

    test('an idle push that Netlify published is billed at expiry, not expired for free', async () => {
      const t = await createTenant(gw)
      const content = randomBytes(700)
      const { pushId, deployId } = await init(t, { 'index.html': content })
      expect((await upload(t, pushId, content)).status).toBe(200)
      await untilNetlifyReady(t, deployId)
      idleFor(IDLE_SECONDS + 1)
      // The customer's next init runs the expiry first.
      await init(t, { 'next.txt': randomBytes(10) })
      expect(await row(pushId)).toMatchObject({ state: 'ready', reservation: 'settled' })
      expect(await usageEvents(pushId)).toBe(1)
      expect(await auditRows(pushId, 'push.expired')).toEqual([])
    })

    test('a push still without a Netlify deploy past the creation lease (its process died) expires', async () => {
      const t = await createTenant(gw)
      await gw.accounts.setLimits(t.customerId, { deploysPerMonth: 1 }, 'test')
      // What a gateway killed between admission and Netlify's answer leaves: an admitted row with
      // its deploy reserved and no deploy id. Made by the real admission, then the process "dies".
      const { pushId } = await init(t, { 'a.txt': randomBytes(10) })
      await gw.db.query('UPDATE pushes SET deploy_id = NULL WHERE id = $1', [pushId])
      expect((await monthUsage(t)).deploys).toBe(1)
      // Past the longest deploy creation (5 min + 1), well before the 10-minute idle timeout.
      idleFor(370)
      await gw.pushes.sweep()
      expect(await row(pushId)).toMatchObject({ state: 'expired', reservation: 'released' })
      expect(await monthUsage(t)).toEqual({ deploys: 0, bytes: 0 })
    })

    test('a push expired while Netlify was still creating its deploy: that deploy is cancelled, init answers 409', async () => {
      const t = await createTenant(gw)
      // Netlify answers the deploy creation late.
      await fetch(`${gw.url}/__sandbox/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          match: { method: 'POST', pathRegex: '/sites/[^/]+/deploys' },
          delayMs: 1500,
        }),
      })
      const pending = api(gw, t.key, 'POST', '/v1/push-init', {
        project: t.projectName,
        files: { 'a.txt': sha1(randomBytes(10)) },
      })
      let pushId: string | undefined
      for (let i = 0; i < 200 && !pushId; i++) {
        const rows = await gw.db.query<{ id: string }>(
          'SELECT id FROM pushes WHERE customer_id = $1',
          [t.customerId],
        )
        pushId = rows[0]?.id
        if (!pushId) await sleep(10)
      }
      // Past the creation lease while Netlify still works on it: the sweep expires the push.
      idleFor(370)
      await gw.pushes.sweep()
      expect(await row(pushId!)).toMatchObject({ state: 'expired', reservation: 'released' })

      const res = await pending
      expect(res.status).toBe(409)
      expect(res.body['error']).toMatchObject({
        code: 'invalid_state',
        details: { state: 'expired' },
      })
      const deploys = (await (
        await fetch(`${gw.url}/api/v1/sites/${t.siteId}/deploys`, {
          headers: { authorization: `Bearer ${t.netlifyToken}` },
        })
      ).json()) as { state: string }[]
      expect(deploys.map((d) => d.state)).toEqual(['error'])
      expect(await monthUsage(t)).toEqual({ deploys: 0, bytes: 0 })
    })
  })

  describe('POST /v1/push-cancel', () => {
    test('cancels the Netlify deploy, returns deploy and bytes, state cancelled, audited once; idempotent', async () => {
      const t = await createTenant(gw)
      const content = randomBytes(2000)
      const { pushId, deployId } = await init(t, { 'a.bin': content, 'b.bin': randomBytes(10) })
      expect((await upload(t, pushId, content)).status).toBe(200)
      expect(await monthUsage(t)).toEqual({ deploys: 1, bytes: 2010 })

      const first = await api(gw, t.key, 'POST', '/v1/push-cancel', { pushId })
      expect(first.status).toBe(200)
      expect(first.body).toMatchObject({ pushId, state: 'cancelled' })
      const again = await api(gw, t.key, 'POST', '/v1/push-cancel', { pushId })
      expect(again.status).toBe(200)
      expect(again.body['state']).toBe('cancelled')

      expect((await netlifyDeploy(t, deployId)).state).toBe('error')
      expect(await row(pushId)).toMatchObject({ state: 'cancelled', reservation: 'released' })
      expect(await monthUsage(t)).toEqual({ deploys: 0, bytes: 0 })
      expect(await auditRows(pushId, 'push.cancelled')).toEqual([
        { actor: `key:${t.keyId}`, status: 'ok' },
      ])
      expect(await usageEvents(pushId)).toBe(0)
      expect((await upload(t, pushId, randomBytes(10))).status).toBe(409)
      const complete = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId })
      expect(complete.body['state']).toBe('cancelled')
    })

    test('409 once the push is finalizing or done; 404 for another tenant; 400 for a bad body', async () => {
      const t = await createTenant(gw)
      const other = await createTenant(gw, 'Other')
      const content = randomBytes(100)
      const { pushId } = await init(t, { 'index.html': content })
      expect((await api(gw, other.key, 'POST', '/v1/push-cancel', { pushId })).status).toBe(404)
      await upload(t, pushId, content)
      await api(gw, t.key, 'POST', '/v1/push-complete', { pushId })
      const late = await api(gw, t.key, 'POST', '/v1/push-cancel', { pushId })
      expect(late.status).toBe(409)
      expect(late.body['error']).toMatchObject({ code: 'invalid_state' })
      expect(['finalizing', 'ready']).toContain(late.body['error']['details']['state'])

      for (const body of [{}, { pushId: 'nope' }, { pushId, extra: 1 }]) {
        const bad = await api(gw, t.key, 'POST', '/v1/push-cancel', body)
        expect(bad.status).toBe(400)
        expect(bad.body['error']['code']).toBe('invalid_request')
      }
    })

    test('cancelling a push Netlify already published answers 409 and bills it: no free deploy', async () => {
      const t = await createTenant(gw)
      const content = randomBytes(800)
      const { pushId, deployId } = await init(t, { 'index.html': content })
      await upload(t, pushId, content)
      await untilNetlifyReady(t, deployId)
      const res = await api(gw, t.key, 'POST', '/v1/push-cancel', { pushId })
      expect(res.status).toBe(409)
      expect(res.body['error']['details']).toEqual({ state: 'ready' })
      expect(await usageEvents(pushId)).toBe(1)
      expect(await monthUsage(t)).toEqual({ deploys: 1, bytes: 800 })
    })
  })

  test('a tenant that abandons, cancels and never completes pushes: every counter equals its ready deploys; the other tenant deploys as usual', async () => {
    const hostile = await createTenant(gw, 'Hostile')
    const honest = await createTenant(gw, 'Honest')
    const published: { pushId: string; deployId: string }[] = []
    for (let i = 0; i < 3; i++) {
      const content = randomBytes(300 + i)
      const p = await init(hostile, { 'index.html': content })
      await upload(hostile, p.pushId, content)
      published.push(p)
    }
    await init(hostile, { 'a.txt': randomBytes(50) })
    await init(hostile, { 'b.txt': randomBytes(60) })
    const halfA = randomBytes(70)
    const half = await init(hostile, { 'c.txt': halfA, 'd.txt': randomBytes(80) })
    await upload(hostile, half.pushId, halfA)
    const cancelled = await init(hostile, { 'e.txt': randomBytes(90) })
    expect(
      (await api(gw, hostile.key, 'POST', '/v1/push-cancel', { pushId: cancelled.pushId })).status,
    ).toBe(200)

    for (let i = 0; i < 2; i++) {
      const content = randomBytes(500 + i)
      const p = await init(honest, { 'index.html': content })
      await upload(honest, p.pushId, content)
      const done = await api(gw, honest.key, 'POST', '/v1/push-complete', {
        pushId: p.pushId,
        wait: true,
      })
      expect(done.body['state']).toBe('ready')
    }

    for (const p of published) await untilNetlifyReady(hostile, p.deployId)
    idleFor(IDLE_SECONDS + 1)
    await gw.pushes.sweep()

    for (const [t, ready] of [
      [hostile, 3],
      [honest, 2],
    ] as const) {
      const states = await gw.db.query<{ state: string; n: number }>(
        'SELECT state, count(*)::int AS n FROM pushes WHERE customer_id = $1 GROUP BY state ORDER BY state',
        [t.customerId],
      )
      const pushes = await gw.db.query<{ n: number; bytes: number }>(
        `SELECT count(*)::int AS n, coalesce(sum(bytes_uploaded), 0)::bigint AS bytes FROM pushes
          WHERE customer_id = $1 AND state = 'ready'`,
        [t.customerId],
      )
      const events = await gw.db.query<{ n: number; bytes: number }>(
        `SELECT count(*)::int AS n, coalesce(sum(bytes), 0)::bigint AS bytes FROM push_usage_events
          WHERE customer_id = $1`,
        [t.customerId],
      )
      const usage = (await api(gw, t.key, 'GET', '/v1/usage')).body
      expect(pushes[0]!.n).toBe(ready)
      expect(Number(events[0]!.n)).toBe(ready)
      expect(Number(events[0]!.bytes)).toBe(Number(pushes[0]!.bytes))
      expect(await monthUsage(t)).toEqual({ deploys: ready, bytes: Number(pushes[0]!.bytes) })
      expect({ deploys: usage['deploys'], bytes: usage['bytes'] }).toEqual({
        deploys: ready,
        bytes: Number(pushes[0]!.bytes),
      })
      expect(states.find((r) => r.state === 'uploading')).toBeUndefined()
    }
  })
})
