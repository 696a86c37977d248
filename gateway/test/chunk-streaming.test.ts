import { randomBytes } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  api,
  createTenant,
  databases,
  fetchSite,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { until } from './helpers/until.ts'
import { sha1 } from './helpers/pushes.ts'

const CHUNK = 64 * 1024

/**
 * Streaming assembly: a chunked file starts going to Netlify while its chunks still arrive. The
 * sandbox's partial upload files (`sandbox/tmp/*.part`) show what Netlify has received so far.
 */
describe.each(databases())('chunked uploads streamed to Netlify on %s', (database) => {
  let gw: TestGateway
  let t: Tenant
  // The stall timeout is measured on the gateway's clock; the stall test moves it forward.
  let offsetMs = 0
  const clock = { now: () => new Date(Date.now() + offsetMs) }

  beforeAll(async () => {
    gw = await startTestGateway(database, { KAIXU_CHUNK_BYTES: String(CHUNK) }, { clock })
    t = await createTenant(gw)
  })
  afterAll(async () => {
    await gw?.stop()
  })

  const partialUploads = async () => {
    const dir = join(gw.dataDir, 'sandbox', 'tmp')
    const names = (await readdir(dir)).filter((n) => n.endsWith('.part'))
    const sizes = await Promise.all(
      names.map((n) =>
        stat(join(dir, n)).then(
          (s) => s.size,
          () => 0,
        ),
      ),
    )
    return sizes.reduce((a, b) => a + b, 0)
  }

  async function start(file: Buffer) {
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'big.bin': sha1(file) },
      sizes: { 'big.bin': file.length },
    })
    expect(init.status).toBe(201)
    const pushId = String(init.body['pushId'])
    const count = Math.ceil(file.length / CHUNK)
    const put = async (index: number) => {
      const body = file.subarray(index * CHUNK, (index + 1) * CHUNK)
      const res = await api(gw, t.key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, body, {
        'x-content-sha1': sha1(file),
        'x-chunk-index': String(index),
        'x-chunk-count': String(count),
        'x-chunk-sha1': sha1(body),
      })
      expect(res.status).toBe(201)
      return res
    }
    const upload = async () =>
      (
        await gw.db.query<{ state: string; lease_owner: string | null }>(
          'SELECT state, lease_owner FROM chunk_uploads WHERE push_id = $1',
          [pushId],
        )
      )[0]
    return { pushId, put, upload }
  }

  async function finish(pushId: string, file: Buffer) {
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')
    const served = await fetchSite(`${done.body['deploy_ssl_url']}/big.bin`)
    expect(served.body.equals(file)).toBe(true)
    expect(
      await gw.db.query('SELECT 1 FROM push_chunks WHERE push_id = $1', [pushId]),
    ).toHaveLength(0)
  }

  test('Netlify receives the first chunks before the last one is sent, and the file once', async () => {
    const file = randomBytes(CHUNK * 4)
    const { pushId, put, upload } = await start(file)
    await put(0)
    await put(1)
    await put(2)
    // Chunks 0 and 1 are through the SHA-1 gate (it holds back only the latest piece).
    await until('Netlify to receive the first chunks', async () =>
      (await partialUploads()) >= 2 * CHUNK ? true : undefined,
    )
    expect((await upload())?.state).toBe('receiving')
    expect(gw.sandbox!.stats().filePutsBySha[sha1(file)] ?? 0).toBe(0)

    const last = await put(3)
    expect(last.body).toMatchObject({ stored: true, complete: true })
    await finish(pushId, file)
    // The assembly queued by the last chunk found the file sent: one upload, not two.
    await until('the upload to settle', async () =>
      (await upload())?.lease_owner === null ? true : undefined,
    )
    expect((await upload())?.state).toBe('uploaded')
    expect(gw.sandbox!.stats().filePutsBySha[sha1(file)]).toBe(1)
  })

  test('a stalled client makes the streaming attempt give up; the stored chunks still make the file', async () => {
    const file = randomBytes(CHUNK * 4 + 999)
    const { pushId, put, upload } = await start(file)
    await put(0)
    await put(1)
    await until('the streaming attempt to start', async () =>
      (await partialUploads()) > 0 ? true : undefined,
    )
    // No chunk for longer than the stall timeout: the open Netlify upload is abandoned.
    offsetMs += 60_000
    await until('the attempt to give up', async () => {
      const u = await upload()
      return u?.lease_owner === null && (await partialUploads()) === 0 ? true : undefined
    })
    expect((await upload())?.state).toBe('receiving')
    expect(gw.sandbox!.stats().filePutsBySha[sha1(file)] ?? 0).toBe(0)

    // The client comes back: the last chunk queues the assembly of what is stored.
    await put(4)
    await put(2)
    await put(3)
    await finish(pushId, file)
    expect((await upload())?.state).toBe('uploaded')
    expect(gw.sandbox!.stats().filePutsBySha[sha1(file)]).toBe(1)
  })
})
