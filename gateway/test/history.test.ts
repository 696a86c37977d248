import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { api, createTenant, databases, startTestGateway } from './helpers/gateway.ts'
import type { TestGateway, Tenant } from './helpers/gateway.ts'
import { sha1 } from './helpers/pushes.ts'

describe.each(databases())('customer deploy history on %s', (database) => {
  let gw: TestGateway
  let a: Tenant
  let b: Tenant
  /** A's pushes in the order they were made. */
  const made: string[] = []

  /** One push of one fresh file: ready (uploaded and completed), cancelled, or left uploading. */
  async function push(t: Tenant, end: 'ready' | 'cancelled' | 'uploading') {
    const body = `<p>${randomBytes(8).toString('hex')}</p>`
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'index.html': sha1(body) },
      sizes: { 'index.html': Buffer.byteLength(body) },
    })
    expect(init.status).toBe(201)
    const pushId = init.body['pushId'] as string
    if (end === 'ready') {
      const up = await api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, body, {
        'x-content-sha1': sha1(body),
        'content-type': 'application/octet-stream',
      })
      expect(up.status).toBe(200)
      const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true })
      expect(done.body['state']).toBe('ready')
    } else if (end === 'cancelled') {
      expect((await api(gw, t.key, 'POST', '/v1/push-cancel', { pushId })).status).toBe(200)
    }
    return pushId
  }

  beforeAll(async () => {
    gw = await startTestGateway(database)
    a = await createTenant(gw, 'History A')
    b = await createTenant(gw, 'History B')
    for (const end of ['ready', 'cancelled', 'ready', 'uploading', 'ready'] as const) {
      made.push(await push(a, end))
    }
    await push(b, 'ready')
  }, 120_000)

  afterAll(async () => {
    await gw?.stop()
  })

  test('pages newest first by keyset, every push once, and says when there is no more', async () => {
    const seen: string[] = []
    let next: string | null = null
    let pages = 0
    do {
      const res = await api(
        gw,
        a.key,
        'GET',
        `/v1/pushes?limit=2${next ? `&before=${encodeURIComponent(next)}` : ''}`,
      )
      expect(res.status).toBe(200)
      expect(res.body['pushes'].length).toBeLessThanOrEqual(2)
      seen.push(...res.body['pushes'].map((p: { pushId: string }) => p.pushId))
      next = res.body['next'] as string | null
      pages++
    } while (next && pages < 10)
    expect(seen).toEqual([...made].reverse())
    expect(pages).toBe(3)
  })

  test('a page carries state, files, bytes, cost and URLs', async () => {
    const res = await api(gw, a.key, 'GET', '/v1/pushes?limit=1')
    expect(res.body['pushes'][0]).toMatchObject({
      pushId: made.at(-1),
      project: { id: a.projectId, name: a.projectName },
      state: 'ready',
      files: { total: 1, required: 1 },
      bytesUploaded: expect.any(Number),
      deploy_ssl_url: expect.stringMatching(/^http/),
    })
    expect(res.body['pushes'][0].bytesUploaded).toBeGreaterThan(0)
  })

  test('filters by state, project (id or name) and month', async () => {
    const ids = async (query: string) => {
      const res = await api(gw, a.key, 'GET', `/v1/pushes?${query}`)
      expect(res.status).toBe(200)
      return res.body['pushes'].map((p: { pushId: string }) => p.pushId) as string[]
    }
    expect(await ids('state=ready')).toEqual([made[4], made[2], made[0]])
    expect(await ids('state=cancelled')).toEqual([made[1]])
    expect(await ids('state=uploading')).toEqual([made[3]])
    expect(await ids(`project=${a.projectId}&state=ready`)).toHaveLength(3)
    expect(await ids(`project=${a.projectName}`)).toHaveLength(5)

    // Move the first push to last month: the month filter finds it there and only there.
    const rows = await gw.db.query<{ month: string; last: string }>(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
              to_char((created_at AT TIME ZONE 'UTC') - interval '1 month', 'YYYY-MM') AS last
         FROM pushes WHERE id = $1`,
      [made[0]],
    )
    const { month, last } = rows[0]!
    await gw.db.query(
      `UPDATE pushes SET created_at = created_at - interval '1 month' WHERE id = $1`,
      [made[0]],
    )
    try {
      expect(await ids(`month=${last}`)).toEqual([made[0]])
      expect(await ids(`month=${month}`)).toEqual([made[4], made[3], made[2], made[1]])
      expect(await ids('month=2001-01')).toEqual([])
    } finally {
      await gw.db.query(
        `UPDATE pushes SET created_at = created_at + interval '1 month' WHERE id = $1`,
        [made[0]],
      )
    }
  })

  test('the detail has files, bytes, timings, Netlify state and error', async () => {
    const res = await api(gw, a.key, 'GET', `/v1/pushes/${made[0]}`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      pushId: made[0],
      state: 'ready',
      netlifyState: 'ready',
      error_message: null,
      files: { total: 1, required: 1, uploaded: 1 },
      fileList: [
        { path: 'index.html', required: true, sha1: expect.stringMatching(/^[0-9a-f]{40}$/) },
      ],
      filesNext: null,
      timings: { durationMs: expect.any(Number), createdAt: expect.any(String) },
    })
    expect(res.body['bytesUploaded']).toBeGreaterThan(0)
    expect(res.body['fileList'][0].uploadedAt).toEqual(expect.any(String))
    const cancelled = await api(gw, a.key, 'GET', `/v1/pushes/${made[1]}`)
    expect(cancelled.body).toMatchObject({
      state: 'cancelled',
      fileList: [{ required: true, uploadedAt: null }],
    })
  })

  test('tenants never see each other: lists, ids and project filters', async () => {
    const bList = await api(gw, b.key, 'GET', '/v1/pushes?limit=100')
    expect(bList.body['pushes']).toHaveLength(1)
    expect(bList.body['pushes'][0].project.id).toBe(b.projectId)
    const bId = bList.body['pushes'][0].pushId as string

    for (const [key, id] of [
      [b.key, made[0]!],
      [a.key, bId],
    ] as const) {
      const res = await api(gw, key, 'GET', `/v1/pushes/${id}`)
      expect(res.status).toBe(404)
      expect(res.body['error'].code).toBe('not_found')
    }
    const other = await api(gw, b.key, 'GET', `/v1/pushes?project=${a.projectId}`)
    expect(other.status).toBe(404)
    expect(other.body['error'].code).toBe('project_not_found')
    // A's cursor in B's hands pages B's history only.
    const aPage = await api(gw, a.key, 'GET', '/v1/pushes?limit=1')
    const bPaged = await api(gw, b.key, 'GET', `/v1/pushes?before=${aPage.body['next']}`)
    expect(
      bPaged.body['pushes'].every((p: { project: { id: string } }) => p.project.id === b.projectId),
    ).toBe(true)
    expect((await api(gw, undefined, 'GET', '/v1/pushes')).status).toBe(401)
  })

  test.each([
    ['state=bogus', 'query.state'],
    ['month=2026-13', 'query.month'],
    ['month=26-01', 'query.month'],
    ['limit=0', 'query.limit'],
    ['limit=101', 'query.limit'],
    ['limit=2.5', 'query.limit'],
    ['before=yesterday', 'query.before'],
    ['before=2026-01-01T00:00:00.000Z_push_x', 'query.before'],
    ['project=../x', 'query.project'],
    ['state=ready&state=error', 'query.state'],
    ['page=2', 'query'],
  ])('GET /v1/pushes?%s is a 400 naming %s', async (query, path) => {
    const res = await api(gw, a.key, 'GET', `/v1/pushes?${query}`)
    expect(res.status).toBe(400)
    expect(res.body['error'].code).toBe('invalid_request')
    expect(JSON.stringify(res.body['error'].details)).toContain(path)
  })

  test.each([
    ['/v1/pushes/not-a-push', 'path.id'],
    ['/v1/pushes/push_aaaaaaaaaaaaaaaaaaaa?filesLimit=0', 'query.filesLimit'],
    ['/v1/pushes/push_aaaaaaaaaaaaaaaaaaaa?files=1', 'query'],
    // Postgres text cannot hold NUL: unchecked, this would be a 500 from the database.
    ['/v1/pushes/{push}?filesAfter=a%00b', 'query.filesAfter'],
    ['/v1/pushes/{push}?filesAfter=a%0Ab', 'query.filesAfter'],
  ])('GET %s is a 400 naming %s', async (path, where) => {
    const res = await api(gw, a.key, 'GET', path.replace('{push}', made[0]!))
    expect(res.status).toBe(400)
    expect(res.body['error'].code).toBe('invalid_request')
    expect(JSON.stringify(res.body['error'].details)).toContain(where)
  })

  test('an unknown push id of the right shape is a 404', async () => {
    const res = await api(gw, a.key, 'GET', '/v1/pushes/push_aaaaaaaaaaaaaaaaaaaa')
    expect(res.status).toBe(404)
  })

  test('files page by path', async () => {
    const files: Record<string, string> = {}
    for (const name of ['a.html', 'b.html', 'c.html']) files[name] = sha1(`${name}${Math.random()}`)
    const init = await api(gw, b.key, 'POST', '/v1/push-init', { project: b.projectName, files })
    const id = init.body['pushId'] as string
    const first = await api(gw, b.key, 'GET', `/v1/pushes/${id}?filesLimit=2`)
    expect(first.body['fileList'].map((f: { path: string }) => f.path)).toEqual([
      'a.html',
      'b.html',
    ])
    expect(first.body['filesNext']).toBe('b.html')
    const second = await api(gw, b.key, 'GET', `/v1/pushes/${id}?filesLimit=2&filesAfter=b.html`)
    expect(second.body['fileList'].map((f: { path: string }) => f.path)).toEqual(['c.html'])
    expect(second.body['filesNext']).toBeNull()
    await api(gw, b.key, 'POST', '/v1/push-cancel', { pushId: id })
  })

  test('DELETE /v1/projects/:project removes the own project; its history stays readable', async () => {
    const t = await createTenant(gw, 'History C')
    const pushId = await push(t, 'cancelled')
    const foreign = await api(gw, b.key, 'DELETE', `/v1/projects/${t.projectId}`)
    expect(foreign.status).toBe(404)
    expect(foreign.body['error'].code).toBe('project_not_found')
    expect((await api(gw, t.key, 'DELETE', '/v1/projects/a%20b')).status).toBe(400)

    const gone = await api(gw, t.key, 'DELETE', `/v1/projects/${t.projectName}`)
    expect(gone.status).toBe(200)
    expect(gone.body).toMatchObject({ id: t.projectId, removed: true })
    expect((await api(gw, t.key, 'GET', '/v1/projects')).body['projects']).toEqual([])
    const history = await api(gw, t.key, 'GET', `/v1/pushes?project=${t.projectName}`)
    expect(history.body['pushes'].map((p: { pushId: string }) => p.pushId)).toEqual([pushId])
    expect((await api(gw, t.key, 'DELETE', `/v1/projects/${t.projectName}`)).status).toBe(404)
  })
})
