import { createHash, randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, test } from '@jest/globals'
import {
  BATCH_MAGIC,
  BatchFormatError,
  ByteReader,
  ErrorCode,
  STATUS,
  batchBodyBytes,
  checkDeployPath,
  chunkHeaders,
  encodeBatchTable,
  initBodySchema,
  isErrorCode,
  isLoopback,
  pushInitResponse,
  pushListQuery,
  pushPage,
  pushPlanResponse,
  pushRecord,
  pushStatusQuery,
  pushUploadBatchResponse,
  readBatchTable,
  type BatchEntry,
  type PushInitRequest,
} from 'kaixu-contract'

const sha1 = (data: Uint8Array) => createHash('sha1').update(data).digest('hex')

/**
 * KXB1 written from docs/api.md with Node's Buffer, independently of the contract's encoder:
 * "KXB1", uint32 BE count, count × (20 raw SHA-1 bytes, uint32 BE size), then the contents.
 */
function referenceBatch(files: readonly Uint8Array[]): { entries: BatchEntry[]; body: Buffer } {
  const entries = files.map((f) => ({ sha1: sha1(f), size: f.length }))
  const count = Buffer.alloc(4)
  count.writeUInt32BE(files.length)
  const table = entries.map((e) => {
    const size = Buffer.alloc(4)
    size.writeUInt32BE(e.size)
    return Buffer.concat([Buffer.from(e.sha1, 'hex'), size])
  })
  return {
    entries,
    body: Buffer.concat([Buffer.from('KXB1', 'latin1'), count, ...table, ...files]),
  }
}

/** The body as a network would hand it over: in pieces of random size, as plain Uint8Arrays. */
async function* pieces(body: Uint8Array, maxPiece = 7): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < body.length;) {
    const n = 1 + Math.floor(Math.random() * maxPiece)
    yield new Uint8Array(body.subarray(at, at + n))
    at += n
  }
}

async function decode(body: Uint8Array, maxFiles = 100) {
  const reader = new ByteReader(pieces(body))
  const entries = await readBatchTable(reader, maxFiles)
  const contents: Uint8Array[] = []
  for (const e of entries) contents.push(await reader.read(e.size, `the bytes of ${e.sha1}`))
  return { entries, contents, atEnd: await reader.atEnd() }
}

const files = [
  new TextEncoder().encode('<h1>hello</h1>'),
  new Uint8Array(0),
  randomBytes(3000),
  new Uint8Array([0x4b, 0x58, 0x42, 0x31]),
]

