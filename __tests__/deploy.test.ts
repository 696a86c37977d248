import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import { DeployTimeoutError, PushError, push } from '../src/deploy.ts'
import { GatewayError } from '../src/errors.ts'
import type { Digest, FileEntry } from '../src/files.ts'
import type { BatchFile } from '../src/gateway-client.ts'
import { planBatches } from '../src/upload.ts'
import type { PushOptions, Reporter } from '../src/deploy.ts'
import type {
  ChunkPutHeaders,
  ChunkPutResponse,
  ChunkStatusResponse,
  PushInitRequest,
  PushInitResponse,
  PushRecord,
  PushState,
} from 'kaixu-contract'

// A digest built by hand: the flow only reads it, so no files are needed.
function digestOf(files: [path: string, sha1: string, size: number][], root = '/site'): Digest {
  const byPath = new Map<string, FileEntry>()
  const bySha = new Map<string, FileEntry[]>()
  for (const [path, sha1, size] of files) {
    const entry = { path, sha1, size, absPath: `${root}/${path}` }
    byPath.set(path, entry)
    bySha.set(sha1, [...(bySha.get(sha1) ?? []), entry])
  }
  return {
    files: Object.fromEntries(files.map(([p, s]) => [p, s])),
    sizes: Object.fromEntries(files.map(([p, , n]) => [p, n])),
    byPath,
    bySha,
    count: files.length,
    totalBytes: files.reduce((sum, [, , n]) => sum + n, 0),
  }
}

const digest = digestOf([
  ['index.html', 'a'.repeat(40), 100],
  ['copy.html', 'a'.repeat(40), 100],
  ['app.js', 'b'.repeat(40), 50],
  ['logo.png', 'c'.repeat(40), 10],
])

function record(state: PushState, extra: Partial<PushRecord> = {}): PushRecord {
  return { pushId: 'push_1', deployId: 'd1', state, ...extra }
}

// A scripted gateway: records calls, answers `statuses` one by one.
function fakeClient(
  complete: PushRecord,
  statuses: PushRecord[] = [],
  batch?: PushInitResponse['upload']['batch'],
) {
  const calls = {
    init: [] as PushInitRequest[],
    uploads: [] as string[],
    /** The paths of each batch request. */
    batches: [] as string[][],
    status: 0,
    /** The long-poll seconds of each status read (undefined: a plain read). */
    waits: [] as (number | undefined)[],
    completeWait: [] as boolean[],
  }
  const client = {
    init: async (request: PushInitRequest) => {
      calls.init.push(request)
      return {
        pushId: 'push_1',
        deployId: 'd1',
        state: 'uploading' as const,
        required: ['a'.repeat(40), 'b'.repeat(40)],
        upload: { inlineMaxBytes: 1000, chunkBytes: 1000, ...(batch ? { batch } : {}) },
      }
    },
    uploadBatch: async (_pushId: string, files: readonly BatchFile[], _signal?: AbortSignal) => {
      calls.batches.push(files.map((f) => f.absPath))
      return {
        files: files.map((f) => ({ sha1: f.sha1, bytes: f.size, skipped: false })),
        uploaded: files.length,
        skipped: 0,
        bytes: files.reduce((n, f) => n + f.size, 0),
      }
    },
    upload: async (
      _pushId: string,
      sha1: string,
      filePath: string,
      size: number,
      _signal?: AbortSignal,
    ) => {
      calls.uploads.push(filePath)
      return { sha1, bytes: size, skipped: false }
    },
    chunkStatus: async (
      _pushId: string,
      _sha1: string,
      _signal?: AbortSignal,
    ): Promise<ChunkStatusResponse | undefined> => undefined,
    putChunk: async (
      _pushId: string,
      _h: ChunkPutHeaders,
      _body: Uint8Array,
      _signal?: AbortSignal,
    ): Promise<ChunkPutResponse> => {
      throw new Error('no file here is large enough to be chunked')
    },
    complete: async (_pushId: string, wait: boolean) => {
      calls.completeWait.push(wait)
      return complete
    },
    status: async (_pushId: string, _signal?: AbortSignal, waitSeconds?: number) => {
      calls.status++
      calls.waits.push(waitSeconds)
      return statuses.shift() ?? record('finalizing')
    },
  }
  return { client, calls }
}

const logs: string[] = []
const reporter: Reporter = {
  info: (m) => logs.push(m),
  warning: (m) => logs.push(m),
  debug: () => {},
}

const options: PushOptions = {
  project: 'site',
  draft: false,
  wait: true,
  timeoutMs: 60_000,
  concurrency: 2,
  title: 'Deploy of abc',
  sleep: async () => {},
}

const ready = record('ready', {
  deploy_ssl_url: 'https://d1--site.netlify.app',
  site_url: 'https://site.netlify.app',
  costCents: 10,
})

