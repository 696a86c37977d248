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

/** A small site: path → content. Two paths share content to exercise one-upload-per-SHA. */
function site(version = 1): Record<string, string> {
  return {
    'index.html': `<h1>home v${version}</h1>`,
    'about/index.html': '<h1>about</h1>',
    'assets/app.css': 'body{color:red}',
    'assets/copy.css': 'body{color:red}',
    'docs/a file+plus.txt': 'spaces and plus',
    'ünï/cödé.txt': 'unicode',
    'empty.txt': '',
  }
}

const manifest = (files: Record<string, string>) =>
  Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)]))

async function pushSite(
  gw: TestGateway,
  t: Tenant,
  files: Record<string, string>,
  extra: Record<string, unknown> = {},
) {
  const init = await api(gw, t.key, 'POST', '/v1/push-init', {
    project: t.projectName,
    files: manifest(files),
    ...extra,
  })
  expect(init.status).toBe(201)
  const required = init.body['required'] as string[]
  const byHash = new Map(Object.values(files).map((c) => [sha1(c), c]))
  for (const sha of required) {
    const up = await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${init.body['pushId']}`,
      Buffer.from(byHash.get(sha)!),
      {
        'x-content-sha1': sha,
        'content-type': 'application/octet-stream',
      },
    )
    expect(up.status).toBe(200)
    expect(up.body['skipped']).toBe(false)
  }
  const done = await api(gw, t.key, 'POST', '/v1/push-complete', {
    pushId: init.body['pushId'],
    wait: true,
  })
  return { init, required, done }
}

describe.each(databases())('push flow on %s', (database) => {
  let gw: TestGateway
  let tenant: Tenant
  let other: Tenant

  beforeAll(async () => {
    gw = await startTestGateway(database, { LOG_LEVEL: 'error' })
    tenant = await createTenant(gw, 'Acme')
    other = await createTenant(gw, 'Globex')
  })
  afterAll(async () => {
    await gw?.stop()
  })

  test('a first push uploads each distinct file once, goes ready, serves every byte and bills once', async () => {
    const files = site(1)
    const { init, required, done } = await pushSite(gw, tenant, files)
    expect(new Set(required).size).toBe(required.length)
    expect(required.sort()).toEqual([...new Set(Object.values(manifest(files)))].sort())
    expect(done.status).toBe(200)
    expect(done.body).toMatchObject({
      state: 'ready',
      netlifyState: 'ready',
      files: { total: 7, required: 6, uploaded: 6 },
    })
    expect(done.body['costCents']).toBeGreaterThan(0)

    const status = await api(gw, tenant.key, 'GET', `/v1/push-status?pushId=${init.body['pushId']}`)
    expect(status.status).toBe(200)
    expect(status.body['state']).toBe('ready')
    const deployUrl = status.body['deploy_ssl_url'] as string
    expect(deployUrl).toContain(String(init.body['deployId']))
    // The site's name, for the deploy's page in Netlify's admin.
    expect(status.body['project']).toMatchObject({ siteName: tenant.projectName })
    for (const [path, content] of Object.entries(files)) {
      const page = await fetchSite(
        `${deployUrl}/${path.split('/').map(encodeURIComponent).join('/')}`,
      )
      expect(page.status).toBe(200)
      expect(page.body.equals(Buffer.from(content))).toBe(true)
    }
    const production = await fetchSite(`${status.body['site_url']}/`)
    expect(production.body.toString()).toBe(files['index.html'])

    const events = await gw.db.query<{
      push_id: string
      bytes: number
      pricing_version: number
      cost_cents: number
    }>('SELECT * FROM push_usage_events WHERE push_id = $1', [init.body['pushId']])
    expect(events).toHaveLength(1)
    const uploadedBytes = [...new Set(Object.values(files))].reduce(
      (n, c) => n + Buffer.byteLength(c),
      0,
    )
    expect(events[0]).toMatchObject({
      bytes: uploadedBytes,
      pricing_version: 1,
      cost_cents: 10 + Math.ceil((uploadedBytes * 25) / 1e9),
    })

    const audit = await gw.db.query<{ action: string; status: string; api_key_id: string }>(
      'SELECT action, status, api_key_id FROM audit_log WHERE push_id = $1 ORDER BY id',
      [init.body['pushId']],
    )
    expect(audit.map((a) => a.action)).toEqual([
      'push.init',
      ...required.map(() => 'push.upload'),
      'push.complete',
      'push.ready',
    ])
    expect(
      audit.filter((a) => a.action !== 'push.ready').every((a) => a.api_key_id === tenant.keyId),
    ).toBe(true)
  })

  test('a second push with one changed file requires and uploads exactly that file', async () => {
    const before = site(1)
    const after = { ...before, 'index.html': '<h1>home v2</h1>' }
    await pushSite(gw, tenant, before)
    const { required, done } = await pushSite(gw, tenant, after)
    expect(required).toEqual([sha1(after['index.html'])])
    expect(done.body).toMatchObject({
      state: 'ready',
      files: { total: 7, required: 1, uploaded: 1 },
    })
  })

  test('push-plan estimates what a push would upload and cost, and creates nothing', async () => {
    const files = { ...site(1), 'index.html': '<h1>planned change</h1>' }
    await pushSite(gw, tenant, site(1))
    const before = await snapshotRows(gw)
    const sizes = Object.fromEntries(
      Object.entries(files).map(([p, c]) => [p, Buffer.byteLength(c)]),
    )
    const plan = await api(gw, tenant.key, 'POST', '/v1/push-plan', {
      project: tenant.projectName,
      files: manifest(files),
      sizes,
    })
    expect(plan.status).toBe(200)
    expect(plan.body).toMatchObject({
      files: { total: 7, distinct: 6 },
      wouldUpload: {
        files: 1,
        bytes: Buffer.byteLength(files['index.html']),
        shas: [sha1(files['index.html'])],
      },
      estimatedCostCents: 11,
      pricingVersion: 1,
    })
    expect(plan.body['limits']['deploys']['remaining']).toBeGreaterThan(0)
    const unsized = await api(gw, tenant.key, 'POST', '/v1/push-plan', {
      project: tenant.projectName,
      files: manifest(files),
    })
    expect(unsized.body['wouldUpload']['bytes']).toBeNull()
    expect(await snapshotRows(gw)).toEqual(before)
  })

  test('finalization run again, even concurrently, never bills twice', async () => {
    const { init } = await pushSite(gw, tenant, { 'x.txt': `twice ${Date.now()}` })
    const pushId = String(init.body['pushId'])
    await Promise.all([
      gw.pushes.finalize(pushId),
      gw.pushes.finalize(pushId),
      gw.pushes.finalize(pushId),
    ])
    const rows = await gw.db.query('SELECT * FROM push_usage_events WHERE push_id = $1', [pushId])
    expect(rows).toHaveLength(1)
  })

  test('complete without wait answers 202 and the job finishes the deploy', async () => {
    const files = { 'async.txt': `async ${Date.now()}` }
    const init = await api(gw, tenant.key, 'POST', '/v1/push-init', {
      project: tenant.projectId,
      files: manifest(files),
    })
    const [sha] = init.body['required'] as string[]
    await api(
      gw,
      tenant.key,
      'PUT',
      `/v1/push-upload?pushId=${init.body['pushId']}`,
      Buffer.from(files['async.txt']),
      { 'x-content-sha1': sha! },
    )
    const done = await api(gw, tenant.key, 'POST', '/v1/push-complete', {
      pushId: init.body['pushId'],
    })
    expect(done.status).toBe(202)
    expect(done.body['state']).toBe('finalizing')
    let state = ''
    for (let i = 0; i < 100 && state !== 'ready'; i++) {
      await new Promise((r) => setTimeout(r, 100))
      state = (await api(gw, tenant.key, 'GET', `/v1/push-status?pushId=${init.body['pushId']}`))
        .body['state'] as string
    }
    expect(state).toBe('ready')
    // Completing again is harmless and queues nothing new.
    const again = await api(gw, tenant.key, 'POST', '/v1/push-complete', {
      pushId: init.body['pushId'],
    })
    expect(again.status).toBe(202)
    expect(again.body['state']).toBe('ready')
  })

  test('alias and draft deploys get their own URLs and leave production alone', async () => {
    const alias = await pushSite(gw, tenant, { 'index.html': 'preview!' }, { alias: 'pr-7' })
    expect(alias.done.body['state']).toBe('ready')
    const aliasUrl = alias.done.body['site_url'] as string
    expect(aliasUrl).toContain('//pr-7--')
    expect((await fetchSite(`${aliasUrl}/`)).body.toString()).toBe('preview!')

    const draft = await pushSite(gw, tenant, { 'index.html': 'draft!' }, { draft: true })
    expect(draft.done.body['site_url']).toBe(draft.done.body['deploy_ssl_url'])
    expect((await fetchSite(`${draft.done.body['deploy_ssl_url']}/`)).body.toString()).toBe(
      'draft!',
    )

    const production = (await fetchSite(`${alias.done.body['ssl_url']}/`)).body.toString()
    expect(production).not.toBe('preview!')
    expect(production).not.toBe('draft!')
  })

  describe('bad input gets its documented error and changes nothing', () => {
    let pushId: string
    let requiredSha: string
    beforeAll(async () => {
      const init = await api(gw, tenant.key, 'POST', '/v1/push-init', {
        project: tenant.projectName,
        files: { 'bad.txt': sha1('right body') },
      })
      pushId = String(init.body['pushId'])
      requiredSha = (init.body['required'] as string[])[0]!
    })

    const init = (files: unknown, extra: Record<string, unknown> = {}) => ({
      method: 'POST',
      path: '/v1/push-init',
      body: { project: 'P', files, ...extra },
    })
    const good = sha1('x')
    const cases: [
      string,
      () => {
        method: string
        path: string
        body?: unknown
        headers?: Record<string, string>
        key?: string | null
      },
      number,
      string,
    ][] = [
      ['bad sha', () => init({ 'a.txt': 'nothex' }), 400, 'invalid_request'],
      ['short sha', () => init({ 'a.txt': good.slice(1) }), 400, 'invalid_request'],
      ['.. path', () => init({ '../etc/passwd': good }), 400, 'invalid_request'],
      ['. segment', () => init({ 'a/./b': good }), 400, 'invalid_request'],
      ['absolute //path', () => init({ '//etc/passwd': good }), 400, 'invalid_request'],
      ['# in path', () => init({ 'a#b.html': good }), 400, 'invalid_request'],
      ['? in path', () => init({ 'a?b.html': good }), 400, 'invalid_request'],
      ['control char', () => init({ 'a\u0001b': good }), 400, 'invalid_request'],
      ['backslash', () => init({ 'a\\b': good }), 400, 'invalid_request'],
      ['trailing slash', () => init({ 'dir/': good }), 400, 'invalid_request'],
      [
        'duplicate after leading slash',
        () => init({ 'a.txt': good, '/a.txt': good }),
        400,
        'invalid_request',
      ],
      ['empty manifest', () => init({}), 400, 'invalid_request'],
      ['files not an object', () => init(['a.txt']), 400, 'invalid_request'],
      ['unknown field', () => init({ 'a.txt': good }, { bogus: 1 }), 400, 'invalid_request'],
      ['bad alias', () => init({ 'a.txt': good }, { alias: 'Feature/X' }), 400, 'invalid_request'],
      [
        'not JSON',
        () => ({
          method: 'POST',
          path: '/v1/push-init',
          body: '{"project":',
          headers: { 'content-type': 'application/json' },
        }),
        400,
        'invalid_json',
      ],
      [
        'unknown project',
        () => ({
          method: 'POST',
          path: '/v1/push-init',
          body: { project: 'nope', files: { 'a.txt': good } },
        }),
        404,
        'project_not_found',
      ],
      [
        "another customer's project",
        () => ({
          method: 'POST',
          path: '/v1/push-init',
          body: { project: other.projectId, files: { 'a.txt': good } },
        }),
        404,
        'project_not_found',
      ],
      ['missing key', () => ({ ...init({ 'a.txt': good }), key: null }), 401, 'unauthorized'],
      [
        'malformed key',
        () => ({ ...init({ 'a.txt': good }), key: 'kx_live_nope' }),
        401,
        'unauthorized',
      ],
      [
        'key with a bad checksum',
        () => ({
          ...init({ 'a.txt': good }),
          key: tenant.key.slice(0, -1) + (tenant.key.endsWith('A') ? 'B' : 'A'),
        }),
        401,
        'unauthorized',
      ],
      [
        "another customer's push (status)",
        () => ({ method: 'GET', path: `/v1/push-status?pushId=${pushId}`, key: other.key }),
        404,
        'not_found',
      ],
      [
        "another customer's push (upload)",
        () => ({
          method: 'PUT',
          path: `/v1/push-upload?pushId=${pushId}`,
          body: Buffer.from('right body'),
          headers: { 'x-content-sha1': requiredSha },
          key: other.key,
        }),
        404,
        'not_found',
      ],
      [
        "another customer's push (complete)",
        () => ({ method: 'POST', path: '/v1/push-complete', body: { pushId }, key: other.key }),
        404,
        'not_found',
      ],
      [
        'malformed push id',
        () => ({ method: 'GET', path: '/v1/push-status?pushId=../../x' }),
        400,
        'invalid_request',
      ],
      [
        'body differs from X-Content-Sha1',
        () => ({
          method: 'PUT',
          path: `/v1/push-upload?pushId=${pushId}`,
          body: Buffer.from('WRONG body'),
          headers: { 'x-content-sha1': requiredSha },
        }),
        422,
        'sha_mismatch',
      ],
      [
        'missing X-Content-Sha1',
        () => ({
          method: 'PUT',
          path: `/v1/push-upload?pushId=${pushId}`,
          body: Buffer.from('right body'),
        }),
        400,
        'invalid_request',
      ],
      [
        'SHA not in the push',
        () => ({
          method: 'PUT',
          path: `/v1/push-upload?pushId=${pushId}`,
          body: Buffer.from('other'),
          headers: { 'x-content-sha1': sha1('other') },
        }),
        422,
        'sha_not_in_push',
      ],
      [
        'complete before uploads',
        () => ({ method: 'POST', path: '/v1/push-complete', body: { pushId } }),
        409,
        'uploads_incomplete',
      ],
      ['unknown route', () => ({ method: 'GET', path: '/v1/nope' }), 404, 'not_found'],
    ]

    test.each(cases)('%s', async (_name, make, status, code) => {
      const c = make()
      const key = c.key === null ? undefined : (c.key ?? tenant.key)
      const before = await snapshotRows(gw)
      const res = await api(gw, key, c.method, c.path, c.body, c.headers)
      expect({ status: res.status, code: (res.body as any)?.error?.code }).toEqual({ status, code })
      expect(typeof (res.body as any).error.message).toBe('string')
      expect((res.body as any).requestId).toBe(res.headers.get('x-request-id'))
      expect(await snapshotRows(gw)).toEqual(before)
    })

    test('a wrong body never becomes a deploy file; the right one then completes', async () => {
      const ok = await api(
        gw,
        tenant.key,
        'PUT',
        `/v1/push-upload?pushId=${pushId}`,
        Buffer.from('right body'),
        { 'x-content-sha1': requiredSha },
      )
      expect(ok.status).toBe(200)
      const done = await api(gw, tenant.key, 'POST', '/v1/push-complete', { pushId, wait: true })
      expect(done.body['state']).toBe('ready')
      const page = await fetchSite(`${done.body['deploy_ssl_url']}/bad.txt`)
      expect(page.body.toString()).toBe('right body')
    })
  })
})
