import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { snapshotAll } from './helpers/accounts.ts'
import {
  api,
  createTenant,
  databases,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'

/**
 * Issue 18, "one customer cannot stall the others": each test reproduces one way a hostile or
 * careless client held workers, the event loop or Netlify's budget, and holds the fix.
 */
const sha1 = (data: string | Buffer) => createHash('sha1').update(data).digest('hex')
const CHUNK = 64 * 1024

describe.each(databases())('one customer cannot stall the others on %s', (database) => {
  let gw: TestGateway
  let t: Tenant

  beforeAll(async () => {
    gw = await startTestGateway(database, { KAIXU_CHUNK_BYTES: String(CHUNK) })
    t = await createTenant(gw, 'Hostile')
  })
  afterAll(async () => {
    await gw?.stop()
  })

  async function init(files: Record<string, string>, sizes?: Record<string, number>) {
    const res = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files,
      ...(sizes ? { sizes } : {}),
    })
    return res
  }

  test('a sizes map with more keys than files, unknown keys or a size past the largest file is refused and changes nothing', async () => {
    const good = sha1('a')
    const before = await snapshotAll(gw.db)
    const cases: Array<[string, Record<string, number>]> = [
      ['more keys than files', { a: 1, b: 2, c: 3 }],
      ['a key not in files', { nope: 1 }],
      // 64 KiB chunks, at most 10 000 of them: no file can be larger.
      ['a size past the largest file', { a: CHUNK * 10_000 + 1 }],
      ['2^53 - 1 bytes', { a: Number.MAX_SAFE_INTEGER }],
    ]
    for (const [name, sizes] of cases) {
      const res = await init({ a: good }, sizes)
      expect({ name, status: res.status, code: res.body['error']?.code }).toEqual({
        name,
        status: 400,
        code: 'invalid_request',
      })
    }
    // 1 100 files each claiming 2^53 - 1 bytes: refused, no push, no Netlify deploy left behind.
    const files: Record<string, string> = {}
    const sizes: Record<string, number> = {}
    for (let i = 0; i < 1100; i++) {
      files[`f${i}.bin`] = sha1(`f${i}`)
      sizes[`f${i}.bin`] = Number.MAX_SAFE_INTEGER
    }
    const huge = await init(files, sizes)
    expect(huge.status).toBe(400)
    expect(huge.body['error'].code).toBe('invalid_request')
    expect(await snapshotAll(gw.db)).toEqual(before)
  })

  test('chunks that add up to less than the declared size are refused when the last one lands', async () => {
    const file = randomBytes(1000)
    const res = await init({ 'big.bin': sha1(file) }, { 'big.bin': 2000 })
    expect(res.status).toBe(201)
    const pushId = String(res.body['pushId'])
    const put = await api(gw, t.key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, file, {
      'x-content-sha1': sha1(file),
      'x-chunk-index': '0',
      'x-chunk-count': '1',
      'x-chunk-sha1': sha1(file),
    })
    expect(put.status).toBe(400)
    expect(put.body['error'].code).toBe('invalid_request')
    expect(put.body['error'].details).toMatchObject({ declaredBytes: 2000, receivedBytes: 1000 })
    // Nothing is assembling, and no assembly job was queued for it.
    const uploads = await gw.db.query(`SELECT state FROM chunk_uploads WHERE push_id = $1`, [
      pushId,
    ])
    expect(uploads.filter((u) => u['state'] === 'assembling')).toEqual([])
    const jobs = await gw.db.query(
      `SELECT id FROM pgboss.job WHERE name = 'push-assemble' AND data->>'pushId' = $1`,
      [pushId],
    )
    expect(jobs).toEqual([])
  })
})
