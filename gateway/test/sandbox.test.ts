import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { readdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandboxServer } from '../src/netlify/sandbox/index.ts'
import type { NetlifySandbox } from '../src/netlify/sandbox/index.ts'
import { sha1 } from './helpers/pushes.ts'
import { readAnswer, sendRaw, type Answer } from './helpers/raw-http.ts'

let baseUrl: string
let port: number
let sandbox: NetlifySandbox
let stop: () => Promise<void>
let dataDir: string

/** One raw HTTP request to the sandbox. */
const send = (method: string, path: string, options?: Parameters<typeof sendRaw>[3]) =>
  sendRaw(port, method, path, options)

const api = (
  method: string,
  path: string,
  options: { token?: string; json?: unknown; body?: Buffer | string } = {},
): Promise<Answer> => send(method, `/api/v1${path}`, { token: 'token-a', ...options })

const site = (label: string, path = '/'): Promise<Answer> =>
  send('GET', path, { host: `${label}.localhost:${port}` })

interface Deploy {
  id: string
  state: string
  required: string[]
  deploy_url: string
  url: string
  ssl_url: string
  deploy_ssl_url: string
  name: string
  site_id: string
  draft: boolean
  branch: string | null
  context: string
  error_message: string | null
  links: Record<string, string>
}

let siteCounter = 0
async function createSite(token = 'token-a'): Promise<{ id: string; name: string }> {
  const name = `site-${process.pid}-${++siteCounter}`
  const res = await api('POST', '/sites', { token, json: { name } })
  expect(res.status).toBe(201)
  return res.json<{ id: string; name: string }>()
}

