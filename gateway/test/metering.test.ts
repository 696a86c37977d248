import { randomBytes } from 'node:crypto'
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

const unique = (label = 'f') => `${label} ${randomBytes(8).toString('hex')}`

/** init → upload → complete(wait) for one file; answers the final push record. */
async function pushOne(gw: TestGateway, t: Tenant, content = unique()) {
  const init = await api(gw, t.key, 'POST', '/v1/push-init', {
    project: t.projectName,
    files: { 'index.html': sha1(content) },
  })
  expect(init.status).toBe(201)
  for (const sha of init.body['required'] as string[]) {
    const up = await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${init.body['pushId']}`,
      Buffer.from(content),
      {
        'x-content-sha1': sha,
      },
    )
    expect(up.status).toBe(200)
  }
  const done = await api(gw, t.key, 'POST', '/v1/push-complete', {
    pushId: init.body['pushId'],
    wait: true,
  })
  expect(done.body['state']).toBe('ready')
  return done.body
}

const usageRow = async (gw: TestGateway, customerId: string, month: string) =>
  (
    await gw.db.query<{ deploys: number; bytes: number }>(
      'SELECT deploys, bytes FROM usage_months WHERE customer_id = $1 AND month = $2',
      [customerId, month],
    )
  )[0]

describe.each(databases())('metering on %s', (database) => {
  let gw: TestGateway
  const clock = testClock('2026-01-15T12:00:00Z')

  beforeAll(async () => {
    gw = await startTestGateway(
      database,
      { KAIXU_ADMIN_TOKEN: 'admin-token-for-tests-0123456789' },
      { clock },
    )
  })
  afterAll(async () => {
    await gw?.stop()
  })

  test('50 simultaneous inits against a cap of 10: exactly 10 succeed, 40 get 402', async () => {
    const t = await createTenant(gw)
    await gw.accounts.setLimits(t.customerId, { deploysPerMonth: 10 }, 'test')
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        api(gw, t.key, 'POST', '/v1/push-init', {
          project: t.projectName,
          files: { 'a.txt': sha1(`c${i}`) },
        }),
      ),
    )
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((s) => s === 201)).toHaveLength(10)
    expect(statuses.filter((s) => s === 402)).toHaveLength(40)
    const refused = results.find((r) => r.status === 402)!.body
    expect(refused['error']).toMatchObject({
      code: 'cap_exceeded',
      details: { limit: 'deploys', remaining: { deploys: 0 }, resetAt: '2026-02-01T00:00:00.000Z' },
    })
    expect((await usageRow(gw, t.customerId, '2026-01-01'))?.deploys).toBe(10)
    expect(
      await gw.db.query('SELECT id FROM pushes WHERE customer_id = $1', [t.customerId]),
    ).toHaveLength(10)
  })

  test('pacing: 20 simultaneous inits at 3 per minute admit 3; the rest get 429 with rate-limit headers', async () => {
    const t = await createTenant(gw)
    await gw.accounts.setLimits(t.customerId, { perMinute: 3, perDay: 100 }, 'test')
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api(gw, t.key, 'POST', '/v1/push-init', {
          project: t.projectName,
          files: { 'a.txt': sha1(`p${i}`) },
        }),
      ),
    )
    expect(results.filter((r) => r.status === 201)).toHaveLength(3)
    const paced = results.filter((r) => r.status === 429)
    expect(paced).toHaveLength(17)
    const r = paced[0]!
    expect(r.body['error']).toMatchObject({
      code: 'rate_limited',
      details: { limit: 'minute', max: 3 },
    })
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(Number(r.headers.get('retry-after'))).toBeLessThanOrEqual(60)
    expect(r.headers.get('ratelimit-policy')).toBe('"minute";q=3;w=60, "day";q=100;w=86400')
    expect(r.headers.get('ratelimit')).toMatch(/^"minute";r=0;t=\d+$/)
    // A paced request reserved nothing.
    expect((await usageRow(gw, t.customerId, '2026-01-01'))?.deploys).toBe(3)
    // The next minute opens a new window.
    clock.set('2026-01-15T12:01:00Z')
    const later = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'a.txt': sha1('later') },
    })
    expect(later.status).toBe(201)
    clock.set('2026-01-15T12:00:00Z')
  })

  test('the day window paces too', async () => {
    const t = await createTenant(gw)
    await gw.accounts.setLimits(t.customerId, { perMinute: 100, perDay: 2 }, 'test')
    for (let i = 0; i < 2; i++) {
      expect(
        (
          await api(gw, t.key, 'POST', '/v1/push-init', {
            project: t.projectName,
            files: { 'a.txt': sha1(`d${i}`) },
          })
        ).status,
      ).toBe(201)
    }
    const third = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'a.txt': sha1('d3') },
    })
    expect(third.status).toBe(429)
    expect(third.body['error']['details']['limit']).toBe('day')
    // The window slides: the two admitted at 12:00 leave it 24 h later.
    expect(Number(third.headers.get('retry-after'))).toBe(86_400)
  })

  test('the byte cap is checked at init when the manifest has sizes, releasing the deploy', async () => {
    const t = await createTenant(gw)
    await gw.accounts.setLimits(t.customerId, { bytesPerMonth: 100 }, 'test')
    const content = 'x'.repeat(150)
    const before = (await (await fetch(`${gw.url}/__sandbox/stats`)).json()) as {
      deploysCreated: number
    }
    const res = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'big.txt': sha1(content) },
      sizes: { 'big.txt': 150 },
    })
    expect(res.status).toBe(402)
    expect(res.body['error']).toMatchObject({
      code: 'cap_exceeded',
      details: { limit: 'bytes', remaining: { bytes: 100 } },
    })
    expect(await usageRow(gw, t.customerId, '2026-01-01')).toEqual({ deploys: 0, bytes: 0 })
    const [push] = await gw.db.query<{ state: string; reservation: string; deploy_id: string }>(
      'SELECT state, reservation, deploy_id FROM pushes WHERE customer_id = $1',
      [t.customerId],
    )
    expect(push).toMatchObject({ state: 'error', reservation: 'released' })
    const deploy = await (
      await fetch(`${gw.url}/api/v1/deploys/${push!.deploy_id}`, {
        headers: { authorization: `Bearer ${t.netlifyToken}` },
      })
    ).json()
    expect((deploy as { state: string }).state).toBe('error')
    const after = (await (await fetch(`${gw.url}/__sandbox/stats`)).json()) as {
      deploysCreated: number
    }
    expect(after.deploysCreated - before.deploysCreated).toBe(1)
  })

  test('the byte cap is checked again on upload, before any byte reaches Netlify', async () => {
    const t = await createTenant(gw)
    await gw.accounts.setLimits(t.customerId, { bytesPerMonth: 100 }, 'test')
    const content = 'y'.repeat(150)
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'big.txt': sha1(content) },
    })
    expect(init.status).toBe(201)
    const stats = async () =>
      (await (await fetch(`${gw.url}/__sandbox/stats`)).json()) as {
        uploadedBytes: number
        filePuts: number
        requests: Record<string, number>
      }
    const before = await stats()
    const up = await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${init.body['pushId']}`,
      Buffer.from(content),
      {
        'x-content-sha1': sha1(content),
      },
    )
    expect(up.status).toBe(402)
    expect(up.body['error']['details']).toMatchObject({ limit: 'bytes', remaining: { bytes: 100 } })
    const after = await stats()
    expect(after.requests).toEqual(before.requests)
    expect(after.uploadedBytes).toBe(before.uploadedBytes)
    expect(await usageRow(gw, t.customerId, '2026-01-01')).toEqual({ deploys: 1, bytes: 0 })
  })

  test('a failed deploy releases its reservation; a ready one keeps only the bytes it used', async () => {
    const t = await createTenant(gw)
    const content = unique('fail')
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'f.txt': sha1(content) },
      sizes: { 'f.txt': Buffer.byteLength(content) },
    })
    expect(await usageRow(gw, t.customerId, '2026-01-01')).toEqual({
      deploys: 1,
      bytes: Buffer.byteLength(content),
    })
    await fetch(`${gw.url}/__sandbox/deploys/fail-next`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 1, message: 'Build script returned non-zero exit code' }),
    })
    await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${init.body['pushId']}`,
      Buffer.from(content),
      { 'x-content-sha1': sha1(content) },
    )
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', {
      pushId: init.body['pushId'],
      wait: true,
    })
    expect(done.body).toMatchObject({
      state: 'error',
      error_message: 'Build script returned non-zero exit code',
    })
    expect(await usageRow(gw, t.customerId, '2026-01-01')).toEqual({ deploys: 0, bytes: 0 })
    expect(
      await gw.db.query('SELECT * FROM push_usage_events WHERE push_id = $1', [
        init.body['pushId'],
      ]),
    ).toHaveLength(0)

    const ready = await pushOne(gw, t, 'abc')
    expect(await usageRow(gw, t.customerId, '2026-01-01')).toEqual({
      deploys: 1,
      bytes: ready['bytesUploaded'],
    })
  })

  test('months are calendar months in UTC: a cap resets at midnight on the 1st', async () => {
    const t = await createTenant(gw)
    await gw.accounts.setLimits(t.customerId, { deploysPerMonth: 1 }, 'test')
    clock.set('2026-01-31T23:59:59Z')
    const jan = await pushOne(gw, t)
    const over = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'a.txt': sha1('jan2') },
    })
    expect(over.status).toBe(402)
    expect(over.body['error']['details']['resetAt']).toBe('2026-02-01T00:00:00.000Z')
    clock.set('2026-02-01T00:00:00Z')
    const feb = await pushOne(gw, t)
    const events = await gw.db.query<{ push_id: string; billing_month: string }>(
      'SELECT push_id, billing_month FROM push_usage_events WHERE customer_id = $1 ORDER BY billing_month',
      [t.customerId],
    )
    expect(events).toEqual([
      { push_id: jan['pushId'], billing_month: '2026-01-01' },
      { push_id: feb['pushId'], billing_month: '2026-02-01' },
    ])
    clock.set('2026-01-15T12:00:00Z')
  })

  describe('pricing and invoices', () => {
    const admin = { authorization: 'Bearer admin-token-for-tests-0123456789' }
    const adminApi = (method: string, path: string, body?: unknown) =>
      api(gw, undefined, method, `/admin/api${path}`, body, admin)

    test('a mid-month price change prices new events only; the invoice has a line per version', async () => {
      clock.set('2026-03-10T10:00:00Z')
      const t = await createTenant(gw)
      const first = await pushOne(gw, t, 'x'.repeat(2000))
      const version = await adminApi('POST', '/pricing', {
        centsPerDeploy: 50,
        centsPerGb: 1000,
        effectiveFrom: '2026-03-15T00:00:00Z',
      })
      expect(version.status).toBe(201)
      clock.set('2026-03-20T10:00:00Z')
      const second = await pushOne(gw, t, 'y'.repeat(3000))
      const events = await gw.db.query<{
        push_id: string
        pricing_version: number
        cost_cents: number
        bytes: number
      }>(
        'SELECT push_id, pricing_version, cost_cents, bytes FROM push_usage_events WHERE customer_id = $1 ORDER BY occurred_at',
        [t.customerId],
      )
      expect(events).toEqual([
        { push_id: first['pushId'], pricing_version: 1, cost_cents: 10 + 1, bytes: 2000 },
        {
          push_id: second['pushId'],
          pricing_version: version.body['version'],
          cost_cents: 50 + 1,
          bytes: 3000,
        },
      ])
      const usage = await api(gw, t.key, 'GET', '/v1/usage?month=2026-03')
      expect(usage.status).toBe(200)
      expect(usage.body).toMatchObject({ month: '2026-03', deploys: 2, bytes: 5000, costCents: 62 })
      expect(usage.body['invoice']['status']).toBe('draft')
      expect(usage.body['invoice']['lines']).toEqual([
        {
          pricingVersion: 1,
          centsPerDeploy: 10,
          centsPerGb: 25,
          deploys: 1,
          bytes: 2000,
          amountCents: 11,
        },
        {
          pricingVersion: version.body['version'],
          centsPerDeploy: 50,
          centsPerGb: 1000,
          deploys: 1,
          bytes: 3000,
          amountCents: 51,
        },
      ])
      // Old events are never repriced, and the current price applies from here on.
      const again = await gw.db.query<{ cost_cents: number }>(
        'SELECT cost_cents FROM push_usage_events WHERE push_id = $1',
        [first['pushId']],
      )
      expect(again[0]!.cost_cents).toBe(11)
    })

    test('finalizing: only closed months; totals equal the events; late events go to the open month', async () => {
      clock.set('2026-04-05T10:00:00Z')
      const t = await createTenant(gw)
      await pushOne(gw, t, 'april 1')
      await pushOne(gw, t, 'april 22')
      const early = await adminApi('POST', '/invoices/finalize', { month: '2026-04' })
      expect(early.status).toBe(400)

      // A push reserved in April but ready after April's invoice is final bills to May.
      const late = await api(gw, t.key, 'POST', '/v1/push-init', {
        project: t.projectName,
        files: { 'l.txt': sha1('late') },
      })
      await api(
        gw,
        t.key,
        'PUT',
        `/v1/push-upload?pushId=${late.body['pushId']}`,
        Buffer.from('late'),
        { 'x-content-sha1': sha1('late') },
      )

      clock.set('2026-05-01T00:10:00Z')
      const finalized = await gw.billing.finalizeClosedMonths()
      expect(finalized.find((f) => f.month === '2026-04')?.finalized).toContain(t.customerId)
      const done = await api(gw, t.key, 'POST', '/v1/push-complete', {
        pushId: late.body['pushId'],
        wait: true,
      })
      expect(done.body['state']).toBe('ready')

      const april = await adminApi('GET', `/invoices?month=2026-04&customer=${t.customerId}`)
      const [invoice] = april.body['invoices']
      expect(invoice).toMatchObject({ status: 'finalized', deploys: 2 })
      const sums = await gw.db.query<{ total: number }>(
        "SELECT sum(cost_cents)::bigint AS total FROM push_usage_events WHERE customer_id = $1 AND billing_month = '2026-04-01'",
        [t.customerId],
      )
      expect(invoice.totalCents).toBe(sums[0]!.total)
      const may = await adminApi('GET', `/invoices?month=2026-05&customer=${t.customerId}`)
      expect(may.body['invoices'][0]).toMatchObject({ status: 'draft', deploys: 1 })

      const csv = await adminApi(
        'GET',
        `/invoices?month=2026-04&customer=${t.customerId}&format=csv`,
      )
      expect(csv.headers.get('content-type')).toContain('text/csv')
      const lines = String(csv.body).trim().split('\n')
      expect(lines[0]).toContain('amount_cents')
      expect(lines[1]).toContain(`${t.customerId},`)
      expect(lines[1]!.endsWith(`,${invoice.totalCents},${invoice.totalCents}`)).toBe(true)

      // Finalizing again changes nothing.
      const again = await adminApi('POST', '/invoices/finalize', { month: '2026-04' })
      expect(again.body['finalized']).not.toContain(t.customerId)
      clock.set('2026-01-15T12:00:00Z')
    })

    test('the admin API takes only the admin token', async () => {
      const t = await createTenant(gw)
      expect((await api(gw, undefined, 'GET', '/admin/api/pricing')).status).toBe(401)
      expect((await api(gw, t.key, 'GET', '/admin/api/pricing')).status).toBe(401)
      expect((await adminApi('GET', '/pricing')).status).toBe(200)
      // And the admin token is not a customer key.
      expect((await api(gw, undefined, 'GET', '/v1/usage', undefined, admin)).status).toBe(401)
      const bad = await adminApi('PUT', `/customers/${t.customerId}/limits`, {
        deploysPerMonth: -1,
      })
      expect(bad.status).toBe(400)
      const ok = await adminApi('PUT', `/customers/${t.customerId}/limits`, {
        deploysPerMonth: 5,
        perMinute: null,
      })
      expect(ok.body['deploys']['limit']).toBe(5)
    })
  })

  describe('Idempotency-Key on push-init', () => {
    test('a replay answers the first response; another body is 422; in flight is 409', async () => {
      const t = await createTenant(gw)
      const body = { project: t.projectName, files: { 'i.txt': sha1('idem') } }
      const key = { 'idempotency-key': `k-${randomBytes(6).toString('hex')}` }
      const first = await api(gw, t.key, 'POST', '/v1/push-init', body, key)
      expect(first.status).toBe(201)
      expect(first.headers.get('idempotent-replayed')).toBeNull()
      const replay = await api(gw, t.key, 'POST', '/v1/push-init', body, key)
      expect(replay.status).toBe(201)
      expect(replay.headers.get('idempotent-replayed')).toBe('true')
      expect(replay.body['pushId']).toBe(first.body['pushId'])
      expect(
        await gw.db.query('SELECT id FROM pushes WHERE customer_id = $1', [t.customerId]),
      ).toHaveLength(1)
      const other = await api(
        gw,
        t.key,
        'POST',
        '/v1/push-init',
        { ...body, title: 'changed' },
        key,
      )
      expect(other.status).toBe(422)
      expect(other.body['error']['code']).toBe('idempotency_key_reused')

      // Slow Netlify down so the first request is still running when the second arrives.
      await fetch(`${gw.url}/__sandbox/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          match: { method: 'POST', pathRegex: '/sites/[^/]+/deploys' },
          delayMs: 800,
          times: 1,
        }),
      })
      const slowKey = { 'idempotency-key': `k-${randomBytes(6).toString('hex')}` }
      const slowBody = { project: t.projectName, files: { 'i.txt': sha1('slow') } }
      const slow = api(gw, t.key, 'POST', '/v1/push-init', slowBody, slowKey)
      await new Promise((r) => setTimeout(r, 300))
      const during = await api(gw, t.key, 'POST', '/v1/push-init', slowBody, slowKey)
      expect(during.status).toBe(409)
      expect(during.body['error']['code']).toBe('idempotency_in_flight')
      expect((await slow).status).toBe(201)
    })
  })
})
