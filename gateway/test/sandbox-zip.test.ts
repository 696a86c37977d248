import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import yazl from 'yazl'
import { createNetlifyClient, NetlifyApiError } from '../src/netlify/client.ts'
import type { NetlifyClient, NetlifyDeploy } from '../src/netlify/client.ts'
import { startSandboxServer } from '../src/netlify/sandbox/index.ts'
import { Base64Decoder } from '../src/netlify/sandbox/zip-body.ts'
import type { NetlifySandbox } from '../src/netlify/sandbox/index.ts'
import { sha1 } from './helpers/pushes.ts'
import { sendRaw, type Answer } from './helpers/raw-http.ts'

// Zip deploys against the sandbox, through the gateway's Netlify client where it can send them:
// the two sides of the Netlify boundary are tested against each other.

let port: number
let sandbox: NetlifySandbox
let stop: () => Promise<void>
let dataDir: string
let client: NetlifyClient
const TOKEN = 'zip-token'

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'netlify-sandbox-zip-'))
  const started = await startSandboxServer({ port: 0, dataDir, processingMs: 15 })
  port = Number(new URL(started.url).port)
  sandbox = started.sandbox
  stop = started.close
  client = createNetlifyClient({ baseUrl: `${started.url}/api/v1`, maxAttempts: 1 })
})

afterAll(async () => {
  await client.close()
  await stop()
  await rm(dataDir, { recursive: true, force: true })
})

beforeEach(async () => {
  sandbox.configure({
    rateLimitPerMinute: null,
    deploysPerMinute: null,
    maxZipBytes: 1024 * 1024 * 1024,
  })
  await sendRaw(port, 'DELETE', '/__sandbox/faults')
  sandbox.resetStats()
})

type Entry = [name: string, content: string | Buffer, options?: { compress?: boolean }]