async function waitForState(
  deployId: string,
  states: string[],
  token = 'token-a',
): Promise<Deploy> {
  const deadline = Date.now() + 5000
  for (;;) {
    const d = (await api('GET', `/deploys/${deployId}`, { token })).json<Deploy>()
    if (states.includes(d.state)) return d
    if (Date.now() > deadline) throw new Error(`deploy ${deployId} stuck in ${d.state}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Creates a deploy of `files`, uploads what is required, waits for ready. */
async function deployFiles(
  siteId: string,
  files: Record<string, string | Buffer>,
  extra: Record<string, unknown> = {},
): Promise<Deploy> {
  const digest = Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)]))
  const created = await api('POST', `/sites/${siteId}/deploys`, {
    json: { files: digest, ...extra },
  })
  expect(created.status).toBe(200)
  const deploy = created.json<Deploy>()
  for (const sha of deploy.required) {
    const path = Object.keys(files).find((p) => digest[p] === sha)!
    const put = await api('PUT', `/deploys/${deploy.id}/files/${encodeURI(path)}`, {
      body: files[path],
    })
    expect(put.status).toBe(200)
  }
  return waitForState(deploy.id, ['ready'])
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'netlify-sandbox-'))
  const started = await startSandboxServer({ port: 0, dataDir, processingMs: 30 })
  baseUrl = started.url
  port = Number(new URL(baseUrl).port)
  sandbox = started.sandbox
  stop = started.close
})

afterAll(async () => {
  await stop()
  await rm(dataDir, { recursive: true, force: true })
})

beforeEach(async () => {
  // Each test starts with default limits and no pending faults.
  await send('POST', '/__sandbox/config', {
    json: {
      rateLimitPerMinute: 500,
      concurrentUploads: 5,
      deploysPerMinute: null,
      processingMs: 30,
    },
  })
  await send('DELETE', '/__sandbox/faults')
})

describe('sites and accounts', () => {
  it('creates a site and reads it back by id and by name', async () => {
    const created = await createSite()
    expect(created.id).toEqual(expect.any(String))
    const byId = (await api('GET', `/sites/${created.id}`)).json()
    const byName = (await api('GET', `/sites/${created.name}`)).json()
    expect(byId).toEqual(byName)
    expect(byId).toMatchObject({
      id: created.id,
      name: created.name,
      url: `http://${created.name}.localhost:${port}`,
      ssl_url: `http://${created.name}.localhost:${port}`,
      published_deploy: null,
      account_slug: expect.any(String),
      admin_url: expect.stringContaining(created.name),
    })
    const list = (await api('GET', `/sites?name=${created.name}&filter=all`)).json<unknown[]>()
    expect(list).toEqual([expect.objectContaining({ name: created.name })])
  })

  it('gives a random name when none is asked for and refuses taken or invalid names', async () => {
    const random = await api('POST', '/sites', { json: {} })
    expect(random.status).toBe(201)
    expect(random.json().name).toMatch(/^[a-z0-9-]+$/)
    const taken = await api('POST', '/sites', { json: { name: random.json().name } })
    expect(taken.status).toBe(422)
    expect(taken.json()).toEqual({ code: 422, message: expect.any(String) })
    expect((await api('POST', '/sites', { json: { name: 'a--b' } })).status).toBe(422)
  })

  it('answers /user and /accounts for the token', async () => {
    const user = await api('GET', '/user')
    expect(user.status).toBe(200)
    expect(user.json()).toMatchObject({ id: expect.any(String), email: expect.any(String) })
    const accounts = (await api('GET', '/accounts')).json<Array<{ slug: string }>>()
    expect(accounts).toHaveLength(1)
    const other = (await api('GET', '/accounts', { token: 'token-b' })).json<
      Array<{ slug: string }>
    >()
    expect(other[0]!.slug).not.toBe(accounts[0]!.slug)
  })

  it("hides one account's sites and deploys from another token", async () => {
    const s = await createSite()
    const d = (await api('POST', `/sites/${s.id}/deploys`, { json: {} })).json<Deploy>()
    for (const path of [`/sites/${s.id}`, `/sites/${s.name}`, `/deploys/${d.id}`]) {
      const res = await api('GET', path, { token: 'token-b' })
      expect(res.status).toBe(404)
      expect(res.json()).toEqual({ code: 404, message: 'Not Found' })
    }
    expect(
      (await api('POST', `/sites/${s.id}/deploys`, { token: 'token-b', json: {} })).status,
    ).toBe(404)
  })

  it('refuses a missing or revoked token with 401', async () => {
    const missing = await send('GET', '/api/v1/user')
    expect(missing.status).toBe(401)
    expect(missing.json()).toEqual({ code: 401, message: 'Access Denied: Invalid token' })
    expect((await api('GET', '/user', { token: 'to-revoke' })).status).toBe(200)
    const revoke = await send('POST', '/__sandbox/tokens/revoke', { json: { token: 'to-revoke' } })
    expect(revoke.status).toBe(200)
    const revoked = await api('GET', '/user', { token: 'to-revoke' })
    expect(revoked.status).toBe(401)
    expect(revoked.json().code).toBe(401)
  })

  it('answers JSON 404 for unknown API routes and passes other paths on', async () => {
    const unknown = await api('GET', '/nope/nope')
    expect(unknown.status).toBe(404)
    expect(unknown.json()).toEqual({ code: 404, message: 'Not Found' })
    // Not a sandbox path: the standalone server's fallback answers, proving next() was called.
    expect((await send('GET', '/v1/whatever')).status).toBe(404)
  })
})

