import { createHash, randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  api,
  createTenant,
  databases,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { sha1 } from './helpers/pushes.ts'

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')
const FUNCTION_MAX = 4096

/**
 * Netlify Functions through the gateway (issue 13): push-init carries the zips' SHA-256s and
 * details, the gateway reserves their bytes, streams each required zip to Netlify verified by
 * SHA-256, refuses to complete while one is missing, and bills each distinct zip once, also
 * when Netlify kept a zip whose answer was lost.
 */
describe.each(databases())('functions on %s', (database) => {
  let gw: TestGateway
  let acme: Tenant
  let other: Tenant

  beforeAll(async () => {
    gw = await startTestGateway(database, { KAIXU_FUNCTION_MAX_BYTES: String(FUNCTION_MAX) })
    acme = await createTenant(gw, 'Acme')
    other = await createTenant(gw, 'Other')
  }, 180_000)
  afterAll(async () => {
    await gw?.stop()
  })

  const sandbox = (path: string, init?: RequestInit) => fetch(`${gw.url}/__sandbox${path}`, init)
  const stats = async () =>
    (await (await sandbox('/stats')).json()) as {
      functionPuts: number
      functionPutsByName: Record<string, number>
    }

  /** push-init with one page and the given zips (name → bytes). */
  function init(t: Tenant, zips: Record<string, Buffer>, page = randomBytes(30)) {
    return api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'index.html': sha1(page) },
      sizes: { 'index.html': page.length },
      functions: Object.fromEntries(Object.entries(zips).map(([n, z]) => [n, sha256(z)])),
      functionDetails: Object.fromEntries(
        Object.entries(zips).map(([n, z]) => [
          n,
          { size: z.length, runtime: 'js', timeout: 26, config: { routes: [] } },
        ]),
      ),
    }).then((res) => ({ res, page }))
  }

  const uploadPage = (t: Tenant, pushId: string, page: Buffer) =>
    api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, page, {
      'x-content-sha1': sha1(page),
    })

  const uploadFunction = (
    t: Tenant,
    pushId: string,
    name: string,
    zip: Buffer,
    sha = sha256(zip),
  ) =>
    api(gw, t.key, 'PUT', `/v1/push-upload-function?pushId=${pushId}&name=${name}`, zip, {
      'x-content-sha256': sha,
      'content-type': 'application/zip',
    })

  const usageBytes = async (pushId: string) =>
    Number(
      (
        await gw.db.query<{ bytes: string }>(
          'SELECT bytes FROM push_usage_events WHERE push_id = $1',
          [pushId],
        )
      )[0]?.bytes,
    )

  test('a push with functions uploads each required zip and bills its bytes', async () => {
    const zips = { hello: randomBytes(900), classic: randomBytes(700) }
    const before = await stats()
    const { res, page } = await init(acme, zips)
    expect(res.status).toBe(201)
    const pushId = String(res.body['pushId'])
    expect(res.body['requiredFunctions']).toEqual(['classic', 'hello'])
    expect((await uploadPage(acme, pushId, page)).status).toBe(200)

    // push-complete refuses while a function is missing, and names it.
    expect((await uploadFunction(acme, pushId, 'hello', zips.hello)).status).toBe(200)
    const early = await api(gw, acme.key, 'POST', '/v1/push-complete', { pushId })
    expect(early.status).toBe(409)
    expect(early.body['error'].code).toBe('uploads_incomplete')
    expect(early.body['error'].details.missingFunctions).toEqual(['classic'])

    const up = await uploadFunction(acme, pushId, 'classic', zips.classic)
    expect(up.status).toBe(200)
    expect(up.body).toMatchObject({ name: 'classic', bytes: 700, skipped: false })
    // Sent again: already in, nothing streamed to Netlify.
    expect((await uploadFunction(acme, pushId, 'classic', zips.classic)).body['skipped']).toBe(true)
    const done = await api(gw, acme.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')
    expect(await usageBytes(pushId)).toBe(page.length + 900 + 700)
    const after = await stats()
    expect(after.functionPuts - before.functionPuts).toBe(2)

    const audit = await gw.db.query<{ action: string; bytes: string }>(
      `SELECT action, bytes FROM audit_log WHERE push_id = $1 AND action = 'push.upload-function'
        ORDER BY id`,
      [pushId],
    )
    expect(audit.map((a) => Number(a.bytes))).toEqual([900, 700])

    // The same functions again: Netlify has them, nothing is required; the plan says so too.
    const again = await init(acme, zips)
    expect(again.res.body['requiredFunctions']).toEqual([])
    const changed = { ...zips, hello: randomBytes(800) }
    const plan = await api(gw, acme.key, 'POST', '/v1/push-plan', {
      project: acme.projectName,
      files: { 'index.html': sha1(page) },
      functions: { hello: sha256(changed.hello), classic: sha256(changed.classic) },
      functionDetails: {
        hello: { size: 800, runtime: 'js' },
        classic: { size: 700, runtime: 'js' },
      },
    })
    expect(plan.body['wouldUpload']).toMatchObject({ functions: ['hello'], functionBytes: 800 })
    await api(gw, acme.key, 'POST', '/v1/push-cancel', { pushId: again.res.body['pushId'] })
  })

  test('hostile uploads: wrong hash, unknown name, oversize, another tenant, a lying body', async () => {
    const zip = randomBytes(500)
    const { res } = await init(acme, { fn: zip })
    const pushId = String(res.body['pushId'])
    const before = await stats()

    // The header names another zip than push-init did.
    const wrongHeader = await uploadFunction(acme, pushId, 'fn', randomBytes(500))
    expect(wrongHeader.status).toBe(422)
    expect(wrongHeader.body['error'].code).toBe('sha_mismatch')
    // The header is right, the body is not: refused before Netlify keeps it.
    const lying = await uploadFunction(acme, pushId, 'fn', randomBytes(500), sha256(zip))
    expect(lying.status).toBe(422)
    expect(lying.body['error'].code).toBe('sha_mismatch')
    // A body longer than declared.
    const long = await uploadFunction(
      acme,
      pushId,
      'fn',
      Buffer.concat([zip, randomBytes(10)]),
      sha256(zip),
    )
    expect(long.status).toBe(400)

    const unknown = await uploadFunction(acme, pushId, 'nope', zip)
    expect(unknown.status).toBe(422)
    expect(unknown.body['error'].code).toBe('function_not_in_push')
    const badName = await uploadFunction(acme, pushId, '..%2Fx', zip)
    expect(badName.status).toBe(400)

    // Another tenant cannot see, let alone fill, this push.
    const foreign = await uploadFunction(other, pushId, 'fn', zip)
    expect(foreign.status).toBe(404)
    expect((await stats()).functionPuts).toBe(before.functionPuts)

    // Over KAIXU_FUNCTION_MAX_BYTES: refused at init, nothing created.
    const pushes = (await gw.db.query('SELECT id FROM pushes')).length
    const big = await init(acme, { big: randomBytes(FUNCTION_MAX + 1) })
    expect(big.res.status).toBe(413)
    expect(big.res.body['error'].details.name).toBe('big')
    expect((await gw.db.query('SELECT id FROM pushes')).length).toBe(pushes)

    // The honest upload still goes through afterwards.
    expect((await uploadFunction(acme, pushId, 'fn', zip)).status).toBe(200)
    await api(gw, acme.key, 'POST', '/v1/push-cancel', { pushId })
  })

  test('one zip under two names is reserved once and billed once', async () => {
    const zip = randomBytes(1000)
    const { res, page } = await init(acme, { one: zip, two: zip })
    const pushId = String(res.body['pushId'])
    expect(res.body['requiredFunctions']).toEqual(['one', 'two'])
    const [row] = await gw.db.query<{ bytes_reserved: string }>(
      'SELECT bytes_reserved FROM pushes WHERE id = $1',
      [pushId],
    )
    expect(Number(row!.bytes_reserved)).toBe(page.length + 1000)
    expect((await uploadPage(acme, pushId, page)).status).toBe(200)
    const [a, b] = await Promise.all([
      uploadFunction(acme, pushId, 'one', zip),
      uploadFunction(acme, pushId, 'two', zip),
    ])
    expect([a.status, b.status]).toEqual([200, 200])
    expect(Number(a.body['bytes']) + Number(b.body['bytes'])).toBe(1000)
    const done = await api(gw, acme.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')
    expect(await usageBytes(pushId)).toBe(page.length + 1000)
  })

  test('a zip Netlify kept but whose answer was lost is billed once at ready', async () => {
    const zip = randomBytes(1200)
    const { res, page } = await init(acme, { lost: zip })
    const pushId = String(res.body['pushId'])
    expect((await uploadPage(acme, pushId, page)).status).toBe(200)
    // Netlify takes the zip, then the connection drops before its answer.
    await sandbox('/faults', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { match: { method: 'PUT', path: '/functions/lost' }, drop: true, after: true },
      ]),
    })
    const up = await uploadFunction(acme, pushId, 'lost', zip)
    expect(up.status).toBeGreaterThanOrEqual(500)
    // The client never retries; Netlify publishes anyway, and a status read settles it.
    let state = ''
    for (let i = 0; i < 100 && state !== 'ready'; i++) {
      await sleep(100)
      state = String(
        (await api(gw, acme.key, 'GET', `/v1/push-status?pushId=${pushId}`)).body['state'],
      )
    }
    expect(state).toBe('ready')
    expect(await usageBytes(pushId)).toBe(page.length + 1200)
  })
})