describe('the KXB1 batch codec', () => {
  test('encodes the head and table exactly as the independent encoder does', () => {
    const { entries, body } = referenceBatch(files)
    const table = encodeBatchTable(entries)
    expect(table).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(table).equals(body.subarray(0, table.length))).toBe(true)
    expect(table.length).toBe(8 + 24 * files.length)
    expect(batchBodyBytes(entries)).toBe(body.length)
    // Uppercase hex is the same SHA-1.
    const upper = entries.map((e) => ({ ...e, sha1: e.sha1.toUpperCase() }))
    expect(Buffer.from(encodeBatchTable(upper)).equals(Buffer.from(table))).toBe(true)
  })

  test('decodes the independent encoding, in pieces of any size, to the same entries and bytes', async () => {
    const { entries, body } = referenceBatch(files)
    for (let run = 0; run < 20; run++) {
      const decoded = await decode(body)
      expect(decoded.entries).toEqual(entries)
      expect(decoded.contents.map((c) => Buffer.from(c).toString('hex'))).toEqual(
        files.map((f) => Buffer.from(f).toString('hex')),
      )
      expect(decoded.atEnd).toBe(true)
    }
  })

  test('the largest uint32 size and every byte value survive the table', async () => {
    const all = Buffer.from(Array.from({ length: 20 }, (_, i) => i * 13))
    const entry = { sha1: all.toString('hex'), size: 0xffff_ffff }
    const table = encodeBatchTable([entry])
    const reader = new ByteReader(pieces(table))
    expect(await readBatchTable(reader, 1)).toEqual([entry])
  })

  test('refuses what the format cannot carry, before writing a byte', () => {
    const good = { sha1: 'a'.repeat(40), size: 1 }
    expect(() => encodeBatchTable([good, { sha1: 'xyz', size: 1 }])).toThrow(BatchFormatError)
    expect(() => encodeBatchTable([{ ...good, size: 2 ** 32 }])).toThrow(BatchFormatError)
    expect(() => encodeBatchTable([{ ...good, size: -1 }])).toThrow(BatchFormatError)
    expect(() => encodeBatchTable([{ ...good, size: 1.5 }])).toThrow(BatchFormatError)
  })

  test('refuses a malformed body and says where', async () => {
    const { body } = referenceBatch(files)
    const wrongMagic = Buffer.from(body)
    wrongMagic.write('KXB2', 0, 'latin1')
    await expect(decode(wrongMagic)).rejects.toThrow(`must start with "${BATCH_MAGIC}"`)
    await expect(decode(body, 3)).rejects.toMatchObject({
      name: 'BatchFormatError',
      details: { count: 4, maxFiles: 3 },
    })
    await expect(decode(referenceBatch([]).body)).rejects.toThrow('1 to 100 files, not 0')
    const twice = referenceBatch([files[0]!, files[0]!]).body
    await expect(decode(twice)).rejects.toMatchObject({ details: { sha1: sha1(files[0]!) } })
    await expect(decode(body.subarray(0, body.length - 3))).rejects.toMatchObject({
      message: expect.stringContaining('ended inside the bytes of'),
      details: { missingBytes: 3 },
    })
    await expect(decode(body.subarray(0, 20))).rejects.toThrow('ended inside the table of files')
    const extra = await decode(Buffer.concat([body, Buffer.from('x')]))
    expect(extra.atEnd).toBe(false)
  })
})