describe('digest deploys', () => {
  it('runs a sync deploy: uploading with each unknown sha once, then ready', async () => {
    const s = await createSite()
    const same = 'same content'
    const digest = { '/index.html': sha1('<h1>hi</h1>'), 'a.txt': sha1(same), 'b.txt': sha1(same) }
    const res = await api('POST', `/sites/${s.id}/deploys?title=First%20push`, {
      json: { files: digest, async: false, deploy_source: 'cli', unknown_field: 1 },
    })
    expect(res.status).toBe(200)
    const d = res.json<Deploy>()
    expect(d).toMatchObject({
      state: 'uploading',
      site_id: s.id,
      name: s.name,
      title: 'First push',
      draft: false,
      context: 'production',
      error_message: null,
      deploy_url: `http://${d.id}--${s.name}.localhost:${port}`,
      deploy_ssl_url: `http://${d.id}--${s.name}.localhost:${port}`,
      url: `http://${s.name}.localhost:${port}`,
    })
    expect(d.id).toMatch(/^[0-9a-f]{24}$/)
    expect(d.required.sort()).toEqual([sha1('<h1>hi</h1>'), sha1(same)].sort())

    // One upload per sha is enough, whichever path carries it.
    expect(
      (await api('PUT', `/deploys/${d.id}/files/index.html`, { body: '<h1>hi</h1>' })).status,
    ).toBe(200)
    const mid = (await api('GET', `/sites/${s.id}/deploys/${d.id}`)).json<Deploy>()
    expect(mid).toMatchObject({ state: 'uploading', required: [sha1(same)] })
    const put = await api('PUT', `/deploys/${d.id}/files/b.txt`, { body: same })
    expect(put.json()).toEqual({
      id: '/b.txt',
      path: '/b.txt',
      sha: sha1(same),
      mime_type: 'text/plain',
      size: same.length,
    })
    const after = (await api('GET', `/deploys/${d.id}`)).json<Deploy>()
    expect(['uploaded', 'processing', 'processed', 'ready']).toContain(after.state)
    expect(after.required).toEqual([])
    const ready = await waitForState(d.id, ['ready'])
    expect(ready.required).toEqual([])
    const siteNow = (await api('GET', `/sites/${s.id}`)).json<{ published_deploy: Deploy }>()
    expect(siteNow.published_deploy.id).toBe(d.id)
    // A late retry of an upload that already counted is still accepted.
    expect((await api('PUT', `/deploys/${d.id}/files/a.txt`, { body: same })).status).toBe(200)
  })

  it('runs an async deploy: preparing with nothing required, then prepared with the diff', async () => {
    const s = await createSite()
    const res = await api('POST', `/sites/${s.id}/deploys`, {
      json: { files: { 'index.html': sha1('async') }, async: true },
    })
    const d = res.json<Deploy>()
    expect(d.state).toBe('preparing')
    expect(d.required).toEqual([])
    const prepared = await waitForState(d.id, ['prepared'])
    expect(prepared.required).toEqual([sha1('async')])
    await api('PUT', `/deploys/${d.id}/files/index.html`, { body: 'async' })
    await waitForState(d.id, ['ready'])
  })

  it('goes straight to ready when nothing is required', async () => {
    const s = await createSite()
    const res = await api('POST', `/sites/${s.id}/deploys`, { json: { files: {} } })
    const d = res.json<Deploy>()
    expect(d.required).toEqual([])
    expect(d.state).toBe('uploaded')
    await waitForState(d.id, ['ready'])
  })

  it('requires only the changed sha on a second deploy of the same site', async () => {
    const s = await createSite()
    await deployFiles(s.id, { 'index.html': 'v1', 'style.css': 'body{}', 'app.js': 'x()' })
    const res = await api('POST', `/sites/${s.id}/deploys`, {
      json: {
        files: { 'index.html': sha1('v2'), 'style.css': sha1('body{}'), 'app.js': sha1('x()') },
      },
    })
    expect(res.json<Deploy>().required).toEqual([sha1('v2')])
    // Another site has none of that content.
    const other = await createSite()
    const fresh = await api('POST', `/sites/${other.id}/deploys`, {
      json: { files: { 'style.css': sha1('body{}') } },
    })
    expect(fresh.json<Deploy>().required).toEqual([sha1('body{}')])
  })

  it('keeps a create-without-files deploy new until the PUT, which cannot change draft or branch', async () => {
    const s = await createSite()
    const created = (
      await api('POST', `/sites/${s.id}/deploys`, { json: { draft: true, branch: 'Feature/X' } })
    ).json<Deploy>()
    expect(created).toMatchObject({ state: 'new', required: [], draft: true, branch: 'Feature/X' })
    const updated = await api('PUT', `/sites/${s.id}/deploys/${created.id}`, {
      json: { files: { 'index.html': sha1('draft') }, draft: false, framework: 'unknown' },
    })
    expect(updated.status).toBe(200)
    expect(updated.json<Deploy>()).toMatchObject({
      state: 'uploading',
      draft: true,
      branch: 'Feature/X',
      context: 'draft',
      required: [sha1('draft')],
    })
  })

  it('validates the digest with 422 {code,message}', async () => {
    const s = await createSite()
    for (const files of [
      { 'a.txt': 'not-a-sha' },
      { '../etc/passwd': sha1('x') },
      { 'a#b': sha1('x') },
      { '': sha1('x') },
      ['a'],
    ]) {
      const res = await api('POST', `/sites/${s.id}/deploys`, { json: { files } })
      expect(res.status).toBe(422)
      expect(res.json()).toEqual({ code: 422, message: expect.any(String) })
    }
    const badJson = await send('POST', `/api/v1/sites/${s.id}/deploys`, {
      token: 'token-a',
      headers: { 'content-type': 'application/json' },
      body: '{nope',
    })
    expect(badJson.status).toBe(400)
    expect(badJson.json()).toEqual({ code: 400, message: 'Invalid JSON body' })
    const zip = await send('POST', `/api/v1/sites/${s.id}/deploys`, {
      token: 'token-a',
      headers: { 'content-type': 'application/zip' },
      body: 'PK',
    })
    expect(zip.status).toBe(422)
  })

  it('refuses uploads whose content does not match, storing nothing', async () => {
    const s = await createSite()
    const d = (
      await api('POST', `/sites/${s.id}/deploys`, { json: { files: { 'a.txt': sha1('right') } } })
    ).json<Deploy>()
    const before = await readdir(join(dataDir, 'blobs'))
    const wrong = await api('PUT', `/deploys/${d.id}/files/a.txt`, { body: 'wrong' })
    expect(wrong.status).toBe(422)
    expect(wrong.json()).toEqual({ code: 422, message: 'Uploaded file a.txt did not match deploy' })
    expect(await readdir(join(dataDir, 'blobs'))).toEqual(before)
    expect(await readdir(join(dataDir, 'tmp'))).toEqual([])
    expect((await api('GET', `/deploys/${d.id}`)).json<Deploy>().required).toEqual([sha1('right')])
    const unknownPath = await api('PUT', `/deploys/${d.id}/files/b.txt`, { body: 'right' })
    expect(unknownPath.status).toBe(422)
    const unknownDeploy = await api('PUT', `/deploys/${'0'.repeat(24)}/files/a.txt`, {
      body: 'right',
    })
    expect(unknownDeploy.status).toBe(404)
    expect((await api('PUT', `/deploys/${d.id}/files/a.txt`, { body: 'right' })).status).toBe(200)
    expect(await readFile(join(dataDir, 'blobs', sha1('right')), 'utf8')).toBe('right')
  })

  it('decodes upload paths: %2F, spaces, unicode, and + kept as a plus', async () => {
    const s = await createSite()
    const files = {
      'assets/app.css': 'css',
      'my file.txt': 'spaces',
      'café/ü.html': 'unicode',
      'a+b.txt': 'plus',
      'a b.txt': 'not plus',
    }
    const digest = Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)]))
    const d = (
      await api('POST', `/sites/${s.id}/deploys`, { json: { files: digest } })
    ).json<Deploy>()
    const wire: Array<[string, string]> = [
      ['assets%2Fapp.css', 'css'], // Go client: url.PathEscape
      [encodeURI('my file.txt'), 'spaces'], // netlify-cli: encodeURI
      [encodeURIComponent('café/ü.html'), 'unicode'],
      ['a+b.txt', 'plus'],
      ['a%20b.txt', 'not plus'],
    ]
    for (const [path, body] of wire) {
      const res = await api('PUT', `/deploys/${d.id}/files/${path}`, { body })
      expect({ path, status: res.status }).toEqual({ path, status: 200 })
    }
    // A leading slash inside {path} (Drop-style URLs) is stripped too.
    expect((await api('PUT', `/deploys/${d.id}/files//a+b.txt`, { body: 'plus' })).status).toBe(200)
    await waitForState(d.id, ['ready'])
    expect((await site(s.name, '/caf%C3%A9/%C3%BC.html')).body.toString()).toBe('unicode')
    expect((await site(s.name, '/a+b.txt')).body.toString()).toBe('plus')
    expect((await site(s.name, '/my%20file.txt')).body.toString()).toBe('spaces')
  })

  it('cancels a deploy (201), after which uploads get 422 No records matched', async () => {
    const s = await createSite()
    const d = (
      await api('POST', `/sites/${s.id}/deploys`, { json: { files: { 'a.txt': sha1('c') } } })
    ).json<Deploy>()
    const cancel = await api('POST', `/deploys/${d.id}/cancel`)
    expect(cancel.status).toBe(201)
    expect(cancel.json<Deploy>().state).toBe('error')
    const put = await api('PUT', `/deploys/${d.id}/files/a.txt`, { body: 'c' })
    expect(put.status).toBe(422)
    expect(put.json()).toEqual({ code: 422, message: 'No records matched' })
  })

  it('forces a deploy into error through the control API and fail-next', async () => {
    const s = await createSite()
    const d = (
      await api('POST', `/sites/${s.id}/deploys`, { json: { files: { 'a.txt': sha1('f') } } })
    ).json<Deploy>()
    const fail = await send('POST', `/__sandbox/deploys/${d.id}/fail`, {
      json: { message: 'boom' },
    })
    expect(fail.status).toBe(200)
    expect((await api('GET', `/deploys/${d.id}`)).json<Deploy>()).toMatchObject({
      state: 'error',
      error_message: 'boom',
    })
    await send('POST', '/__sandbox/deploys/fail-next', { json: { message: 'processing failed' } })
    const next = (
      await api('POST', `/sites/${s.id}/deploys`, { json: { files: {} } })
    ).json<Deploy>()
    const failed = await waitForState(next.id, ['error', 'ready'])
    expect(failed).toMatchObject({ state: 'error', error_message: 'processing failed' })
  })
})

