import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { loadConfig } from '../src/config.ts'
import { chooseDelivery, type DeliveryFacts } from '../src/services/zip-deploys.ts'
import {
  api,
  createTenant,
  databases,
  fetchSite,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { frame, sha1 } from './helpers/pushes.ts'

const FILE_PUT = 'PUT /deploys/:deploy_id/files/*path'
const BATCH = 'application/vnd.kaixu.batch'

describe('chooseDelivery', () => {
  const settings = loadConfig({}).zip
  const files = (n: number, size = 100) =>
    Array.from({ length: n }, (_, i) => ({ path: `f${i}.html`, sha1: sha1(`f${i}`), size }))
  const facts = (over: Partial<DeliveryFacts> = {}): DeliveryFacts => ({
    files: files(500),
    required: 500,
    functions: 0,
    budget: 495,
    inlineMaxBytes: 5 * 1024 * 1024,
    ...over,
  })

  test('defaults: auto, 100 files, 90 %, 1 GiB', () => {
    expect(settings).toEqual({ mode: 'auto', minFiles: 100, minShare: 0.9, maxBytes: 2 ** 30 })
  })

  test('a first push whose PUTs would not fit the window goes as one zip', () => {
    expect(chooseDelivery(settings, facts())).toMatchObject({ zip: true })
  })

  test('PUTs that fit the budget, or no announced limit, stay PUTs', () => {
    expect(chooseDelivery(settings, facts({ budget: 500 })).zip).toBe(false)
    expect(chooseDelivery(settings, facts({ budget: undefined })).zip).toBe(false)
  })

  test('an incremental push (few or a small share required) stays PUTs', () => {
    expect(
      chooseDelivery(settings, facts({ required: 99, files: files(99), budget: 10 })).zip,
    ).toBe(false)
    expect(chooseDelivery(settings, facts({ required: 449, budget: 10 })).zip).toBe(false)
    expect(chooseDelivery(settings, facts({ required: 450, budget: 10 })).zip).toBe(true)
  })

  test('what cannot be zipped never is, even with KAIXU_ZIP=always', () => {
    const always = { ...settings, mode: 'always' as const }
    expect(chooseDelivery(always, facts({ functions: 1 })).zip).toBe(false)
    const unsized = facts({
      files: [...files(10), { path: 'x', sha1: sha1('x'), size: undefined }],
    })
    expect(chooseDelivery(always, unsized).zip).toBe(false)
    expect(chooseDelivery(always, facts({ files: files(3, 6 * 1024 * 1024) })).zip).toBe(false)
    expect(chooseDelivery({ ...always, maxBytes: 50_000 }, facts()).zip).toBe(false)
    expect(chooseDelivery(always, facts({ required: 1, budget: undefined })).zip).toBe(true)
    expect(chooseDelivery({ ...settings, mode: 'off' }, facts()).zip).toBe(false)
  })

  test('the size limit counts every path, duplicated content included', () => {
    const dup = Array.from({ length: 100 }, (_, i) => ({
      path: `d${i}`,
      sha1: sha1('same'),
      size: 1000,
    }))
    const limit = { ...settings, mode: 'always' as const, maxBytes: 100 * 1000 }
    expect(chooseDelivery(limit, facts({ files: dup, required: 1 })).zip).toBe(false)
  })
})

describe.each(databases())('zip deploys on %s', (database) => {
  let gw: TestGateway
  let t: Tenant

  beforeAll(async () => {
    gw = await startTestGateway(database, { KAIXU_ZIP: 'always' })
    t = await createTenant(gw)
  }, 180_000)
  afterAll(async () => {
    await gw?.stop()
  })

  const sandbox = (path: string, init?: RequestInit) => fetch(`${gw.url}/__sandbox${path}`, init)
  const stats = async () =>
    (await (await sandbox('/stats')).json()) as {
      requests: Record<string, number>
      zipDeploys: number
    }
  const fault = (spec: Record<string, unknown>) =>
    sandbox('/faults', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([spec]),
    })
  const deployOf = async (id: string) =>
    (await (
      await fetch(`${gw.url}/api/v1/deploys/${id}`, {
        headers: { authorization: `Bearer ${t.netlifyToken}` },
      })
    ).json()) as { state: string; draft?: boolean }

  /** A site: many small files, one content under three paths, unicode. */
  function site(n = 30): Record<string, Buffer> {
    // Nothing an earlier push published: Netlify's digest then asks for every content.
    const tag = randomBytes(4).toString('hex')
    const css = Buffer.from(`body{color:red} /* ${tag} */`)
    const files: Record<string, Buffer> = {
      'index.html': Buffer.from(`<h1>${tag}</h1>`),
      'a/same.css': css,
      'b/same.css': css,
      'c/same.css': css,
      'ünï/cödé +%.txt': Buffer.from(`unicode ${tag}`),
    }
    for (let i = 0; i < n; i++) files[`img/p${i}.bin`] = randomBytes(200 + i * 37)
    return files
  }

  async function init(
    files: Record<string, Buffer>,
    extra: Record<string, unknown> = {},
    tenant = t,
  ) {
    const res = await api(gw, tenant.key, 'POST', '/v1/push-init', {
      project: tenant.projectName,
      files: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)])),
      sizes: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, c.length])),
      ...extra,
    })
    expect(res.status).toBe(201)
    return res.body as { pushId: string; deployId: string; required: string[]; delivery: string }
  }

  /** Uploads the required contents: all but the first in one batch, the first alone. */
  async function upload(
    pushId: string,
    files: Record<string, Buffer>,
    required: string[],
    tenant = t,
  ) {
    const byHash = new Map(Object.values(files).map((c) => [sha1(c), c]))
    const [first, ...rest] = required
    const one = await api(
      gw,
      tenant.key,
      'PUT',
      `/v1/push-upload?pushId=${pushId}`,
      byHash.get(first!)!,
      {
        'content-type': 'application/octet-stream',
        'x-content-sha1': first!,
      },
    )
    expect(one.status).toBe(200)
    const res = await api(
      gw,
      tenant.key,
      'POST',
      `/v1/push-upload-batch?pushId=${pushId}`,
      frame(rest.map((sha) => byHash.get(sha)!)),
      { 'content-type': BATCH },
    )
    expect(res.status).toBe(200)
  }

  const complete = async (pushId: string, tenant = t) => {
    const res = await api(gw, tenant.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(res.status).toBe(200)
    return res.body as Record<string, any>
  }

  const audit = (pushId: string) =>
    gw.db.query<{ action: string; status: string; details: Record<string, unknown> }>(
      'SELECT action, status, details FROM audit_log WHERE push_id = $1 ORDER BY id',
      [pushId],
    )
  const usage = (pushId: string) =>
    gw.db.query<{ bytes: number }>('SELECT bytes FROM push_usage_events WHERE push_id = $1', [
      pushId,
    ])
  const staged = async (pushId: string) => {
    const rows = await gw.db.query('SELECT sha1 FROM push_staged_files WHERE push_id = $1', [
      pushId,
    ])
    const dir = await readdir(join(gw.dataDir, 'staged', pushId)).catch(() => [])
    return rows.length + dir.length
  }
  const distinctBytes = (files: Record<string, Buffer>) =>
    [...new Map(Object.values(files).map((c) => [sha1(c), c.length])).values()].reduce(
      (a, b) => a + b,
      0,
    )

  test('a push goes to Netlify as one archive: no file PUT, every path served, billed once', async () => {
    const files = { ...site(), 'empty.txt': Buffer.alloc(0) }
    const before = await stats()
    const pushed = await init(files, { title: 'Zipped' })
    expect(pushed.delivery).toBe('zip')
    // The archive holds the whole site, so every distinct content is asked for.
    expect(new Set(pushed.required)).toEqual(new Set(Object.values(files).map(sha1)))
    await upload(pushed.pushId, files, pushed.required)
    const done = await complete(pushed.pushId)
    expect(done).toMatchObject({ state: 'ready', delivery: 'zip' })
    expect(done['deployId']).not.toBe(pushed.deployId)

    const after = await stats()
    expect(after.zipDeploys - before.zipDeploys).toBe(1)
    expect((after.requests[FILE_PUT] ?? 0) - (before.requests[FILE_PUT] ?? 0)).toBe(0)
    for (const [path, content] of Object.entries(files)) {
      const page = await fetchSite(
        `${done['deploy_ssl_url']}/${path.split('/').map(encodeURIComponent).join('/')}`,
      )
      expect({ path, status: page.status, same: page.body.equals(content) }).toEqual({
        path,
        status: 200,
        same: true,
      })
    }
    // The digest deploy push-init made is cancelled; the zip deploy is the push's.
    expect((await deployOf(pushed.deployId)).state).toBe('error')
    expect(await usage(pushed.pushId)).toEqual([{ bytes: distinctBytes(files) }])
    const zipAudit = (await audit(pushed.pushId)).find((a) => a.action === 'push.zip')
    expect(zipAudit).toMatchObject({ status: 'ok', details: { cancelled: pushed.deployId } })
    expect(await staged(pushed.pushId)).toBe(0)
  })

  test('draft and alias reach the zip deploy: a draft is never published', async () => {
    const live = site(3)
    await init(live).then(async (p) => {
      await upload(p.pushId, live, p.required)
      await complete(p.pushId)
    })
    const draft = site(3)
    const pushed = await init(draft, { draft: true, alias: 'preview-zip' })
    await upload(pushed.pushId, draft, pushed.required)
    const done = await complete(pushed.pushId)
    expect(done).toMatchObject({ state: 'ready', delivery: 'zip', draft: true })
    expect((await deployOf(done['deployId'])).draft).toBe(true)
    // Production still serves the earlier push's index.
    const prod = await fetchSite(`${done['ssl_url']}/index.html`)
    expect(prod.body.equals(live['index.html']!)).toBe(true)
    const preview = await fetchSite(`${done['site_url']}/index.html`)
    expect(preview.body.equals(draft['index.html']!)).toBe(true)
  })

  test.each([
    ['refuses the archive (422)', { status: 422 }],
    ['fails on it (500)', { status: 500 }],
    ['drops it mid-stream', { dropAfterBytes: 2048 }],
  ])('Netlify %s: the files go by PUT to the digest deploy, billed once', async (_, how) => {
    const files = site()
    const before = await stats()
    const pushed = await init(files)
    await upload(pushed.pushId, files, pushed.required)
    await fault({ match: { method: 'POST', path: `/sites/${t.siteId}/deploys` }, ...how })
    const done = await complete(pushed.pushId)
    expect(done).toMatchObject({
      state: 'ready',
      delivery: 'zip-fallback',
      deployId: pushed.deployId,
    })
    const after = await stats()
    // Exactly what Netlify's digest asked for: each distinct content once.
    expect((after.requests[FILE_PUT] ?? 0) - (before.requests[FILE_PUT] ?? 0)).toBe(
      new Set(Object.values(files).map(sha1)).size,
    )
    for (const [path, content] of Object.entries(files).slice(0, 8)) {
      const page = await fetchSite(
        `${done['deploy_ssl_url']}/${path.split('/').map(encodeURIComponent).join('/')}`,
      )
      expect(page.body.equals(content)).toBe(true)
    }
    expect(await usage(pushed.pushId)).toEqual([{ bytes: distinctBytes(files) }])
    const zipAudit = (await audit(pushed.pushId)).find((a) => a.action === 'push.zip')
    expect(zipAudit).toMatchObject({ status: 'error', details: { fallback: 'digest' } })
    expect(await staged(pushed.pushId)).toBe(0)
  })

  test('the zip deploy is made but its answer lost: the push adopts it, no PUT, billed once', async () => {
    const files = site(10)
    const before = await stats()
    const pushed = await init(files)
    await upload(pushed.pushId, files, pushed.required)
    await fault({
      match: { method: 'POST', path: `/sites/${t.siteId}/deploys` },
      after: true,
      drop: true,
    })
    const done = await complete(pushed.pushId)
    expect(done).toMatchObject({ state: 'ready', delivery: 'zip' })
    expect(done['deployId']).not.toBe(pushed.deployId)
    const after = await stats()
    expect(after.zipDeploys - before.zipDeploys).toBe(1)
    expect((after.requests[FILE_PUT] ?? 0) - (before.requests[FILE_PUT] ?? 0)).toBe(0)
    expect((await deployOf(pushed.deployId)).state).toBe('error')
    expect(await usage(pushed.pushId)).toEqual([{ bytes: distinctBytes(files) }])
  })

  test('a wrong body is refused and never kept; chunks are refused for a zip push', async () => {
    const files = site(3)
    const pushed = await init(files)
    const sha = sha1(files['index.html']!)
    const liar = await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${pushed.pushId}`,
      Buffer.alloc(files['index.html']!.length, 0x41),
      {
        'content-type': 'application/octet-stream',
        'x-content-sha1': sha,
      },
    )
    expect(liar.status).toBe(422)
    const [row] = await gw.db.query<{ staged_at: Date | null }>(
      'SELECT staged_at FROM push_staged_files WHERE push_id = $1 AND sha1 = $2',
      [pushed.pushId, sha],
    )
    expect(row!.staged_at).toBeNull()
    const chunk = await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload-chunk?pushId=${pushed.pushId}`,
      Buffer.from('x'),
      {
        'content-type': 'application/octet-stream',
        'x-content-sha1': sha,
        'x-chunk-index': '0',
        'x-chunk-count': '1',
        'x-chunk-sha1': sha1('x'),
      },
    )
    expect(chunk.status).toBe(400)
    const missing = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId: pushed.pushId })
    expect(missing.status).toBe(409)
  })

  test('a cancelled zip push leaves nothing behind once the cleanup has run', async () => {
    const files = site(5)
    const pushed = await init(files)
    await upload(pushed.pushId, files, pushed.required)
    expect(await staged(pushed.pushId)).toBeGreaterThan(0)
    const cancelled = await api(gw, t.key, 'POST', '/v1/push-cancel', { pushId: pushed.pushId })
    expect(cancelled.status).toBe(200)
    await gw.pushes.dropZipLeftovers()
    expect(await staged(pushed.pushId)).toBe(0)
    expect(await usage(pushed.pushId)).toEqual([])
  })
})