describe('push', () => {
  it('sends small files in one batch when the gateway takes batches', async () => {
    const limits = { maxFiles: 500, maxBytes: 1000, fileMaxBytes: 60 }
    const { client, calls } = fakeClient(record('finalizing'), [ready], limits)
    const result = await push(client, digest, options, reporter)
    // app.js (50 bytes) fits a batch; index.html (100 bytes) is over fileMaxBytes.
    expect(calls.batches).toEqual([['/site/app.js']])
    expect(calls.uploads).toEqual(['/site/index.html'])
    expect(result.filesUploaded).toBe(2)
    expect(result.bytesUploaded).toBe(150)
  })

  it('sends the digest, uploads one file per required SHA-1 and polls until ready', async () => {
    const { client, calls } = fakeClient(record('finalizing'), [record('finalizing'), ready])

    const result = await push(client, digest, options, reporter)

    expect(calls.init).toEqual([
      {
        project: 'site',
        files: digest.files,
        sizes: digest.sizes,
        draft: false,
        title: 'Deploy of abc',
      },
    ])
    expect(calls.uploads.sort()).toEqual(['/site/app.js', '/site/index.html'])
    // complete never holds the request; the wait is long-polls of push-status.
    expect(calls.completeWait).toEqual([false])
    expect(calls.status).toBe(2)
    // Each is bounded by what is left of the 60 s deadline, in whole seconds (59 or 60,
    // depending on whether a millisecond passed).
    expect(calls.waits).toHaveLength(2)
    for (const wait of calls.waits) {
      expect(wait).toBeGreaterThanOrEqual(58)
      expect(wait).toBeLessThanOrEqual(60)
    }
    expect(result).toMatchObject({
      pushId: 'push_1',
      deployId: 'd1',
      state: 'ready',
      filesTotal: 4,
      filesRequired: 2,
      filesUploaded: 2,
      bytesUploaded: 150,
      deployUrl: 'https://d1--site.netlify.app',
      siteUrl: 'https://site.netlify.app',
      costCents: 10,
    })
    expect(logs).toContain('Uploaded 2/2 files, 150 B/150 B')
  })

  it('long-polls without sleeping while the gateway holds each answer', async () => {
    const { client, calls } = fakeClient(record('finalizing'), [])
    const statuses = [record('finalizing'), ready]
    const slept: number[] = []
    client.status = async (_pushId, _signal, waitSeconds) => {
      calls.waits.push(waitSeconds)
      // The gateway held this answer for the whole wait: no pause is needed before the next.
      const next = statuses.shift()!
      if (next.state !== 'ready') await new Promise((r) => setTimeout(r, waitSeconds! * 1000))
      return next
    }
    const result = await push(
      client,
      digest,
      {
        ...options,
        timeoutMs: 2_900,
        sleep: async (ms) => {
          slept.push(ms)
        },
      },
      reporter,
    )
    expect(result.state).toBe('ready')
    // Each long-poll asks for what is left of the deadline, in whole seconds.
    expect(calls.waits).toEqual([2, expect.any(Number)])
    expect(slept).toEqual([])
  })

  it('pauses between reads when a gateway answers early without a final state', async () => {
    const { client, calls } = fakeClient(record('finalizing'), [
      record('finalizing'),
      record('finalizing'),
      ready,
    ])
    const slept: number[] = []
    const result = await push(
      client,
      digest,
      {
        ...options,
        sleep: async (ms) => {
          slept.push(ms)
        },
      },
      reporter,
    )
    expect(result.state).toBe('ready')
    expect(calls.status).toBe(3)
    expect(slept).toEqual([250, 375])
  })

  it('does not poll without wait', async () => {
    const { client, calls } = fakeClient(record('finalizing'))
    const result = await push(client, digest, { ...options, wait: false }, reporter)
    expect(result.state).toBe('finalizing')
    expect(calls.status).toBe(0)
  })

  it("fails with Netlify's error message and keeps what is known", async () => {
    const failed = record('error', { error_message: 'Build exceeded the file limit' })
    const { client } = fakeClient(failed)

    const error = await push(client, digest, options, reporter).catch((e: unknown) => e)

    expect(error).toBeInstanceOf(PushError)
    expect((error as PushError).message).toBe(
      'Netlify could not deploy: Build exceeded the file limit',
    )
    expect((error as PushError).result).toMatchObject({ pushId: 'push_1', state: 'error' })
  })

  it.each(['cancelled', 'expired'] as const)(
    'fails when the gateway answers the push %s (final, never a success)',
    async (state) => {
      const { client } = fakeClient(record(state, { error_message: `The push was ${state}.` }))
      const error = await push(client, digest, options, reporter).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PushError)
      expect((error as PushError).message).toBe(`The push was ${state}: The push was ${state}.`)
      expect((error as PushError).result.state).toBe(state)
    },
  )

  it('gives up when the deploy is not final in time', async () => {
    const { client } = fakeClient(record('finalizing'))
    const error = await push(client, digest, { ...options, timeoutMs: 1 }, reporter).catch(
      (e: unknown) => e,
    )
    expect((error as PushError).cause).toBeInstanceOf(DeployTimeoutError)
    expect((error as PushError).result.state).toBe('finalizing')
  })

  it('bounds the whole push: a hung upload ends at the deadline, saying where it was', async () => {
    const { client, calls } = fakeClient(ready)
    // An upload that never answers, until its request is aborted.
    client.upload = (_pushId, _sha1, filePath, _size, signal) => {
      calls.uploads.push(filePath)
      return new Promise((_resolve, reject) =>
        signal?.addEventListener('abort', () => reject(signal.reason as Error)),
      )
    }

    const error = await push(client, digest, { ...options, timeoutMs: 20 }, reporter).catch(
      (e: unknown) => e,
    )

    expect((error as PushError).cause).toBeInstanceOf(DeployTimeoutError)
    expect((error as PushError).message).toMatch(
      /^The push did not finish within .+, while uploading \(2 files to send\)\. It may still finish; push id push_1$/,
    )
    expect((error as PushError).result).toMatchObject({ pushId: 'push_1', state: 'uploading' })
  })

  it('sends files above the inline limit in chunks, asking first which chunks are held', async () => {
    const { client, calls } = fakeClient(ready)
    const init = client.init
    client.init = async (request) => ({
      ...(await init(request)),
      upload: { inlineMaxBytes: 60, chunkBytes: 60 },
    })
    const chunks: { index: number; count: number; bytes: number }[] = []
    let asked = 0
    client.chunkStatus = async () => {
      asked++
      return undefined
    }
    client.putChunk = async (_pushId, h, body) => {
      chunks.push({ index: h.index, count: h.count, bytes: body.length })
      return { sha1: h.sha1, index: h.index, skipped: false, stored: true }
    }

    // Chunks are read from disk, so this digest points at real files.
    const dir = await mkdtemp(join(tmpdir(), 'kaixu-chunks-'))
    await writeFile(join(dir, 'index.html'), Buffer.alloc(100, 1))
    await writeFile(join(dir, 'app.js'), Buffer.alloc(50, 2))
    const onDisk = digestOf(
      [
        ['index.html', 'a'.repeat(40), 100],
        ['app.js', 'b'.repeat(40), 50],
      ],
      dir,
    )

    const result = await push(client, onDisk, options, reporter)
    await rm(dir, { recursive: true })

    expect(result.state).toBe('ready')
    expect(asked).toBe(1)
    expect(chunks.sort((a, b) => a.index - b.index)).toEqual([
      { index: 0, count: 2, bytes: 60 },
      { index: 1, count: 2, bytes: 40 },
    ])
    // The small file still goes in one request.
    expect(calls.uploads).toHaveLength(1)
  })

  it('stops uploading after the first failure and reports it', async () => {
    const { client, calls } = fakeClient(ready)
    client.upload = async (_pushId, _sha1, filePath) => {
      calls.uploads.push(filePath)
      throw new GatewayError(422, 'sha_mismatch', 'body differs')
    }

    const error = await push(client, digest, { ...options, concurrency: 1 }, reporter).catch(
      (e: unknown) => e,
    )

    expect((error as PushError).message).toContain('body differs')
    expect(calls.uploads).toHaveLength(1)
    expect((error as PushError).result.pushId).toBe('push_1')
  })
})