describe('serving deployed sites', () => {
  it('serves a ready deploy byte for byte with content type, ETag and pretty URLs', async () => {
    const s = await createSite()
    const binary = randomBytes(70_000)
    const d = await deployFiles(s.id, {
      'index.html': '<h1>home</h1>',
      'img/logo.png': binary,
      'about.html': 'about',
      'docs/index.html': 'docs',
      '404.html': 'custom 404',
    })
    const home = await site(s.name)
    expect(home.status).toBe(200)
    expect(home.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(home.headers['etag']).toBe(`"${sha1('<h1>home</h1>')}"`)
    expect(home.body.toString()).toBe('<h1>home</h1>')
    const png = await site(s.name, '/img/logo.png')
    expect(png.headers['content-type']).toBe('image/png')
    expect(Buffer.compare(png.body, binary)).toBe(0)
    expect((await site(s.name, '/about')).body.toString()).toBe('about')
    expect((await site(s.name, '/docs/')).body.toString()).toBe('docs')
    expect((await site(s.name, '/docs')).body.toString()).toBe('docs')
    const missing = await site(s.name, '/nope')
    expect(missing.status).toBe(404)
    expect(missing.body.toString()).toBe('custom 404')
    const deployUrl = new URL(d.deploy_url)
    expect((await site(deployUrl.hostname.replace('.localhost', ''))).body.toString()).toBe(
      '<h1>home</h1>',
    )
    const notModified = await send('GET', '/', {
      host: `${s.name}.localhost:${port}`,
      headers: { 'if-none-match': String(home.headers['etag']) },
    })
    expect(notModified.status).toBe(304)
  })

  it('keeps drafts on their deploy URL, branches on their alias, production on the site', async () => {
    const s = await createSite()
    const prod = await deployFiles(s.id, { 'index.html': 'prod' })
    const draft = await deployFiles(s.id, { 'index.html': 'draft' }, { draft: true })
    const branch = await deployFiles(
      s.id,
      { 'index.html': 'branch' },
      { branch: 'feature/new-look' },
    )
    expect(draft.context).toBe('draft')
    expect(branch.context).toBe('branch-deploy')
    expect(branch.links.alias).toBe(`http://feature-new-look--${s.name}.localhost:${port}`)
    expect((await site(s.name)).body.toString()).toBe('prod')
    expect((await site(`${prod.id}--${s.name}`)).body.toString()).toBe('prod')
    expect((await site(`${draft.id}--${s.name}`)).body.toString()).toBe('draft')
    expect((await site(`${branch.id}--${s.name}`)).body.toString()).toBe('branch')
    expect((await site(`feature-new-look--${s.name}`)).body.toString()).toBe('branch')
    const published = (await api('GET', `/sites/${s.id}`)).json<{ published_deploy: Deploy }>()
    expect(published.published_deploy.id).toBe(prod.id)
    // A draft with a branch (netlify deploy --alias pr-1) answers at its alias too.
    const draftBranch = await deployFiles(
      s.id,
      { 'index.html': 'preview' },
      { draft: true, branch: 'pr-1' },
    )
    expect(draftBranch.links.alias).toBe(`http://pr-1--${s.name}.localhost:${port}`)
    expect((await site(`pr-1--${s.name}`)).body.toString()).toBe('preview')
    expect((await site(`${draftBranch.id}--${s.name}`)).body.toString()).toBe('preview')
    expect((await site(s.name)).body.toString()).toBe('prod')
  })

  it('answers 404 for unknown sites and deploys that are not ready', async () => {
    expect((await site('no-such-site')).status).toBe(404)
    const s = await createSite()
    expect((await site(s.name)).status).toBe(404)
    const d = (
      await api('POST', `/sites/${s.id}/deploys`, { json: { files: { 'index.html': sha1('z') } } })
    ).json<Deploy>()
    const notReady = await site(`${d.id}--${s.name}`)
    expect(notReady.status).toBe(404)
    expect(notReady.body.toString()).toContain('not ready')
  })
})

describe('limits', () => {
  it('sends rate-limit headers and answers 429 past the limit', async () => {
    const res = await api('GET', '/user', { token: 'rate-a' })
    expect(res.headers['x-ratelimit-limit']).toBe('500')
    expect(res.headers['x-ratelimit-remaining']).toBe('499')
    const reset = Number(res.headers['x-ratelimit-reset'])
    const nowSec = Date.now() / 1000
    expect(reset).toBeGreaterThan(nowSec)
    expect(reset).toBeLessThanOrEqual(nowSec + 61)

    await send('POST', '/__sandbox/config', { json: { rateLimitPerMinute: 3 } })
    for (let i = 0; i < 3; i++)
      expect((await api('GET', '/user', { token: 'rate-b' })).status).toBe(200)
    const limited = await api('GET', '/user', { token: 'rate-b' })
    expect(limited.status).toBe(429)
    expect(limited.json()).toEqual({ code: 429, message: expect.any(String) })
    expect(limited.headers['x-ratelimit-remaining']).toBe('0')
    expect(Number(limited.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000)
    // The limit is per token.
    expect((await api('GET', '/user', { token: 'rate-c' })).status).toBe(200)
    // And it can be lifted.
    await send('POST', '/__sandbox/config', { json: { rateLimitPerMinute: null } })
    const lifted = await api('GET', '/user', { token: 'rate-b' })
    expect(lifted.status).toBe(200)
    expect(lifted.headers['x-ratelimit-limit']).toBeUndefined()
  })

  it('caps concurrent file PUTs per token and says so in x-concurrent-* headers', async () => {
    const s = await createSite()
    const d = (
      await api('POST', `/sites/${s.id}/deploys`, { json: { files: { 'slow.txt': sha1('slow') } } })
    ).json<Deploy>()
    await send('POST', '/__sandbox/config', { json: { concurrentUploads: 1 } })
    // A slow client: headers and half the body now, the rest once the second PUT was answered.
    let finish!: () => void
    const first = new Promise<Answer>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'PUT',
          path: `/api/v1/deploys/${d.id}/files/slow.txt`,
          headers: { authorization: 'Bearer token-a', 'content-length': '4' },
          agent: false,
        },
        (res) => readAnswer(res).then(resolve, reject),
      )
      req.on('error', reject)
      req.write('sl')
      finish = () => req.end('ow')
    })
    await new Promise((r) => setTimeout(r, 50))
    const second = await api('PUT', `/deploys/${d.id}/files/slow.txt`, { body: 'slow' })
    expect(second.status).toBe(429)
    expect(second.headers['x-concurrent-limit']).toBe('1')
    expect(second.headers['x-concurrent-remaining']).toBe('0')
    finish()
    const done = await first
    expect(done.status).toBe(200)
    expect(done.headers['x-concurrent-limit']).toBe('1')
  })

  it('limits deploy creations per site when configured', async () => {
    const s = await createSite()
    await send('POST', '/__sandbox/config', { json: { deploysPerMinute: 2 } })
    expect((await api('POST', `/sites/${s.id}/deploys`, { json: {} })).status).toBe(200)
    expect((await api('POST', `/sites/${s.id}/deploys`, { json: {} })).status).toBe(200)
    const third = await api('POST', `/sites/${s.id}/deploys`, { json: {} })
    expect(third.status).toBe(429)
    expect(Number(third.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000)
  })
})