/** An archive made by yazl, as the gateway makes them. */
async function zipOf(entries: Entry[], options: { zip64?: boolean; dirs?: string[] } = {}) {
  const zip = new yazl.ZipFile()
  for (const dir of options.dirs ?? []) zip.addEmptyDirectory(dir)
  for (const [name, content, o] of entries)
    zip.addBuffer(Buffer.from(content), name, {
      compress: o?.compress ?? true,
      forceZip64Format: options.zip64 ?? false,
    })
  zip.end({ forceZip64Format: options.zip64 ?? false, comment: '' })
  const chunks: Buffer[] = []
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Renames an entry in place (same length), for names yazl refuses to write. */
function renamed(zip: Buffer, from: string, to: string): Buffer {
  expect(to).toHaveLength(from.length)
  return Buffer.from(zip.toString('latin1').split(from).join(to), 'latin1')
}

/** A stream that hands `bytes` out in small uneven chunks, as a network would. */
function trickle(bytes: Buffer): Readable {
  const chunks: Buffer[] = []
  for (let i = 0, n = 1; i < bytes.length; i += n, n = (n % 7919) + 1)
    chunks.push(bytes.subarray(i, i + n))
  return Readable.from(chunks)
}

let siteCounter = 0
async function createSite(): Promise<{ id: string; name: string }> {
  const res = await api('POST', '/sites', { json: { name: `zip-${process.pid}-${++siteCounter}` } })
  expect(res.status).toBe(201)
  return res.json<{ id: string; name: string }>()
}

const api = (method: string, path: string, options: Parameters<typeof sendRaw>[3] = {}) =>
  sendRaw(port, method, `/api/v1${path}`, { token: TOKEN, ...options })

const site = (label: string, path = '/'): Promise<Answer> =>
  sendRaw(port, 'GET', path, { host: `${label}.localhost:${port}` })

async function waitForState(id: string, states: string[]): Promise<NetlifyDeploy> {
  const deadline = Date.now() + 5000
  for (;;) {
    const d = await client.getDeploy(TOKEN, id)
    if (states.includes(d.state)) return d
    if (Date.now() > deadline) throw new Error(`deploy ${id} stuck in ${d.state}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const deploysOf = async (siteId: string) =>
  (await api('GET', `/sites/${siteId}/deploys`)).json<NetlifyDeploy[]>()

/** What the sandbox keeps on disk: temporary files must never outlive their request. */
const tmpFiles = () => readdir(join(dataDir, 'tmp'))
const blobCount = async () => (await readdir(join(dataDir, 'blobs'))).length

describe('zip deploys through the client (JSON body, base64 zip field)', () => {
  it('deploys every file, stored and deflated, and serves them byte for byte', async () => {
    const s = await createSite()
    const binary = randomBytes(200_003)
    const page = '<h1>zip</h1>'.repeat(1000)
    const zip = await zipOf([
      ['index.html', page],
      ['assets/app.bin', binary, { compress: false }],
      ['about/index.html', 'about'],
    ])
    const created = await client.createZipDeploy(
      TOKEN,
      s.id,
      { draft: false, title: 'from a zip' },
      trickle(zip),
    )
    expect(created).toMatchObject({ site_id: s.id, state: 'uploaded', required: [] })
    const ready = await waitForState(created.id, ['ready'])
    expect(ready).toMatchObject({ draft: false, branch: null, title: 'from a zip' })

    expect((await site(s.name)).text()).toBe(page)
    expect((await site(s.name, '/assets/app.bin')).body.equals(binary)).toBe(true)
    expect((await site(s.name, '/about/')).text()).toBe('about')
    expect(sandbox.stats()).toMatchObject({
      zipDeploys: 1,
      zipBytes: zip.length,
      zipFiles: 3,
      deploysCreated: 1,
      filePuts: 0,
      requests: { 'POST /sites/:site_id/deploys': 1 },
    })
    expect(await tmpFiles()).toEqual([])
  })

  it('keeps a draft off the site and a branch on its alias', async () => {
    const s = await createSite()
    const live = await client.createZipDeploy(
      TOKEN,
      s.id,
      { draft: false },
      Readable.from([await zipOf([['index.html', 'live']])]),
    )
    await waitForState(live.id, ['ready'])

    const draft = await client.createZipDeploy(
      TOKEN,
      s.id,
      { draft: true },
      Readable.from([await zipOf([['index.html', 'draft']])]),
    )
    expect(draft.draft).toBe(true)
    await waitForState(draft.id, ['ready'])
    expect((await site(`${draft.id}--${s.name}`)).text()).toBe('draft')

    const branch = await client.createZipDeploy(
      TOKEN,
      s.id,
      { draft: true, branch: 'Feature/Zip' },
      Readable.from([await zipOf([['index.html', 'branch']])]),
    )
    expect(branch.branch).toBe('Feature/Zip')
    await waitForState(branch.id, ['ready'])
    expect((await site(`feature-zip--${s.name}`)).text()).toBe('branch')
    // Neither the draft nor the branch deploy reached production.
    expect((await site(s.name)).text()).toBe('live')
  })

  it('stores the same content under many paths once', async () => {
    const s = await createSite()
    const same = randomBytes(5000)
    const before = await blobCount()
    const zip = await zipOf(
      Array.from({ length: 50 }, (_, i): Entry => [
        `copies/${i}.bin`,
        same,
        { compress: i % 2 === 0 },
      ]),
    )
    const d = await client.createZipDeploy(TOKEN, s.id, { draft: false }, Readable.from([zip]))
    await waitForState(d.id, ['ready'])
    expect(await blobCount()).toBe(before + 1)
    for (const i of [0, 17, 49])
      expect((await site(s.name, `/copies/${i}.bin`)).body.equals(same)).toBe(true)
    expect(sandbox.stats().zipFiles).toBe(50)
  })

  it('reads ZIP64 archives', async () => {
    const s = await createSite()
    const zip = await zipOf(
      [
        ['a.txt', 'sixty-four'],
        ['b/c.txt', randomBytes(3000), { compress: false }],
      ],
      { zip64: true },
    )
    const d = await client.createZipDeploy(TOKEN, s.id, { draft: false }, Readable.from([zip]))
    await waitForState(d.id, ['ready'])
    expect((await site(s.name, '/a.txt')).text()).toBe('sixty-four')
  })

  it('streams an archive larger than the 64 MB JSON limit of digests', async () => {
    const s = await createSite()
    const big = randomBytes(70 * 1024 * 1024)
    const zip = await zipOf([['big.bin', big, { compress: false }]])
    const d = await client.createZipDeploy(TOKEN, s.id, { draft: false }, Readable.from([zip]))
    await waitForState(d.id, ['ready'])
    expect(sha1((await site(s.name, '/big.bin')).body)).toBe(sha1(big))
    expect(sandbox.stats().zipBytes).toBe(zip.length)
  })

  it('aborts the request with the archive stream’s own error', async () => {
    const s = await createSite()
    const zip = new PassThrough()
    zip.write(await zipOf([['index.html', 'x']]))
    setTimeout(() => zip.destroy(new Error('archive writer failed')), 50)
    await expect(client.createZipDeploy(TOKEN, s.id, { draft: false }, zip)).rejects.toThrow(
      'archive writer failed',
    )
    expect(await deploysOf(s.id)).toEqual([])
    await expect(tmpFilesSettled()).resolves.toEqual([])
  })
})

/** The sandbox notices a client that went away a moment after the client does. */
async function tmpFilesSettled(): Promise<string[]> {
  const deadline = Date.now() + 3000
  for (;;) {
    const files = await tmpFiles()
    if (files.length === 0 || Date.now() > deadline) return files
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('raw application/zip bodies', () => {
  it('deploys to production with the title of the query', async () => {
    const s = await createSite()
    const zip = await zipOf([['index.html', 'raw']])
    const res = await api('POST', `/sites/${s.id}/deploys?title=raw%20zip`, {
      body: zip,
      headers: { 'content-type': 'application/zip' },
    })
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({ draft: false, branch: null, title: 'raw zip', required: [] })
    await waitForState(res.json<NetlifyDeploy>().id, ['ready'])
    expect((await site(s.name)).text()).toBe('raw')

    const windows = await api('POST', `/sites/${s.id}/deploys`, {
      body: await zipOf([['index.html', 'windows']]),
      headers: { 'content-type': 'application/x-zip-compressed' },
    })
    await waitForState(windows.json<NetlifyDeploy>().id, ['ready'])
    expect((await site(s.name)).text()).toBe('windows')
    expect(sandbox.stats().zipDeploys).toBe(2)
  })
})

describe('refused archives keep nothing', () => {
  const jsonZip = (zip: Buffer | string, extra: Record<string, unknown> = {}) => ({
    json: { draft: false, ...extra, zip: Buffer.isBuffer(zip) ? zip.toString('base64') : zip },
  })

  it('answers 413 past the archive limit, in either form, as soon as it passes', async () => {
    const s = await createSite()
    sandbox.configure({ maxZipBytes: 10_000 })
    const blobs = await blobCount()
    const zip = await zipOf([['big.bin', randomBytes(20_000), { compress: false }]])
    const raw = await api('POST', `/sites/${s.id}/deploys`, {
      body: zip,
      headers: { 'content-type': 'application/zip' },
    })
    expect(raw.status).toBe(413)
    expect(raw.json()).toEqual({ code: 413, message: expect.stringContaining('10000 bytes') })
    await expect(
      client.createZipDeploy(TOKEN, s.id, { draft: false }, Readable.from([zip])),
    ).rejects.toMatchObject({ status: 413, transient: false })
    // An endless archive: only a sandbox that answers once the limit is passed ends this, and
    // the client then stops (destroys) the archive's producer.
    const endless = new Readable({ read: () => void endless.push(Buffer.alloc(64 * 1024)) })
    await expect(
      client.createZipDeploy(TOKEN, s.id, { draft: false }, endless),
    ).rejects.toMatchObject({ status: 413, transient: false })
    expect(endless.destroyed).toBe(true)
    expect(await deploysOf(s.id)).toEqual([])
    await expect(tmpFilesSettled()).resolves.toEqual([])
    expect(await blobCount()).toBe(blobs)
    expect(sandbox.stats()).toMatchObject({ zipDeploys: 0, deploysCreated: 0 })
  })

  it('answers 422 for what is not a usable archive, naming the problem', async () => {
    const s = await createSite()
    const good = await zipOf([['ok.txt', 'fine', { compress: false }]])
    const cases: Array<[string, Parameters<typeof sendRaw>[3], RegExp]> = [
      ['garbage', jsonZip(randomBytes(3000)), /Invalid zip archive/],
      ['truncated', jsonZip(good.subarray(0, good.length - 30)), /Invalid zip archive/],
      [
        'a parent path',
        jsonZip(renamed(await zipOf([['xx/evil', 'x']]), 'xx/evil', '../evil')),
        /\.\.\/evil/,
      ],
      [
        'an absolute path',
        jsonZip(renamed(await zipOf([['xetc/passwd', 'x']]), 'xetc/passwd', '/etc/passwd')),
        /absolute path/,
      ],
      ['a # in a name', jsonZip(await zipOf([['a#b.txt', 'x']])), /Invalid file path/],
      ['an empty archive', jsonZip(await zipOf([])), /holds no files/],
      ['directories only', jsonZip(await zipOf([], { dirs: ['a/', 'b/'] })), /holds no files/],
      [
        'a corrupt stored entry',
        jsonZip(renamed(good, 'fine', 'FINE')),
        /ok\.txt in the zip archive fails its CRC-32/,
      ],
      ['bad base64', jsonZip('UEsDBA==!!!!'), /not valid base64/],
      ['files beside zip', jsonZip(good, { files: { 'a.txt': sha1('a') } }), /no files/],
      [
        'a zip that is not a string',
        { json: { zip: 12 } },
        /zip: send the archive as one base64 string/,
      ],
      [
        'a raw garbage body',
        { body: 'PK\u0003\u0004nope', headers: { 'content-type': 'application/zip' } },
        /Invalid zip archive/,
      ],
    ]
    const blobs = await blobCount()
    for (const [name, request, message] of cases) {
      const res = await api('POST', `/sites/${s.id}/deploys`, request)
      expect({ name, status: res.status }).toEqual({ name, status: 422 })
      expect({ name, message: res.json<{ message: string }>().message }).toEqual({
        name,
        message: expect.stringMatching(message),
      })
    }
    expect(await deploysOf(s.id)).toEqual([])
    expect(await tmpFiles()).toEqual([])
    expect(await blobCount()).toBe(blobs)
    expect(sandbox.stats().zipDeploys).toBe(0)
  })

  it('refuses a zip with a file outside the deploy through the client as permanent', async () => {
    const s = await createSite()
    const evil = renamed(await zipOf([['xx/evil', 'x']]), 'xx/evil', '../evil')
    await expect(
      client.createZipDeploy(TOKEN, s.id, { draft: false }, Readable.from([evil])),
    ).rejects.toMatchObject({ status: 422, transient: false })
  })
})

describe('limits and faults', () => {
  it('counts a zip deploy against the request window and the deploy creations', async () => {
    const s = await createSite()
    sandbox.configure({ rateLimitPerMinute: 100, deploysPerMinute: 1 })
    const zip = await zipOf([['index.html', 'once']])
    const first = await api('POST', `/sites/${s.id}/deploys`, jsonBody(zip))
    expect(first.status).toBe(200)
    expect(first.headers['x-ratelimit-remaining']).toBe('99')
    const second = await api('POST', `/sites/${s.id}/deploys`, jsonBody(zip))
    expect(second.status).toBe(429)
    expect(second.headers['x-ratelimit-remaining']).toBe('98')
    expect(second.json<{ message: string }>().message).toMatch(/1 deploys\/minute/)
    const raw = await api('POST', `/sites/${s.id}/deploys`, {
      body: zip,
      headers: { 'content-type': 'application/zip' },
    })
    expect(raw.status).toBe(429)
    expect(sandbox.stats()).toMatchObject({ zipDeploys: 1, deployRateLimited: 2 })
    expect(await tmpFiles()).toEqual([])
  })

  it('refuses a zip deploy over the deploy limit before reading its archive', async () => {
    // Its own token: the client holds a token that got a 429 until the window resets.
    const token = 'zip-token-limited'
    const s = (await api('POST', '/sites', { token, json: {} })).json<{ id: string }>()
    sandbox.configure({ deploysPerMinute: 1 })
    const zip = await zipOf([['index.html', 'first']])
    await client.createZipDeploy(token, s.id, { draft: false }, Readable.from([zip]))
    const endless = new Readable({ read: () => void endless.push(Buffer.alloc(64 * 1024)) })
    await expect(
      client.createZipDeploy(token, s.id, { draft: false }, endless),
    ).rejects.toMatchObject({ status: 429, transient: true })
    expect(endless.destroyed).toBe(true)
    await expect(tmpFilesSettled()).resolves.toEqual([])
  })

  it('fails createZipDeploy transiently when the connection dies mid-stream', async () => {
    const s = await createSite()
    const zip = await zipOf([['big.bin', randomBytes(2 * 1024 * 1024), { compress: false }]])
    sandbox.injectFaults([
      { match: { method: 'POST', path: `/sites/${s.id}/deploys` }, dropAfterBytes: 300_000 },
    ])
    const error = await client
      .createZipDeploy(TOKEN, s.id, { draft: false }, Readable.from([zip]))
      .then(
        () => null,
        (e: unknown) => e,
      )
    expect(error).toBeInstanceOf(NetlifyApiError)
    expect(error).toMatchObject({ transient: true })
    expect(await deploysOf(s.id)).toEqual([])
    await expect(tmpFilesSettled()).resolves.toEqual([])
    expect(sandbox.stats()).toMatchObject({ zipDeploys: 0, faultsInjected: 1 })
  })

  it('answers status and drop faults on a zip POST without hanging or leaking', async () => {
    const s = await createSite()
    const zip = await zipOf([['big.bin', randomBytes(1024 * 1024), { compress: false }]])
    const match = { method: 'POST', path: `/sites/${s.id}/deploys` }
    sandbox.injectFaults([{ match, status: 503 }])
    await expect(
      client.createZipDeploy(TOKEN, s.id, { draft: false }, Readable.from([zip])),
    ).rejects.toMatchObject({ status: 503, transient: true })
    sandbox.injectFaults([{ match, drop: true }])
    await expect(
      client.createZipDeploy(TOKEN, s.id, { draft: false }, Readable.from([zip])),
    ).rejects.toMatchObject({ transient: true })
    // The connection is usable again and the next zip deploy goes through.
    const d = await client.createZipDeploy(TOKEN, s.id, { draft: false }, Readable.from([zip]))
    await waitForState(d.id, ['ready'])
    expect(await deploysOf(s.id)).toHaveLength(1)
    await expect(tmpFilesSettled()).resolves.toEqual([])
  })

  it('still cancels a digest deploy waiting for files, and a zip deploy still processing', async () => {
    const s = await createSite()
    const digest = await client.createDeploy(TOKEN, s.id, {
      files: { 'index.html': sha1('never sent') },
      draft: false,
    })
    expect(digest.state).toBe('uploading')
    const cancelled = await client.cancelDeploy(TOKEN, digest.id)
    expect(cancelled).toMatchObject({ state: 'error', error_message: 'Canceled build' })

    sandbox.configure({ processingMs: 600 })
    try {
      const zipped = await client.createZipDeploy(
        TOKEN,
        s.id,
        { draft: false },
        Readable.from([await zipOf([['index.html', 'never live']])]),
      )
      expect((await client.cancelDeploy(TOKEN, zipped.id)).state).toBe('error')
      await new Promise((r) => setTimeout(r, 700))
      expect((await client.getDeploy(TOKEN, zipped.id)).state).toBe('error')
      expect((await site(s.name)).status).toBe(404)
    } finally {
      sandbox.configure({ processingMs: 15 })
    }
  })
})

describe('digest bodies keep express.json’s rules', () => {
  it('accepts a gzip-encoded digest and an empty body, and refuses a bare string', async () => {
    const s = await createSite()
    const gz = await api('POST', `/sites/${s.id}/deploys`, {
      body: gzipSync(JSON.stringify({ files: { 'a.txt': sha1('a') } })),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    })
    expect(gz.status).toBe(200)
    expect(gz.json()).toMatchObject({ state: 'uploading', required: [sha1('a')] })
    const empty = await api('POST', `/sites/${s.id}/deploys`, {
      body: '',
      headers: { 'content-type': 'application/json' },
    })
    expect(empty.status).toBe(200)
    expect(empty.json()).toMatchObject({ state: 'new' })
    const bare = await api('POST', `/sites/${s.id}/deploys`, {
      body: '"files"',
      headers: { 'content-type': 'application/json' },
    })
    expect(bare.json()).toEqual({ code: 400, message: 'Invalid JSON body' })
    const odd = await api('POST', `/sites/${s.id}/deploys`, {
      body: '{}',
      headers: { 'content-type': 'application/json', 'content-encoding': 'compress' },
    })
    expect(odd.status).toBe(415)
    expect(sandbox.stats().zipDeploys).toBe(0)
  })
})

describe('the sandbox’s base64 decoder', () => {
  /** Decodes `pieces` as they would arrive from the JSON parser. */
  const decode = (pieces: string[]): Buffer => {
    const decoder = new Base64Decoder()
    return Buffer.concat([...pieces.map((p) => decoder.push(p)), decoder.end()])
  }
  const bytes = randomBytes(300_001)
  const text = bytes.toString('base64')

  it('decodes pieces split anywhere, padding included, and MIME line breaks', () => {
    const pieces: string[] = []
    for (let i = 0, n = 1; i < text.length; i += n, n = (n * 7) % 1021)
      pieces.push(text.slice(i, i + n))
    expect(decode(pieces).equals(bytes)).toBe(true)
    expect(decode([text.slice(0, -1), text.slice(-1)]).equals(bytes)).toBe(true)
    const mime = text.replace(/.{76}/g, '$&\r\n')
    expect(decode([mime.slice(0, 99_999), mime.slice(99_999)]).equals(bytes)).toBe(true)
    expect(decode(['QUJD', 'RA']).toString()).toBe('ABCD')
  })

  it('refuses what is not base64, padding before the end and a lone last character', () => {
    for (const pieces of [
      ['QUJD!'],
      [text.slice(0, 70_000) + '*' + text.slice(70_000)],
      ['QQ==', 'QUJD'],
      ['QQ==' + 'A'.repeat(70_000)],
      ['A'.repeat(65_532) + 'QQ==', 'QUJD'],
      ['QUJDR'],
      ['QUJD===='],
    ])
      expect(() => decode(pieces)).toThrow('not valid base64')
  })
})

function jsonBody(zip: Buffer): Parameters<typeof sendRaw>[3] {
  return { json: { draft: false, zip: zip.toString('base64') } }
}
