// The client library on Node (src/client/node.ts, `import { KaixuPush } from 'kaixu-push'`)
// against a real gateway on loopback with the built-in Netlify sandbox.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { KaixuPush, PushError } from '../src/client/node.ts'
import {
  api,
  createTenant,
  oneDatabase,
  fetchSite,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from '../gateway/test/helpers/gateway.ts'
import type { PushProgress } from '../src/client/node.ts'

// Small limits, so a few hundred kB already go up in chunks and small files in batches.
const CHUNK_BYTES = 64 * 1024

/** A stream of `bytes`, `size` bytes at a time, as a generator of content would hand it over. */
function streamOf(bytes: Uint8Array, size = 10_000): ReadableStream<Uint8Array> {
  let at = 0
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close()
      controller.enqueue(bytes.slice(at, at + size))
      at += size
    },
  })
}

describe('KaixuPush (Node) against a real gateway', () => {
  let gw: TestGateway
  let tenant: Tenant
  let kaixu: KaixuPush

  beforeAll(async () => {
    gw = await startTestGateway(oneDatabase(), {
      KAIXU_INLINE_MAX_BYTES: String(CHUNK_BYTES),
      KAIXU_CHUNK_BYTES: String(CHUNK_BYTES),
    })
    tenant = await createTenant(gw, 'Library Agency')
    kaixu = new KaixuPush({ gatewayUrl: gw.url, apiKey: tenant.key })
  }, 120_000)

  afterAll(async () => {
    await gw?.stop()
  })

  it('deploys an in-memory map (text, bytes, a Blob, a chunked stream), served byte for byte', async () => {
    const html = `<!doctype html><h1>Generated ${randomBytes(4).toString('hex')}</h1>`
    const logo = randomBytes(3000)
    const blob = new Blob(['body { color: teal }'], { type: 'text/css' })
    const big = randomBytes(5 * CHUNK_BYTES + 123) // six chunks
    const events: PushProgress[] = []

    const result = await kaixu.push(
      {
        'index.html': html,
        '/img/logo.png': logo,
        'style.css': blob,
        'data/big.bin': streamOf(big),
      },
      { project: tenant.projectName, onProgress: (event) => events.push(event) },
    )

    expect(result).toMatchObject({ state: 'ready', filesTotal: 4, filesUploaded: 4 })
    expect(result.bytesTotal).toBe(Buffer.byteLength(html) + logo.length + blob.size + big.length)
    const served = async (path: string) => (await fetchSite(`${result.deployUrl}/${path}`)).body
    expect((await served('index.html')).toString()).toBe(html)
    expect((await served('img/logo.png')).equals(logo)).toBe(true)
    expect((await served('style.css')).toString()).toBe('body { color: teal }')
    const bigServed = await served('data/big.bin')
    expect(createHash('sha1').update(bigServed).digest('hex')).toBe(
      createHash('sha1').update(big).digest('hex'),
    )

    // Progress: each phase in order, the uploads counted up to what the gateway asked for.
    const phases = [...new Set(events.map((e) => e.phase))]
    expect(phases).toEqual(['init', 'upload', 'finalize'])
    const lastUpload = events.filter((e) => e.phase === 'upload').at(-1)!
    expect(lastUpload).toMatchObject({
      filesRequired: 4,
      filesSent: 4,
      bytesSent: result.bytesTotal,
    })
    expect(events.at(-1)).toMatchObject({ phase: 'finalize', state: 'ready' })

    // The same map again uploads nothing; status reads the push back.
    const again = await kaixu.push(
      { 'index.html': html, 'img/logo.png': logo },
      {
        project: tenant.projectName,
      },
    )
    expect(again).toMatchObject({ state: 'ready', filesRequired: 0, filesUploaded: 0 })
    await expect(kaixu.status(result.pushId!)).resolves.toMatchObject({
      pushId: result.pushId,
      state: 'ready',
    })
  })

  it('pushes a folder on Node', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaixu-lib-'))
    await writeFile(join(dir, 'index.html'), '<p>from a folder</p>')
    await writeFile(join(dir, '.env'), 'SECRET=1') // never deployed
    try {
      const result = await kaixu.push(dir, { project: tenant.projectName, draft: true })
      expect(result).toMatchObject({ state: 'ready', filesTotal: 1 })
      expect((await fetchSite(`${result.deployUrl}/index.html`)).body.toString()).toBe(
        '<p>from a folder</p>',
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('dry run: answers what would be uploaded and creates nothing', async () => {
    const before = await api(gw, tenant.key, 'GET', '/v1/pushes')
    const plan = await kaixu.plan(
      { 'index.html': `<p>${randomBytes(8).toString('hex')}</p>`, 'a.txt': 'a' },
      { project: tenant.projectName },
    )
    expect(plan).toMatchObject({ filesTotal: 2, filesToUpload: 2 })
    const after = await api(gw, tenant.key, 'GET', '/v1/pushes')
    expect(after.body['pushes']).toHaveLength((before.body['pushes'] as unknown[]).length)
  })

  it('an abort cancels the push at the gateway, and nothing is billed', async () => {
    const usageBefore = await api(gw, tenant.key, 'GET', '/v1/usage')
    const abort = new AbortController()
    let pushId: string | undefined
    const error = await kaixu
      .push(
        {
          'index.html': `<p>${randomBytes(8).toString('hex')}</p>`,
          'big.bin': randomBytes(200_000),
        },
        {
          project: tenant.projectName,
          signal: abort.signal,
          onInit: (id) => (pushId = id),
          // Aborted once the gateway has opened the push and before anything is uploaded.
          onProgress: (event) => event.phase === 'upload' && abort.abort(),
        },
      )
      .catch((e: unknown) => e)

    expect(error).toBeInstanceOf(PushError)
    expect(error).toMatchObject({ code: 'cancelled', result: { pushId, state: 'cancelled' } })
    const status = await api(gw, tenant.key, 'GET', `/v1/push-status?pushId=${pushId}`)
    expect(status.body['state']).toBe('cancelled')
    const usageAfter = await api(gw, tenant.key, 'GET', '/v1/usage')
    expect(usageAfter.body).toMatchObject({
      deploys: usageBefore.body['deploys'],
      bytes: usageBefore.body['bytes'],
      costCents: usageBefore.body['costCents'],
    })
  })

  it("fails with a typed PushError carrying the gateway's error code", async () => {
    const stranger = new KaixuPush({ gatewayUrl: gw.url, apiKey: 'kx_not_a_key' })
    await expect(
      stranger.push({ 'index.html': 'x' }, { project: tenant.projectName }),
    ).rejects.toMatchObject({ name: 'PushError', code: 'unauthorized', status: 401 })
    await expect(
      kaixu.push({ 'index.html': 'x' }, { project: 'no-such-project' }),
    ).rejects.toMatchObject({ name: 'PushError', code: 'project_not_found', status: 404 })
    await expect(kaixu.status('push_00000000000000000000')).rejects.toMatchObject({
      name: 'PushError',
      code: 'not_found',
      status: 404,
    })
    // A name Netlify would refuse stops the push before the gateway is asked.
    await expect(
      kaixu.push({ '../etc/passwd': 'x' }, { project: tenant.projectName }),
    ).rejects.toMatchObject({
      name: 'PushError',
      code: 'client_error',
      message: expect.stringContaining('../etc/passwd'),
    })
  })
})