describe('fault injection and stats', () => {
  it('answers a scheduled 503 once, then handles the retry', async () => {
    await send('POST', '/__sandbox/faults', {
      json: [{ match: { method: 'GET', path: '/api/v1/user' }, status: 503 }],
    })
    const failed = await api('GET', '/user')
    expect(failed.status).toBe(503)
    expect(failed.json()).toEqual({ code: 503, message: 'Service Unavailable' })
    expect((await api('GET', '/user')).status).toBe(200)
  })

  it('injects a 429 carrying X-RateLimit-Reset, and custom bodies', async () => {
    await send('POST', '/__sandbox/faults', {
      json: {
        faults: [
          { match: { pathRegex: '^/api/v1/accounts$' }, status: 429 },
          { match: { path: '/accounts' }, status: 502, body: '<html>Bad gateway</html>' },
        ],
      },
    })
    const limited = await api('GET', '/accounts')
    expect(limited.status).toBe(429)
    expect(Number(limited.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000)
    const html = await api('GET', '/accounts')
    expect(html.status).toBe(502)
    expect(html.headers['content-type']).toContain('text/html')
    expect(html.body.toString()).toBe('<html>Bad gateway</html>')
    expect((await api('GET', '/accounts')).status).toBe(200)
  })

  it('drops a connection, before or after handling the request', async () => {
    await send('POST', '/__sandbox/faults', { json: [{ match: { path: '/user' }, drop: true }] })
    await expect(api('GET', '/user')).rejects.toThrow(/socket hang up|ECONNRESET/)
    expect((await api('GET', '/user')).status).toBe(200)

    // An upload whose answer is lost still counts: the retry finds nothing left to do.
    const s = await createSite()
    const d = (
      await api('POST', `/sites/${s.id}/deploys`, { json: { files: { 'a.txt': sha1('lost') } } })
    ).json<Deploy>()
    await send('POST', '/__sandbox/faults', {
      json: [{ match: { path: `/deploys/${d.id}/files/` }, drop: true, after: true }],
    })
    await expect(api('PUT', `/deploys/${d.id}/files/a.txt`, { body: 'lost' })).rejects.toThrow()
    expect((await api('GET', `/deploys/${d.id}`)).json<Deploy>().required).toEqual([])
    expect((await api('PUT', `/deploys/${d.id}/files/a.txt`, { body: 'lost' })).status).toBe(200)
  })

  it('skips matching requests before a fault hits, and can fault site requests', async () => {
    await send('POST', '/__sandbox/faults', {
      json: [{ match: { path: '/user' }, status: 500, skip: 1, times: 2 }],
    })
    expect((await api('GET', '/user')).status).toBe(200)
    expect((await api('GET', '/user')).status).toBe(500)
    expect((await api('GET', '/user')).status).toBe(500)
    expect((await api('GET', '/user')).status).toBe(200)

    const s = await createSite()
    await deployFiles(s.id, { 'index.html': 'up' })
    await send('POST', '/__sandbox/faults', { json: [{ match: { target: 'site' }, status: 503 }] })
    expect((await site(s.name)).status).toBe(503)
    expect((await site(s.name)).status).toBe(200)
  })

  it('counts requests per route template, file PUTs and deploys', async () => {
    const s = await createSite()
    await send('POST', '/__sandbox/stats/reset')
    await deployFiles(s.id, { 'index.html': 'counted', 'copy.html': 'counted' })
    const stats = (await send('GET', '/__sandbox/stats')).json<{
      requests: Record<string, number>
      filePuts: number
      filePutsBySha: Record<string, number>
      deploysCreated: number
    }>()
    expect(stats.filePuts).toBe(1)
    expect(stats.filePutsBySha).toEqual({ [sha1('counted')]: 1 })
    expect(stats.deploysCreated).toBe(1)
    expect(stats.requests['POST /sites/:site_id/deploys']).toBe(1)
    expect(stats.requests['PUT /deploys/:deploy_id/files/*path']).toBe(1)
    expect(stats.requests['GET /deploys/:deploy_id']).toBeGreaterThanOrEqual(1)
    // The in-process handle sees the same counters.
    expect(sandbox.stats().filePuts).toBe(1)
  })

  it('rejects invalid control input with 422', async () => {
    const bad = await send('POST', '/__sandbox/config', { json: { rateLimitPerMinut: 3 } })
    expect(bad.status).toBe(422)
    const regex = await send('POST', '/__sandbox/faults', { json: [{ match: { pathRegex: '(' } }] })
    expect(regex.status).toBe(422)
    expect((await send('GET', '/__sandbox/nope')).status).toBe(404)
  })
})
