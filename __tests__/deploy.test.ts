import { describe, expect, it } from '@jest/globals'
import { DeployTimeoutError, PushError, push } from '../src/deploy.ts'
import { GatewayError } from '../src/errors.ts'
import type { Digest, FileEntry } from '../src/files.ts'
import type { PushOptions, Reporter } from '../src/deploy.ts'
import type { PushInitRequest, PushRecord, PushState } from '../src/gateway-api.ts'

// A digest built by hand: the flow only reads it, so no files are needed.
function digestOf(files: [path: string, sha1: string, size: number][]): Digest {
  const byPath = new Map<string, FileEntry>()
  const bySha = new Map<string, FileEntry[]>()
  for (const [path, sha1, size] of files) {
    const entry = { path, sha1, size, absPath: `/site/${path}` }
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
function fakeClient(complete: PushRecord, statuses: PushRecord[] = []) {
  const calls = { init: [] as PushInitRequest[], uploads: [] as string[], status: 0 }
  const client = {
    init: async (request: PushInitRequest) => {
      calls.init.push(request)
      return {
        pushId: 'push_1',
        deployId: 'd1',
        state: 'uploading' as const,
        required: ['a'.repeat(40), 'b'.repeat(40)],
        upload: { inlineMaxBytes: 1000, chunkBytes: 1000 },
      }
    },
    upload: async (_pushId: string, sha1: string, filePath: string, size: number) => {
      calls.uploads.push(filePath)
      return { sha1, bytes: size, skipped: false }
    },
    complete: async () => complete,
    status: async () => {
      calls.status++
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
    expect(calls.status).toBe(2)
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

  it('gives up when the deploy is not final in time', async () => {
    const { client } = fakeClient(record('finalizing'))
    const error = await push(client, digest, { ...options, timeoutMs: 1 }, reporter).catch(
      (e: unknown) => e,
    )
    expect((error as PushError).cause).toBeInstanceOf(DeployTimeoutError)
    expect((error as PushError).result.state).toBe('finalizing')
  })

  it('refuses files above the gateway upload limit before sending any', async () => {
    const { client, calls } = fakeClient(ready)
    const init = client.init
    client.init = async (request) => ({
      ...(await init(request)),
      upload: { inlineMaxBytes: 60, chunkBytes: 60 },
    })

    const error = await push(client, digest, options, reporter).catch((e: unknown) => e)

    expect((error as PushError).message).toBe(
      "'index.html' (100 B) exceed the gateway's upload limit of 60 B per file",
    )
    expect(calls.uploads).toEqual([])
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
