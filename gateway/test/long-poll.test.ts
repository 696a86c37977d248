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

/** A one-file push with its file uploaded; `complete` queues finalization without waiting. */
async function uploadedPush(gw: TestGateway, t: Tenant, complete = true): Promise<string> {
  const content = randomBytes(64)
  const init = await api(gw, t.key, 'POST', '/v1/push-init', {
    project: t.projectName,
    files: { 'index.html': sha1(content) },
  })
  expect(init.status).toBe(201)
  const pushId = init.body['pushId'] as string
  const up = await api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, content, {
    'x-content-sha1': sha1(content),
    'content-type': 'application/octet-stream',
  })
  expect(up.status).toBe(200)
  if (complete) {
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: false })
    expect(done.status).toBe(202)
  }
  return pushId
}

const setProcessing = (gw: TestGateway, processingMs: number) =>
  fetch(`${gw.url}/__sandbox/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ processingMs }),
  })

describe.each(databases())('push-status long-poll on %s', (database) => {
  let gw: TestGateway
  let tenant: Tenant
  let other: Tenant

  beforeAll(async () => {
    gw = await startTestGateway(database, { LOG_LEVEL: 'error' })
    tenant = await createTenant(gw, 'Acme')
    other = await createTenant(gw, 'Globex')
  })
  afterAll(async () => {
    await gw?.stop()
  })

  test('answers as soon as the push is ready, not when the timeout ends', async () => {
    await setProcessing(gw, 300)
    try {
      const pushId = await uploadedPush(gw, tenant)
      const started = Date.now()
      const res = await api(
        gw,
        tenant.key,
        'GET',
        `/v1/push-status?pushId=${pushId}&waitFor=ready&timeout=20`,
      )
      const elapsed = Date.now() - started
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ pushId, state: 'ready', netlifyState: 'ready' })
      expect(res.body['deploy_ssl_url']).toEqual(expect.stringContaining('--'))
      // Ready ~300 ms after complete; the answer follows within the poll backoff (≤ 500 ms), far
      // before the 20 s timeout (the bound is loose so a loaded machine cannot fail it).
      expect(elapsed).toBeLessThan(10_000)
    } finally {
      await setProcessing(gw, 50)
    }
  })

  test('answers a final push at once', async () => {
    const pushId = await uploadedPush(gw, tenant)
    const first = await api(
      gw,
      tenant.key,
      'GET',
      `/v1/push-status?pushId=${pushId}&waitFor=ready&timeout=20`,
    )
    expect(first.body['state']).toBe('ready')
    const started = Date.now()
    const again = await api(
      gw,
      tenant.key,
      'GET',
      `/v1/push-status?pushId=${pushId}&waitFor=ready&timeout=20`,
    )
    expect(again.body['state']).toBe('ready')
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  test('answers the current state when the timeout passes first', async () => {
    await setProcessing(gw, 10_000)
    try {
      const pushId = await uploadedPush(gw, tenant)
      const started = Date.now()
      const res = await api(
        gw,
        tenant.key,
        'GET',
        `/v1/push-status?pushId=${pushId}&waitFor=ready&timeout=1`,
      )
      const elapsed = Date.now() - started
      expect(res.status).toBe(200)
      expect(res.body['state']).toBe('finalizing')
      expect(elapsed).toBeGreaterThanOrEqual(950)
      expect(elapsed).toBeLessThan(3_000)

      const now = Date.now()
      const zero = await api(
        gw,
        tenant.key,
        'GET',
        `/v1/push-status?pushId=${pushId}&waitFor=ready&timeout=0`,
      )
      expect(zero.body['state']).toBe('finalizing')
      expect(Date.now() - now).toBeLessThan(1_000)
    } finally {
      await setProcessing(gw, 50)
    }
  })

  test('waits out the timeout on a push still uploading (it cannot finish by itself)', async () => {
    const pushId = await uploadedPush(gw, tenant, false)
    const started = Date.now()
    const res = await api(
      gw,
      tenant.key,
      'GET',
      `/v1/push-status?pushId=${pushId}&waitFor=ready&timeout=1`,
    )
    expect(res.body['state']).toBe('uploading')
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
  })

  test("another customer's push is not found, before any wait", async () => {
    const pushId = await uploadedPush(gw, tenant, false)
    const started = Date.now()
    const res = await api(
      gw,
      other.key,
      'GET',
      `/v1/push-status?pushId=${pushId}&waitFor=ready&timeout=30`,
    )
    expect(res.status).toBe(404)
    expect(res.body).toMatchObject({ error: { code: 'not_found' } })
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  test.each([
    ['a timeout over 60 s', 'waitFor=ready&timeout=61'],
    ['a negative timeout', 'waitFor=ready&timeout=-1'],
    ['a fractional timeout', 'waitFor=ready&timeout=1.5'],
    ['a timeout without waitFor', 'timeout=10'],
    ['an unknown waitFor', 'waitFor=uploaded&timeout=10'],
  ])('refuses %s', async (_label, query) => {
    const pushId = await uploadedPush(gw, tenant, false)
    const res = await api(gw, tenant.key, 'GET', `/v1/push-status?pushId=${pushId}&${query}`)
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ error: { code: 'invalid_request' } })
  })
})

describe('push-status long-poll during shutdown', () => {
  test('a draining gateway answers waiting clients at once instead of holding its shutdown', async () => {
    const gw = await startTestGateway('pglite', { LOG_LEVEL: 'error' })
    try {
      const t = await createTenant(gw)
      const pushId = await uploadedPush(gw, t, false)
      const started = Date.now()
      const waiting = api(gw, t.key, 'GET', `/v1/push-status?pushId=${pushId}&waitFor=ready`)
      await new Promise((resolve) => setTimeout(resolve, 200))
      await gw.close()
      const res = await waiting
      expect(res.status).toBe(200)
      expect(res.body['state']).toBe('uploading')
      expect(Date.now() - started).toBeLessThan(15_000)
    } finally {
      await gw.stop()
    }
  })
})
