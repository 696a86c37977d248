import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { createNetlifyClient, NetlifyApiError } from '../src/netlify/client.ts'
import { snapshotAll } from './helpers/accounts.ts'
import {
  api,
  createTenant,
  databases,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { until } from './helpers/until.ts'
import { sha1 } from './helpers/pushes.ts'

/**
 * Issue 18, "one customer cannot stall the others": each test reproduces one way a hostile or
 * careless client held workers, the event loop or Netlify's budget, and holds the fix.
 */
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

  test('big manifests are read off the request thread with the same answers: valid, flooded, malformed', async () => {
    // ~3 000 files: past the 256 KiB below which a manifest is read on the request thread.
    const files: Record<string, string> = {}
    for (let i = 0; i < 3000; i++) files[`assets/some/folder/file-${i}.js`] = sha1(`file-${i}`)
    const plan = await api(gw, t.key, 'POST', '/v1/push-plan', { project: t.projectName, files })
    expect(plan.status).toBe(200)
    expect(plan.body['files']).toEqual({ total: 3000, distinct: 3000 })
    // A flood of sizes keys (50 000 for one file) is refused by count, before validation.
    const sizes: Record<string, number> = {}
    for (let i = 0; i < 50_000; i++) sizes[`k${i}`] = i
    const before = await snapshotAll(gw.db)
    const flood = await init({ a: sha1('a') }, sizes)
    expect(flood.status).toBe(400)
    expect(flood.body['error']).toMatchObject({
      code: 'invalid_request',
      details: { files: 1, sizes: 50_000 },
    })
    const broken = await api(
      gw,
      t.key,
      'POST',
      '/v1/push-init',
      `{"project":"p","files":{${'"a":"b",'.repeat(40_000)}`,
      { 'content-type': 'application/json' },
    )
    expect(broken.status).toBe(400)
    expect(broken.body['error'].code).toBe('invalid_json')
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
    // A count of chunks that could never carry the declared size is refused at the first one.
    const big = randomBytes(CHUNK * 2)
    const two = await init({ 'two.bin': sha1(big) }, { 'two.bin': big.length })
    const one = await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload-chunk?pushId=${String(two.body['pushId'])}`,
      big.subarray(0, CHUNK),
      {
        'x-content-sha1': sha1(big),
        'x-chunk-index': '0',
        'x-chunk-count': '1',
        'x-chunk-sha1': sha1(big.subarray(0, CHUNK)),
      },
    )
    expect(one.status).toBe(400)
    expect(one.body['error'].details).toMatchObject({ fileSize: CHUNK * 2, chunkCount: 1 })
  })

  const putChunk = (
    tenant: Tenant,
    pushId: string,
    file: Buffer,
    index: number,
    count = Math.ceil(file.length / CHUNK),
  ) => {
    const body = file.subarray(index * CHUNK, (index + 1) * CHUNK)
    return api(gw, tenant.key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, body, {
      'x-content-sha1': sha1(file),
      'x-chunk-index': String(index),
      'x-chunk-count': String(count),
      'x-chunk-sha1': sha1(body),
    })
  }

  const jobsOf = (queue: string, pushId: string) =>
    gw.db.query<{ state: string; start_after: Date; group_id: string | null }>(
      `SELECT state, start_after, group_id FROM pgboss.job
        WHERE name = $1 AND data->>'pushId' = $2 ORDER BY created_on`,
      [queue, pushId],
    )

  test('a body shorter than the length Netlify was told is a permanent failure, never retried', async () => {
    const res = await init({ 'short.bin': sha1('x'.repeat(2000)) })
    const deployId = String(res.body['deployId'])
    const client = createNetlifyClient({ baseUrl: `${gw.url}/api/v1` })
    try {
      const failure = await client
        .uploadFile(
          t.netlifyToken,
          deployId,
          'short.bin',
          Readable.from([Buffer.alloc(1000, 'x')]),
          2000,
        )
        .then(
          () => undefined,
          (error: unknown) => error,
        )
      expect(failure).toBeInstanceOf(NetlifyApiError)
      expect((failure as NetlifyApiError).transient).toBe(false)
    } finally {
      await client.close()
    }
  })

  test('many long-poll waiters on one push cost one Netlify refresh per interval, not one each', async () => {
    const res = await init({ 'index.html': sha1('waited') })
    const pushId = String(res.body['pushId'])
    const deployId = String(res.body['deployId'])
    const deployReads = () => {
      const stats = gw.sandbox!.stats()
      return Object.entries(stats.requests)
        .filter(([route]) => route.startsWith('GET /deploys/'))
        .reduce((n, [, count]) => n + count, 0)
    }
    expect(deployId).toBeTruthy()
    const before = deployReads()
    // 20 waiters for 6 s on a push that is still uploading: nothing but them asks Netlify (this
    // test runs before any that leaves a finalize job looking at Netlify).
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        api(gw, t.key, 'GET', `/v1/push-status?pushId=${pushId}&waitFor=ready&timeout=6`),
      ),
    )
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200))
    // One refresh per 5-second interval: at the start and at most once more within 6 s.
    const reads = deployReads() - before
    expect(reads).toBeGreaterThanOrEqual(1)
    expect(reads).toBeLessThanOrEqual(2)
  })

  test('the finalize job re-queues itself with a delay instead of waiting on Netlify in its worker', async () => {
    const before = gw.sandbox!.configure({})
    // Netlify takes ten minutes to process this deploy.
    gw.sandbox!.configure({ processingMs: 600_000 })
    try {
      const res = await init({ 'index.html': sha1('slow') })
      const pushId = String(res.body['pushId'])
      const up = await api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, 'slow', {
        'x-content-sha1': sha1('slow'),
      })
      expect(up.status).toBe(200)
      expect((await api(gw, t.key, 'POST', '/v1/push-complete', { pushId })).status).toBe(202)
      // The first run completes while the deploy is still processing, leaving a later look.
      const jobs = await until('a finalize run to hand its wait back', async () => {
        const rows = await jobsOf('push-finalize', pushId)
        return rows.some((j) => j.state === 'completed') && rows.some((j) => j.state === 'created')
          ? rows
          : undefined
      })
      const next = jobs.find((j) => j.state === 'created')!
      expect(next.start_after.getTime()).toBeGreaterThan(Date.now())
      // Each look is one of this customer's jobs, bounded per customer.
      expect(next.group_id).toBe(t.customerId)
      const [push] = await gw.db.query('SELECT state FROM pushes WHERE id = $1', [pushId])
      expect(push!['state']).toBe('finalizing')
    } finally {
      gw.sandbox!.configure({ processingMs: before.processingMs })
    }
  })

  test('an upload that can never finish expires: assembling or receiving, its chunk bytes deleted', async () => {
    const file = randomBytes(CHUNK * 2 + 10)
    const other = randomBytes(CHUNK * 2 + 20)
    const res = await init(
      { 'a.bin': sha1(file), 'b.bin': sha1(other) },
      { 'a.bin': file.length, 'b.bin': other.length },
    )
    const pushId = String(res.body['pushId'])
    expect((await putChunk(t, pushId, file, 0)).status).toBe(201)
    expect((await putChunk(t, pushId, other, 0)).status).toBe(201)
    // As a crash leaves it: one upload marked assembling with no job to finish it, and the push
    // failed meanwhile (so neither upload can ever finish).
    await gw.db.query(
      `UPDATE chunk_uploads SET state = 'assembling' WHERE push_id = $1 AND sha1 = $2`,
      [pushId, sha1(file)],
    )
    await gw.db.query(`UPDATE pushes SET state = 'error' WHERE id = $1`, [pushId])
    await gw.chunked.expire(new Date())
    const uploads = await gw.db.query(
      'SELECT sha1, state FROM chunk_uploads WHERE push_id = $1 ORDER BY sha1',
      [pushId],
    )
    expect(uploads.map((u) => u['state'])).toEqual(['expired', 'expired'])
    expect(await gw.db.query('SELECT 1 FROM push_chunks WHERE push_id = $1', [pushId])).toEqual([])
    expect(existsSync(join(gw.dataDir, 'chunks', pushId, sha1(file)))).toBe(false)
    expect(existsSync(join(gw.dataDir, 'chunks', pushId, sha1(other)))).toBe(false)
  })

  test('an assembling upload past its retention expires even while its push lives', async () => {
    const file = randomBytes(CHUNK + 10)
    const res = await init({ 'a.bin': sha1(file) }, { 'a.bin': file.length })
    const pushId = String(res.body['pushId'])
    expect((await putChunk(t, pushId, file, 0)).status).toBe(201)
    await gw.db.query(
      `UPDATE chunk_uploads SET state = 'assembling', expires_at = now() - interval '1 minute'
        WHERE push_id = $1`,
      [pushId],
    )
    await gw.chunked.expire(new Date())
    const [upload] = await gw.db.query('SELECT state FROM chunk_uploads WHERE push_id = $1', [
      pushId,
    ])
    expect(upload!['state']).toBe('expired')
    expect(await gw.db.query('SELECT 1 FROM push_chunks WHERE push_id = $1', [pushId])).toEqual([])
  })

  test('the assembly job of a push that failed meanwhile expires the upload instead of sending it', async () => {
    const file = randomBytes(CHUNK + 10)
    const res = await init({ 'a.bin': sha1(file) }, { 'a.bin': file.length })
    const pushId = String(res.body['pushId'])
    expect((await putChunk(t, pushId, file, 0)).status).toBe(201)
    await gw.db.query(`UPDATE chunk_uploads SET state = 'assembling' WHERE push_id = $1`, [pushId])
    await gw.db.query(`UPDATE pushes SET state = 'error' WHERE id = $1`, [pushId])
    await gw.chunked.assemble(pushId, sha1(file))
    const [upload] = await gw.db.query('SELECT state FROM chunk_uploads WHERE push_id = $1', [
      pushId,
    ])
    expect(upload!['state']).toBe('expired')
    expect(await gw.db.query('SELECT 1 FROM push_chunks WHERE push_id = $1', [pushId])).toEqual([])
  })

  test("one customer's stalled jobs hold at most its own share of workers; another's push completes meanwhile", async () => {
    const victim = await createTenant(gw, 'Victim')
    // The hostile customer opens six chunked files and sends only their first chunk: each first
    // chunk starts a streaming job that waits (30 s) for chunks that never come.
    const files = Array.from({ length: 6 }, () => randomBytes(CHUNK * 3))
    const manifest = Object.fromEntries(files.map((f, i) => [`f${i}.bin`, sha1(f)]))
    const sizes = Object.fromEntries(files.map((f, i) => [`f${i}.bin`, f.length]))
    const hostile = await init(manifest, sizes)
    const hostilePush = String(hostile.body['pushId'])
    for (const f of files) expect((await putChunk(t, hostilePush, f, 0)).status).toBe(201)
    // A job that streams a file holds that upload's lease: leases held are handlers running
    // (a job that found its customer's bound full gives its turn back without taking one).
    const activeHostile = () =>
      gw.db.query(
        `SELECT sha1 FROM chunk_uploads WHERE push_id = $1 AND lease_owner IS NOT NULL
            AND lease_until > now()`,
        [hostilePush],
      )
    await until('the hostile streams to hold workers', async () => (await activeHostile()).length)

    // The victim pushes a chunked file and waits for the deploy.
    const file = randomBytes(CHUNK + 100)
    const vInit = await api(gw, victim.key, 'POST', '/v1/push-init', {
      project: victim.projectName,
      files: { 'v.bin': sha1(file) },
      sizes: { 'v.bin': file.length },
    })
    expect(vInit.status).toBe(201)
    const vPush = String(vInit.body['pushId'])
    expect((await putChunk(victim, vPush, file, 0)).status).toBe(201)
    expect((await putChunk(victim, vPush, file, 1)).status).toBe(201)
    await until('the victim file to be assembled', async () => {
      const rows = await gw.db.query('SELECT state FROM chunk_uploads WHERE push_id = $1', [vPush])
      return rows[0]?.['state'] === 'uploaded'
    })
    const done = await api(gw, victim.key, 'POST', '/v1/push-complete', {
      pushId: vPush,
      wait: true,
    })
    expect(done.status).toBe(200)
    expect(done.body['state']).toBe('ready')
    // Meanwhile the hostile streams still wait, never more than the per-customer bound at once.
    const stillActive = await activeHostile()
    expect(stillActive.length).toBeGreaterThan(0)
    expect(stillActive.length).toBeLessThanOrEqual(2)
    const groups = await jobsOf('push-assemble', hostilePush)
    expect(new Set(groups.map((j) => j.group_id))).toEqual(new Set([t.customerId]))
  })
})
