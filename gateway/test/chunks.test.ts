import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
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
import { sha1 } from './helpers/pushes.ts'

const CHUNK = 64 * 1024

function split(file: Buffer) {
  const parts: Buffer[] = []
  for (let i = 0; i < file.length; i += CHUNK) parts.push(file.subarray(i, i + CHUNK))
  return parts
}

describe.each(databases())('chunked uploads on %s', (database) => {
  let gw: TestGateway
  let t: Tenant

  beforeAll(async () => {
    gw = await startTestGateway(database, { KAIXU_CHUNK_BYTES: String(CHUNK) })
    t = await createTenant(gw)
  })
  afterAll(async () => {
    await gw?.stop()
  })

  async function initWith(file: Buffer, withSize = true) {
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'big.bin': sha1(file), 'index.html': sha1('small') },
      ...(withSize ? { sizes: { 'big.bin': file.length } } : {}),
    })
    expect(init.status).toBe(201)
    expect(init.body['upload']['chunkBytes']).toBe(CHUNK)
    await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${init.body['pushId']}`,
      Buffer.from('small'),
      { 'x-content-sha1': sha1('small') },
    )
    return String(init.body['pushId'])
  }

  const putChunk = (
    pushId: string,
    file: Buffer,
    index: number,
    body = split(file)[index]!,
    extra: Record<string, string> = {},
  ) =>
    api(gw, t.key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, body, {
      'x-content-sha1': sha1(file),
      'x-chunk-index': String(index),
      'x-chunk-count': String(split(file).length),
      'x-chunk-sha1': sha1(body),
      ...extra,
    })

  test('chunks in any order, idempotent per index, verified, resumable, assembled and served byte for byte', async () => {
    const file = randomBytes(CHUNK * 3 + 12_345)
    const parts = split(file)
    const pushId = await initWith(file)

    expect((await putChunk(pushId, file, 2)).status).toBe(201)
    const again = await putChunk(pushId, file, 2)
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ stored: false })

    const before = await snapshotRows(gw)
    const other = Buffer.from(parts[2]!)
    other[0] = other[0]! ^ 0xff
    const conflict = await putChunk(pushId, file, 2, other)
    expect(conflict.status).toBe(409)
    expect(conflict.body['error']['code']).toBe('chunk_conflict')
    const badSha = await putChunk(pushId, file, 1, parts[1]!, { 'x-chunk-sha1': sha1('nope') })
    expect(badSha.status).toBe(422)
    expect(badSha.body['error']['code']).toBe('chunk_sha_mismatch')
    const tooBig = await putChunk(pushId, file, 0, Buffer.concat([parts[0]!, Buffer.from('x')]))
    expect(tooBig.status).toBe(413)
    const badIndex = await putChunk(pushId, file, 4, Buffer.from('x'))
    expect(badIndex.status).toBe(400)
    expect(await snapshotRows(gw)).toEqual(before)

    await putChunk(pushId, file, 0)
    const status = await api(
      gw,
      t.key,
      'GET',
      `/v1/push-upload-chunk?pushId=${pushId}&sha1=${sha1(file)}`,
    )
    expect(status.body).toMatchObject({
      state: 'receiving',
      chunkCount: 4,
      received: [0, 2],
      missing: [1, 3],
      fileSize: file.length,
    })
    expect(new Date(status.body['expiresAt']).getTime() - Date.now()).toBeGreaterThan(47 * 3600_000)

    const early = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId })
    expect(early.status).toBe(409)
    expect(early.body['error']['details']['missing']).toEqual([sha1(file)])

    await putChunk(pushId, file, 3)
    const last = await putChunk(pushId, file, 1)
    expect(last.body).toMatchObject({ stored: true, complete: true })
    // Completing right away is fine: finalization waits for the assembly.
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')
    expect(done.body['bytesUploaded']).toBe(file.length + 5)
    const served = await fetchSite(`${done.body['deploy_ssl_url']}/big.bin`)
    expect(served.body.equals(file)).toBe(true)
    const rows = await gw.db.query('SELECT 1 FROM push_chunks WHERE push_id = $1', [pushId])
    expect(rows).toHaveLength(0)
    // With the embedded database the bytes were files in the data directory; they are gone too.
    expect(existsSync(join(gw.dataDir, 'chunks', pushId, sha1(file)))).toBe(false)
  })

  test('without a size in the manifest, X-File-Size is required and reserved against the cap', async () => {
    const file = randomBytes(CHUNK + 10)
    const pushId = await initWith(file, false)
    const missing = await putChunk(pushId, file, 0)
    expect(missing.status).toBe(411)
    expect(missing.body['error']['code']).toBe('length_required')
    const ok = await putChunk(pushId, file, 0, undefined, { 'x-file-size': String(file.length) })
    expect(ok.status).toBe(201)
    const mismatch = await putChunk(pushId, file, 1, undefined, {
      'x-chunk-count': '3',
      'x-file-size': String(file.length),
    })
    expect(mismatch.status).toBe(409)
  })

  test('stored chunks are kept until their retention ends, then cleaned up', async () => {
    const file = randomBytes(CHUNK * 2)
    const pushId = await initWith(file)
    await putChunk(pushId, file, 0)
    expect(await gw.chunked.expire(new Date(Date.now() + 47 * 3600_000))).toBe(0)
    expect(
      await gw.db.query('SELECT 1 FROM push_chunks WHERE push_id = $1', [pushId]),
    ).toHaveLength(1)
    expect(await gw.chunked.expire(new Date(Date.now() + 49 * 3600_000))).toBeGreaterThanOrEqual(1)
    expect(
      await gw.db.query('SELECT 1 FROM push_chunks WHERE push_id = $1', [pushId]),
    ).toHaveLength(0)
    const status = await api(
      gw,
      t.key,
      'GET',
      `/v1/push-upload-chunk?pushId=${pushId}&sha1=${sha1(file)}`,
    )
    expect(status.body['state']).toBe('expired')
    // An expired upload starts over with its next chunk.
    expect((await putChunk(pushId, file, 1)).status).toBe(201)
    const restarted = await api(
      gw,
      t.key,
      'GET',
      `/v1/push-upload-chunk?pushId=${pushId}&sha1=${sha1(file)}`,
    )
    expect(restarted.body).toMatchObject({ state: 'receiving', received: [1] })
  })
})
