import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  api,
  createTenant,
  databases,
  fetchSite,
  snapshotRows,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { sha1, frame } from './helpers/pushes.ts'

const TYPE = 'application/vnd.kaixu.batch'
const FILE_PUT = 'PUT /deploys/:deploy_id/files/*path'
const ADMIN = { authorization: 'Bearer admin-token-for-tests-0123456789' }

describe.each(databases())('push-upload-batch on %s', (database) => {
  let gw: TestGateway
  let t: Tenant

  beforeAll(async () => {
    gw = await startTestGateway(database, {
      KAIXU_BATCH_MAX_FILES: '50',
      KAIXU_BATCH_FILE_MAX_BYTES: '4096',
      KAIXU_ADMIN_TOKEN: ADMIN.authorization.slice(7),
    })
    t = await createTenant(gw)
  })
  afterAll(async () => {
    await gw?.stop()
  })

  const filePuts = async () => {
    const stats = (await (await fetch(`${gw.url}/__sandbox/stats`)).json()) as {
      requests: Record<string, number>
    }
    return stats.requests[FILE_PUT] ?? 0
  }
  const batch = (pushId: string, body: Buffer | ReadableStream, headers = {}) =>
    api(gw, t.key, 'POST', `/v1/push-upload-batch?pushId=${pushId}`, body as Buffer, {
      'content-type': TYPE,
      ...headers,
    })

  /** Starts a push of `files` (path → content); answers its id and required SHA-1s. */
  async function init(files: Record<string, Buffer>, withSizes = true, tenant = t) {
    const manifest = Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)]))
    const sizes = Object.fromEntries(Object.entries(files).map(([p, c]) => [p, c.length]))
    const res = await api(gw, tenant.key, 'POST', '/v1/push-init', {
      project: tenant.projectName,
      files: manifest,
      ...(withSizes ? { sizes } : {}),
    })
    expect(res.status).toBe(201)
    return { pushId: String(res.body['pushId']), required: res.body['required'] as string[] }
  }

  test('one request carries every small file; Netlify gets one PUT per content', async () => {
    const files: Record<string, Buffer> = {
      'index.html': Buffer.from('<h1>batched</h1>'),
      'a/copy.css': Buffer.from('body{}'),
      'b/same.css': Buffer.from('body{}'),
      'ünï/cödé +%.txt': Buffer.from('unicode'),
      'empty.txt': Buffer.alloc(0),
    }
    for (let i = 0; i < 40; i++) files[`many/f${i}.bin`] = randomBytes(1 + i * 50)
    const { pushId, required } = await init(files)
    expect(required).toHaveLength(44)
    const byHash = new Map(Object.values(files).map((c) => [sha1(c), c]))
    const before = await filePuts()

    const res = await batch(pushId, frame(required.map((sha) => ({ content: byHash.get(sha)! }))))
    expect(res.status).toBe(200)
    expect(res.body['uploaded']).toBe(44)
    expect(res.body['skipped']).toBe(0)
    const bytes = required.reduce((n, sha) => n + byHash.get(sha)!.length, 0)
    expect(res.body['bytes']).toBe(bytes)
    expect(await filePuts()).toBe(before + 44)

    // Sent again (a retry after a lost answer): nothing moves twice.
    const again = await batch(pushId, frame(required.map((sha) => ({ content: byHash.get(sha)! }))))
    expect(again.status).toBe(200)
    expect(again.body['skipped']).toBe(44)
    expect(await filePuts()).toBe(before + 44)

    const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')
    expect(done.body['bytesUploaded']).toBe(bytes)
    const url = String(done.body['deploy_ssl_url'])
    for (const path of ['index.html', 'b/same.css', 'ünï/cödé +%.txt', 'many/f39.bin']) {
      const encoded = path.split('/').map(encodeURIComponent).join('/')
      expect((await fetchSite(`${url}/${encoded}`)).body.equals(files[path]!)).toBe(true)
    }
  })

  test('a streamed body without Content-Length is read frame by frame', async () => {
    const files = { 'x.txt': randomBytes(3000), 'y.txt': randomBytes(10) }
    const { pushId, required } = await init(files)
    const body = frame(Object.values(files).map((content) => ({ content })))
    // Dribbled out in 7-byte pieces, so frames straddle network chunks.
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < body.length; at += 7) controller.enqueue(body.subarray(at, at + 7))
        controller.close()
      },
    })
    const res = await fetch(`${gw.url}/v1/push-upload-batch?pushId=${pushId}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.key}`, 'content-type': TYPE },
      body: stream,
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(200)
    expect(((await res.json()) as { uploaded: number }).uploaded).toBe(required.length)
  })

  test('a wrong file never reaches Netlify; the right ones in its batch are kept', async () => {
    const good = randomBytes(500)
    const bad = randomBytes(600)
    const { pushId } = await init({ 'good.bin': good, 'bad.bin': bad })
    const before = await filePuts()
    const res = await batch(
      pushId,
      frame([{ content: good }, { content: randomBytes(600), sha: sha1(bad) }]),
    )
    expect(res.status).toBe(422)
    expect(res.body['error']['code']).toBe('sha_mismatch')
    expect(res.body['error']['details']['expected']).toBe(sha1(bad))
    expect(res.body['error']['details']['uploaded']).toEqual([sha1(good)])
    expect(await filePuts()).toBe(before + 1)
    // Only the wrong one is missing; sending it completes the push.
    const missing = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId })
    expect(missing.body['error']['details']['missing']).toEqual([sha1(bad)])
    expect((await batch(pushId, frame([{ content: bad }]))).status).toBe(200)
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')
  })

  test('bad tables are refused before any byte moves or any row changes', async () => {
    const a = randomBytes(100)
    const b = randomBytes(200)
    const { pushId } = await init({ 'a.bin': a, 'b.bin': b })
    const rows = await snapshotRows(gw)
    const puts = await filePuts()
    const body = frame([{ content: a }, { content: b }])
    const cases: [Buffer, Record<string, string>, number, string][] = [
      [body, { 'content-type': 'application/octet-stream' }, 415, 'unsupported_media_type'],
      [Buffer.from('NOPE'), {}, 400, 'invalid_request'],
      [Buffer.concat([Buffer.from('KXB2'), body.subarray(4)]), {}, 400, 'invalid_request'],
      [frame([]), {}, 400, 'invalid_request'],
      [frame([{ content: a }, { content: a }]), {}, 400, 'invalid_request'],
      [frame([{ content: randomBytes(10) }]), {}, 422, 'sha_not_in_push'],
      [frame([{ content: a, size: 99 }]).subarray(0, 8 + 24 + 99), {}, 400, 'invalid_request'],
      [body.subarray(0, body.length - 1), {}, 400, 'invalid_request'],
      [Buffer.concat([body, Buffer.from('x')]), {}, 400, 'invalid_request'],
      [frame([{ content: randomBytes(5000) }]), {}, 413, 'payload_too_large'],
      [
        frame(Array.from({ length: 51 }, () => ({ content: randomBytes(1) }))),
        {},
        400,
        'invalid_request',
      ],
    ]
    for (const [payload, headers, status, code] of cases) {
      const res = await batch(pushId, payload, headers)
      expect([res.status, res.body['error']?.['code']]).toEqual([status, code])
    }
    expect(await snapshotRows(gw)).toEqual(rows)
    expect(await filePuts()).toBe(puts)
    // Nobody else's push, whatever the body.
    const other = await createTenant(gw, 'Other')
    const res = await api(gw, other.key, 'POST', `/v1/push-upload-batch?pushId=${pushId}`, body, {
      'content-type': TYPE,
    })
    expect(res.status).toBe(404)
    // And the push itself still takes the right body.
    expect((await batch(pushId, body)).body['uploaded']).toBe(2)
  })

  test('without sizes in the manifest the byte cap is checked for the whole batch first', async () => {
    const tenant = await createTenant(gw, 'Capped')
    const limits = await api(
      gw,
      undefined,
      'PUT',
      `/admin/api/customers/${tenant.customerId}/limits`,
      { bytesPerMonth: 1000 },
      ADMIN,
    )
    expect(limits.status).toBe(200)
    const files = { 'a.bin': randomBytes(600), 'b.bin': randomBytes(600) }
    const { pushId } = await init(files, false, tenant)
    const puts = await filePuts()
    const body = frame(Object.values(files).map((content) => ({ content })))
    const res = await api(gw, tenant.key, 'POST', `/v1/push-upload-batch?pushId=${pushId}`, body, {
      'content-type': TYPE,
    })
    expect(res.status).toBe(402)
    expect(res.body['error']['code']).toBe('cap_exceeded')
    expect(await filePuts()).toBe(puts)
    const usage = await api(gw, tenant.key, 'GET', '/v1/usage')
    expect(usage.body['limits']['bytes']['used']).toBe(0)
  })

  test('Netlify failing for a moment is retried inside the batch', async () => {
    const files = { 'r1.bin': randomBytes(100), 'r2.bin': randomBytes(100) }
    const { pushId } = await init(files)
    await fetch(`${gw.url}/__sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ match: { method: 'PUT', path: '/files/' }, status: 503, times: 2 }]),
    })
    const res = await batch(pushId, frame(Object.values(files).map((content) => ({ content }))))
    expect(res.status).toBe(200)
    expect(res.body['uploaded']).toBe(2)
  })
})