describe.each(databases())('zip deploys chosen by the rate window on %s', (database) => {
  let gw: TestGateway
  let t: Tenant

  beforeAll(async () => {
    gw = await startTestGateway(database, { KAIXU_ZIP_MIN_FILES: '20' })
    t = await createTenant(gw)
    // A tight window: 60 requests a minute, so a first push of 100 files cannot PUT them all.
    const res = await fetch(`${gw.url}/__sandbox/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rateLimitPerMinute: 60 }),
    })
    expect(res.status).toBe(200)
  }, 180_000)
  afterAll(async () => {
    await gw?.stop()
  })

  test('first push: zip; the next, changing a few files: PUTs', async () => {
    const files: Record<string, Buffer> = {}
    for (let i = 0; i < 100; i++) files[`p/${i}.html`] = randomBytes(64)
    const first = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)])),
      sizes: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, c.length])),
    })
    expect(first.status).toBe(201)
    expect(first.body['delivery']).toBe('zip')
    await api(
      gw,
      t.key,
      'POST',
      `/v1/push-upload-batch?pushId=${first.body['pushId']}`,
      frame(
        (first.body['required'] as string[]).map((sha) =>
          Object.values(files).find((c) => sha1(c) === sha)!,
        ),
      ),
      { 'content-type': BATCH },
    )
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', {
      pushId: first.body['pushId'],
      wait: true,
    })
    expect(done.body).toMatchObject({ state: 'ready', delivery: 'zip' })

    for (let i = 0; i < 5; i++) files[`p/${i}.html`] = randomBytes(64)
    const next = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)])),
      sizes: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, c.length])),
    })
    expect(next.body).toMatchObject({ delivery: 'files' })
    expect(next.body['required']).toHaveLength(5)
  })
})