describe('planBatches', () => {
  const files = (n: number, size = 10): FileEntry[] =>
    Array.from({ length: n }, (_, i) => ({
      path: `f${i}`,
      sha1: i.toString(16).padStart(40, '0'),
      size,
      absPath: `/s/f${i}`,
    }))
  const limits = { maxFiles: 500, maxBytes: 1_000_000, fileMaxBytes: 1000 }

  it('spreads files over parallel requests, never fewer than 50 a batch', () => {
    expect(planBatches(files(500), limits, 8).map((b) => b.length)).toEqual([
      63, 63, 63, 63, 63, 63, 63, 59,
    ])
    expect(planBatches(files(120), limits, 8).map((b) => b.length)).toEqual([50, 50, 20])
    expect(planBatches(files(10), limits, 8).map((b) => b.length)).toEqual([10])
  })

  it('keeps within the gateway limits on files and bytes', () => {
    expect(planBatches(files(1000), { ...limits, maxFiles: 300 }, 1).map((b) => b.length)).toEqual([
      300, 300, 300, 100,
    ])
    expect(
      planBatches(files(100, 100), { ...limits, maxBytes: 2500 }, 1).map((b) => b.length),
    ).toEqual([25, 25, 25, 25])
    // Required files ÷ 50 + a constant bounds the requests of a 10 000-file first push.
    expect(planBatches(files(10_000), limits, 8).length).toBeLessThanOrEqual(10_000 / 50)
  })
})