describe('request schemas', () => {
  const init = initBodySchema({ maxFileBytes: 1000 })
  const a = sha1(files[0]!)

  test('a push-init body round-trips, normalised as the gateway stores it', () => {
    const request = {
      project: 'client-site',
      files: { '/index.html': a.toUpperCase(), 'css/a b.css': a },
      sizes: { '/index.html': 14, 'css/a b.css': 14 },
      draft: true,
      alias: 'pr-12',
      title: 'Fix the header',
      functions: { hello: 'AB'.repeat(32) },
      functionDetails: { hello: { size: 10, runtime: 'js', config: { path: '/hi' } } },
    } satisfies PushInitRequest
    const parsed = init.parse(JSON.parse(JSON.stringify(request)))
    expect(parsed).toEqual({
      project: request.project,
      draft: true,
      alias: 'pr-12',
      title: 'Fix the header',
      files: { 'index.html': a, 'css/a b.css': a },
      sizes: { 'index.html': 14, 'css/a b.css': 14 },
      functions: [
        {
          name: 'hello',
          sha256: 'ab'.repeat(32),
          size: 10,
          runtime: 'js',
          config: { path: '/hi' },
        },
      ],
    })
    // A function needs its details, and details need a function.
    expect(init.safeParse({ ...request, functionDetails: {} }).success).toBe(false)
    expect(init.safeParse({ ...request, functions: {} }).success).toBe(false)
  })

  test.each([
    ['../etc/passwd', 'has a . or .. segment'],
    ['a/%2E%2e/b', 'has a . or .. segment'],
    ['a//b', 'has an empty segment (// or a trailing /)'],
    ['a?b', 'contains # or ? (Netlify cannot deploy such names)'],
    ['a\\b', 'contains a backslash'],
    ['a\u202eb', 'contains bidirectional control characters'],
    ['e\u0301', 'is not in Unicode NFC form'],
  ])('refuses the deploy path %j', (path, why) => {
    expect(checkDeployPath(path)).toBe(why)
    const result = init.safeParse({ project: 'p', files: { [path]: a } })
    expect(result.success).toBe(false)
    expect(result.error?.issues[0]?.message).toBe(`path ${why}`)
  })

  test('refuses a size for no file, a size past the largest file, unknown fields and bad aliases', () => {
    const base = { project: 'p', files: { 'a.html': a } }
    expect(init.safeParse({ ...base, sizes: { 'b.html': 1 } }).success).toBe(false)
    expect(init.safeParse({ ...base, sizes: { 'a.html': 1001 } }).success).toBe(false)
    expect(init.safeParse({ ...base, extra: 1 }).success).toBe(false)
    expect(init.safeParse({ ...base, alias: 'x'.repeat(38) }).success).toBe(false)
    expect(init.safeParse({ ...base, alias: 'Feature/x' }).success).toBe(false)
    expect(init.safeParse({ ...base, files: {} }).success).toBe(false)
  })

  test('refuses two sizes for one content, and takes one size under many paths', () => {
    const twice = { project: 'p', files: { 'a.html': a, 'b.html': a } }
    const lie = init.safeParse({ ...twice, sizes: { 'a.html': 10, 'b.html': 11 } })
    expect(lie.success).toBe(false)
    expect(lie.error?.issues[0]?.path).toEqual(['sizes', 'b.html'])
    expect(init.safeParse({ ...twice, sizes: { 'a.html': 10, 'b.html': 10 } }).success).toBe(true)
  })

  test('query strings and headers are parsed from their text form', () => {
    const pushId = 'push_' + 'A1'.repeat(10)
    expect(pushStatusQuery.parse({ pushId, waitFor: 'ready', timeout: '60' })).toEqual({
      pushId,
      waitFor: 'ready',
      timeout: 60,
    })
    expect(pushStatusQuery.safeParse({ pushId, timeout: '5' }).success).toBe(false)
    expect(pushStatusQuery.safeParse({ pushId, waitFor: 'ready', timeout: '61' }).success).toBe(
      false,
    )
    const headers = {
      'x-content-sha1': a,
      'x-chunk-sha1': a,
      'x-chunk-index': '0',
      'x-chunk-count': '10000',
    }
    expect(chunkHeaders.parse(headers)['x-chunk-count']).toBe(10_000)
    expect(chunkHeaders.safeParse({ ...headers, 'x-chunk-count': '10001' }).success).toBe(false)
    const cursor = `2026-12-07T10:00:00.123456Z_${pushId}`
    expect(pushListQuery.parse({ before: cursor, limit: '5' })).toEqual({
      before: { at: '2026-12-07T10:00:00.123456Z', id: pushId },
      limit: 5,
    })
  })
})

describe('answer schemas', () => {
  const sha = sha1(files[2]!)
  const limits = {
    month: '2026-12',
    resetAt: '2027-01-01T00:00:00.000Z',
    deploys: { limit: 100, used: 3, remaining: 97 },
    bytes: { limit: 1e9, used: 5000, remaining: 1e9 - 5000 },
  }
  const record = {
    pushId: 'push_0123456789abcdefghij',
    project: { id: 'prj_1', name: 'site', siteId: 'abc', siteName: 'my-site' },
    deployId: 'dep123',
    state: 'ready',
    netlifyState: 'ready',
    files: { total: 2, required: 1, uploaded: 1 },
    bytesUploaded: 3000,
    ssl_url: 'https://my-site.netlify.app',
    deploy_ssl_url: 'https://dep123--my-site.netlify.app',
    site_url: 'http://my-site.localhost:8788/',
    error_message: null,
    costCents: 5,
    draft: false,
    someFieldOfANewerGateway: { kept: true },
  }

  test.each([
    [
      'push-init',
      pushInitResponse,
      {
        pushId: 'push_x',
        deployId: 'd1',
        state: 'uploading',
        required: [sha],
        upload: {
          inlineMaxBytes: 1024,
          chunkBytes: 65536,
          batch: { maxFiles: 500, maxBytes: 8e6, fileMaxBytes: 1e6 },
        },
        limits,
      },
    ],
    [
      'push-plan',
      pushPlanResponse,
      {
        project: { id: 'prj_1', name: 'site', siteId: 'abc' },
        files: { total: 2, distinct: 1 },
        wouldUpload: { files: 1, bytes: null, shas: [sha] },
        estimatedCostCents: null,
        pricingVersion: 2,
      },
    ],
    ['push record', pushRecord, record],
    [
      'push-upload-batch',
      pushUploadBatchResponse,
      { files: [{ sha1: sha, bytes: 3000, skipped: false }], uploaded: 1, skipped: 0, bytes: 3000 },
    ],
    [
      'push history',
      pushPage,
      {
        pushes: [
          {
            pushId: 'push_x',
            project: { id: 'prj_1', name: 'site' },
            state: 'error',
            files: { total: 2, required: 1 },
            bytesUploaded: 0,
            error_message: 'Netlify said no',
            createdAt: '2026-12-07T10:00:00Z',
          },
        ],
        next: null,
      },
    ],
  ])('a %s answer round-trips through JSON unchanged, unknown fields kept', (_, schema, answer) => {
    const wire = JSON.parse(JSON.stringify(answer)) as unknown
    expect((schema as typeof pushRecord).parse(wire)).toEqual(answer)
  })

  test.each([
    ['a URL to another host over plain http', { ssl_url: 'http://evil.example/' }],
    ['a URL that could end a shell line', { deploy_ssl_url: 'https://a.netlify.app/$(id)' }],
    ['a URL with credentials', { site_url: 'https://u:p@a.netlify.app/' }],
    ['a site name that is no DNS label', { project: { ...record.project, siteName: 'a.b' } }],
    ['an unknown state', { state: 'done' }],
    ['an id with a newline', { pushId: 'push_1\n::set-output' }],
  ])('a push record with %s is refused', (_, change) => {
    expect(pushRecord.safeParse({ ...record, ...change }).success).toBe(false)
  })

  test('a chunk size under the floor is refused (it would turn a file into millions of requests)', () => {
    const answer = {
      pushId: 'p',
      deployId: 'd',
      state: 'uploading',
      required: [],
      upload: { inlineMaxBytes: 1, chunkBytes: 0 },
    }
    expect(pushInitResponse.safeParse(answer).success).toBe(false)
  })

  test('loopback is parsed, not prefix-matched', () => {
    for (const host of ['localhost', 'site.localhost', '127.0.0.1', '127.9.9.9', '[::1]']) {
      expect(isLoopback(host)).toBe(true)
    }
    for (const host of ['127.evil.com', '128.0.0.1', 'localhost.evil.com', '127.0.0.256']) {
      expect(isLoopback(host)).toBe(false)
    }
  })
})

describe('error codes', () => {
  test('every code has one status, and statuses are HTTP errors', () => {
    const codes = Object.values(ErrorCode)
    expect(Object.keys(STATUS).sort()).toEqual([...codes].sort())
    for (const code of codes) {
      expect(STATUS[code]).toBeGreaterThanOrEqual(400)
      expect(STATUS[code]).toBeLessThan(600)
      expect(isErrorCode(code)).toBe(true)
    }
    expect(STATUS.unauthorized).toBe(401)
    expect(STATUS.cap_exceeded).toBe(402)
    expect(STATUS.rate_limited).toBe(429)
    expect(isErrorCode('http_error')).toBe(false)
    expect(isErrorCode(401)).toBe(false)
  })
})

describe('the package', () => {
  test('is browser-safe: imports only zod and its own files, and uses no Node globals', async () => {
    const dir = join(import.meta.dirname, '..', 'contract', 'src')
    const sources = (await readdir(dir)).filter((f) => f.endsWith('.ts'))
    expect(sources.length).toBeGreaterThan(3)
    for (const file of sources) {
      const text = await readFile(join(dir, file), 'utf8')
      const imports = [...text.matchAll(/^(?:import|export)\b[^'"]*from\s+'([^']+)'/gm)].map(
        (m) => m[1],
      )
      for (const spec of imports)
        expect([file, spec]).toEqual([file, expect.stringMatching(/^(zod|\.\/[a-z-]+\.ts)$/)])
      expect([
        file,
        /\b(Buffer|process|require)\b/.test(text.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, '')),
      ]).toEqual([file, false])
    }
  })
})
