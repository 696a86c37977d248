import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  api,
  createTenant,
  databases,
  scratchPostgres,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { cliJson, runCli } from './helpers/processes.ts'
import { until } from './helpers/until.ts'
import { sha1 } from './helpers/pushes.ts'

const ADMIN = 'admin-token-for-webhook-tests-0123456789'

interface Received {
  path: string
  headers: IncomingHttpHeaders
  raw: string
  body: {
    id: string
    type: string
    sequence: number
    customerId: string | null
    data: Record<string, unknown>
  }
}

/**
 * A real HTTP receiver on loopback. Each path answers from its plan (status codes in turn, the
 * last one repeating; 200 by default) and every request is kept.
 */
async function startReceiver() {
  const received: Received[] = []
  const plans = new Map<string, number[]>()
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      received.push({ path: req.url!, headers: req.headers, raw, body: JSON.parse(raw) })
      const plan = plans.get(req.url!) ?? [200]
      const status = plan.length > 1 ? plan.shift()! : plan[0]!
      if (status >= 300 && status < 400) res.setHeader('location', '/elsewhere')
      res.writeHead(status).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    received,
    plans,
    url: (path: string) => base + path,
    at: (path: string) => received.filter((r) => r.path === path),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** Verifies `Kaixu-Signature` exactly as docs/api.md tells receivers to. */
function verify(secret: string, header: string, raw: string): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]))
  const expected = createHmac('sha256', secret).update(`${parts['t']}.${raw}`).digest()
  const given = Buffer.from(parts['v1'] ?? '', 'hex')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** Signs in to the dashboard as a browser would (login form, CSRF, cookies); answers a client. */
async function dashboard(gw: TestGateway) {
  const cookieOf = (res: Response) =>
    res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .filter((c) => !c.endsWith('='))
      .join('; ')
  const csrfOf = (page: string) => /name="_csrf" value="([^"]+)"/.exec(page)![1]!
  const login = await fetch(`${gw.url}/admin/login`)
  const form = new URLSearchParams({ token: ADMIN, _csrf: csrfOf(await login.text()) })
  const signedIn = await fetch(`${gw.url}/admin/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookieOf(login), 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  })
  const cookie = cookieOf(signedIn)
  const get = async (path: string) => {
    const res = await fetch(gw.url + path, { headers: { cookie } })
    return { status: res.status, text: await res.text() }
  }
  const post = async (path: string, fields: Record<string, string> = {}) => {
    const csrf = csrfOf((await get('/admin/webhooks')).text)
    const res = await fetch(gw.url + path, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, ...fields }),
    })
    return { status: res.status, text: await res.text(), location: res.headers.get('location') }
  }
  return { get, post }
}

async function push(gw: TestGateway, t: Tenant, content: string) {
  const init = await api(gw, t.key, 'POST', '/v1/push-init', {
    project: t.projectName,
    files: { 'index.html': sha1(content) },
  })
  if (init.status !== 201) return init
  const pushId = init.body['pushId'] as string
  for (const sha of init.body['required'] as string[]) {
    const up = await api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, content, {
      'x-content-sha1': sha,
      'content-type': 'application/octet-stream',
    })
    expect(up.status).toBe(200)
  }
  const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true })
  expect(done.body['state']).toBe('ready')
  return done
}

const admin = (gw: TestGateway, method: string, path: string, body?: unknown) =>
  api(gw, ADMIN, method, `/admin/api${path}`, body)

describe.each(databases())('webhooks on %s', (database) => {
  let gw: TestGateway
  let rx: Awaited<ReturnType<typeof startReceiver>>
  let acme: Tenant
  let globex: Tenant
  let acmeSecret: string
  let operatorSecret: string
  // The gateway's clock runs ahead by `ahead` once the expiry test moves it (the last test).
  let ahead = 0
  const clock = { now: () => new Date(Date.now() + ahead) }

  beforeAll(async () => {
    rx = await startReceiver()
    gw = await startTestGateway(
      database,
      {
        KAIXU_ADMIN_TOKEN: ADMIN,
        KAIXU_WEBHOOK_ATTEMPTS: '3',
        KAIXU_WEBHOOK_RETRY_DELAY_SECONDS: '1',
        KAIXU_WEBHOOK_DISABLE_AFTER: '3',
        // One run per background job, so a failing job is dead at once (the job.dead test).
        KAIXU_JOB_ATTEMPTS: '1',
      },
      { clock },
    )
    acme = await createTenant(gw, 'Acme')
    globex = await createTenant(gw, 'Globex')
    const own = await api(gw, acme.key, 'POST', '/v1/webhooks', { url: rx.url('/acme') })
    expect(own.status).toBe(201)
    acmeSecret = own.body['secret']
    const theirs = await api(gw, globex.key, 'POST', '/v1/webhooks', { url: rx.url('/globex') })
    expect(theirs.status).toBe(201)
    const op = await admin(gw, 'POST', '/webhooks', { url: rx.url('/operator') })
    expect(op.status).toBe(201)
    expect(op.body['endpoint']['customerId']).toBeNull()
    operatorSecret = op.body['secret']
  })
  afterAll(async () => {
    await gw?.stop()
    await rx?.close()
  })

  test('a ready push reaches its customer and the operator, signed, with no secret inside', async () => {
    const done = await push(gw, acme, '<h1>signed</h1>')
    const pushId = done.body['pushId']
    const [toAcme, toOperator] = await Promise.all(
      ['/acme', '/operator'].map((path) =>
        until(`push.ready at ${path}`, () =>
          rx.at(path).find((r) => r.body.type === 'push.ready' && r.body.data['pushId'] === pushId),
        ),
      ),
    )
    expect(toAcme!.body).toMatchObject({
      id: expect.stringMatching(/^evt_/),
      customerId: acme.customerId,
      data: { pushId, project: acme.projectName, state: 'ready' },
    })
    expect(toAcme!.headers['kaixu-event-id']).toBe(toAcme!.body.id)
    expect(verify(acmeSecret, toAcme!.headers['kaixu-signature'] as string, toAcme!.raw)).toBe(true)
    expect(
      verify(operatorSecret, toOperator!.headers['kaixu-signature'] as string, toOperator!.raw),
    ).toBe(true)
    // One endpoint's secret does not sign for another, and a changed body fails verification.
    expect(verify(operatorSecret, toAcme!.headers['kaixu-signature'] as string, toAcme!.raw)).toBe(
      false,
    )
    expect(
      verify(acmeSecret, toAcme!.headers['kaixu-signature'] as string, toAcme!.raw + ' '),
    ).toBe(false)
    for (const r of rx.received) {
      const seen = r.raw + JSON.stringify(r.headers)
      for (const secret of [acmeSecret, operatorSecret, acme.key, acme.netlifyToken, ADMIN]) {
        expect(seen).not.toContain(secret)
      }
    }
    // Secrets are stored vaulted: the clear text is nowhere in the table.
    const rows = await gw.db.query('SELECT * FROM webhook_endpoints')
    expect(JSON.stringify(rows)).not.toContain(acmeSecret)
    // Listing never shows the secret again.
    const listed = await api(gw, acme.key, 'GET', '/v1/webhooks')
    expect(JSON.stringify(listed.body)).not.toContain(acmeSecret)
  })

  test('nothing is delivered across tenants, and ids of another tenant are unknown', async () => {
    const done = await push(gw, acme, '<h1>tenant</h1>')
    await until('push.ready at /acme', () =>
      rx.at('/acme').find((r) => r.body.data['pushId'] === done.body['pushId']),
    )
    // Deliveries are created with the event, in one transaction: none went to Globex.
    expect(rx.at('/globex').filter((r) => r.body.customerId === acme.customerId)).toEqual([])
    const globexDeliveries = await api(gw, globex.key, 'GET', '/v1/webhook-deliveries')
    expect(globexDeliveries.status).toBe(200)
    expect(globexDeliveries.body['deliveries']).toEqual([])
    const globexEndpoints = await api(gw, globex.key, 'GET', '/v1/webhooks')
    expect(globexEndpoints.body['endpoints']).toHaveLength(1)
    expect(globexEndpoints.body['endpoints'][0]['url']).toBe(rx.url('/globex'))

    const acmeDeliveries = await api(gw, acme.key, 'GET', '/v1/webhook-deliveries')
    const acmeDelivery = acmeDeliveries.body['deliveries'][0]
    const acmeEndpoint = (await api(gw, acme.key, 'GET', '/v1/webhooks')).body['endpoints'][0]
    expect(
      (await api(gw, globex.key, 'POST', `/v1/webhook-deliveries/${acmeDelivery.id}/resend`))
        .status,
    ).toBe(404)
    expect((await api(gw, globex.key, 'DELETE', `/v1/webhooks/${acmeEndpoint.id}`)).status).toBe(
      404,
    )
    expect(
      (await api(gw, globex.key, 'GET', `/v1/webhook-deliveries?endpointId=${acmeEndpoint.id}`))
        .status,
    ).toBe(404)
  })

  test('a 500 is retried with backoff until the receiver takes it; each attempt is recorded', async () => {
    const created = await api(gw, globex.key, 'POST', '/v1/webhooks', {
      url: rx.url('/flaky'),
      events: ['push.ready'],
    })
    rx.plans.set('/flaky', [500, 200])
    const done = await push(gw, globex, '<h1>flaky</h1>')
    const hits = await until('two attempts at /flaky', () => {
      const h = rx.at('/flaky').filter((r) => r.body.data['pushId'] === done.body['pushId'])
      return h.length >= 2 ? h : undefined
    })
    expect(hits[0]!.body.id).toBe(hits[1]!.body.id) // the same event, sent again
    const endpointId = created.body['endpoint']['id']
    const delivery = await until('the delivery to be delivered', async () => {
      const list = await api(
        gw,
        globex.key,
        'GET',
        `/v1/webhook-deliveries?endpointId=${endpointId}`,
      )
      const d = list.body['deliveries'][0]
      return d?.status === 'delivered' ? d : undefined
    })
    expect(delivery).toMatchObject({ attempts: 2, lastStatusCode: 200, eventType: 'push.ready' })
    const attempts = await api(
      gw,
      globex.key,
      'GET',
      `/v1/webhook-deliveries/${delivery.id}/attempts`,
    )
    expect(attempts.body['attempts'].map((a: { statusCode: number }) => a.statusCode)).toEqual([
      500, 200,
    ])

    // Resend: the same event again, one more attempt recorded.
    const resent = await api(gw, globex.key, 'POST', `/v1/webhook-deliveries/${delivery.id}/resend`)
    expect(resent.status).toBe(202)
    await until('the resent event', () => {
      const h = rx.at('/flaky').filter((r) => r.body.id === hits[0]!.body.id)
      return h.length >= 3 ? h : undefined
    })
    await until('three recorded attempts', async () => {
      const a = await api(gw, globex.key, 'GET', `/v1/webhook-deliveries/${delivery.id}/attempts`)
      return a.body['attempts'].length === 3 || undefined
    })
  })

  test("one push's events carry increasing sequence numbers: ready, then the cap warning, then cap exceeded", async () => {
    const initech = await createTenant(gw, 'Initech')
    await admin(gw, 'PUT', `/customers/${initech.customerId}/limits`, { deploysPerMonth: 1 })
    await api(gw, initech.key, 'POST', '/v1/webhooks', { url: rx.url('/initech') })
    const done = await push(gw, initech, '<h1>capped</h1>')
    const refused = await api(gw, initech.key, 'POST', '/v1/push-init', {
      project: initech.projectName,
      files: { 'index.html': sha1('<h1>over</h1>') },
    })
    expect(refused.status).toBe(402)
    const events = await until('three events at /initech', () => {
      const h = rx.at('/initech')
      return h.length >= 3 ? h.map((r) => r.body) : undefined
    })
    const ordered = [...events].sort((a, b) => a.sequence - b.sequence)
    expect(ordered.map((e) => e.type)).toEqual(['push.ready', 'cap.warning', 'cap.exceeded'])
    expect(ordered[0]!.data['pushId']).toBe(done.body['pushId'])
    expect(ordered[1]!.data).toMatchObject({ limit: 'deploys', used: 1, max: 1 })
    // Once a month and limit: a second refusal sends no second cap.exceeded.
    await api(gw, initech.key, 'POST', '/v1/push-init', {
      project: initech.projectName,
      files: { 'index.html': sha1('<h1>over again</h1>') },
    })
    const rows = await gw.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM webhook_events WHERE type = 'cap.exceeded' AND customer_id = $1",
      [initech.customerId],
    )
    expect(rows[0]!.n).toBe(1)
  })

  test('an endpoint that keeps failing is disabled and the operator is told', async () => {
    const hooli = await createTenant(gw, 'Hooli')
    const created = await api(gw, hooli.key, 'POST', '/v1/webhooks', { url: rx.url('/down') })
    const endpointId = created.body['endpoint']['id']
    rx.plans.set('/down', [503])
    await push(gw, hooli, '<h1>down</h1>')
    const notice = await until('webhook.disabled at /operator', () =>
      rx
        .at('/operator')
        .find(
          (r) => r.body.type === 'webhook.disabled' && r.body.data['endpointId'] === endpointId,
        ),
    )
    expect(notice.body.customerId).toBeNull()
    expect(notice.body.data['reason']).toMatch(/3 failed attempts in a row; last: HTTP 503/)
    expect(rx.at('/down')).toHaveLength(3)
    const listed = (await api(gw, hooli.key, 'GET', '/v1/webhooks')).body['endpoints'][0]
    expect(listed).toMatchObject({ enabled: false, consecutiveFailures: 3 })
    const audit = await gw.db.query<{ details: { endpointId: string } }>(
      "SELECT details FROM audit_log WHERE action = 'webhook.disabled'",
    )
    expect(audit.map((a) => a.details.endpointId)).toContain(endpointId)
    // The customer never hears about other endpoints being disabled.
    expect(rx.at('/globex').some((r) => r.body.type === 'webhook.disabled')).toBe(false)
    // Resending to a disabled endpoint is refused until it is enabled again.
    const delivery = (await api(gw, hooli.key, 'GET', '/v1/webhook-deliveries')).body[
      'deliveries'
    ][0]
    const refused = await api(gw, hooli.key, 'POST', `/v1/webhook-deliveries/${delivery.id}/resend`)
    expect(refused.status).toBe(409)
    rx.plans.set('/down', [200])
    expect((await api(gw, hooli.key, 'POST', `/v1/webhooks/${endpointId}/enable`)).status).toBe(200)
    expect(
      (await api(gw, hooli.key, 'POST', `/v1/webhook-deliveries/${delivery.id}/resend`)).status,
    ).toBe(202)
    await until('the resent delivery', async () => {
      const d = (await api(gw, hooli.key, 'GET', '/v1/webhook-deliveries')).body['deliveries'][0]
      return d.status === 'delivered' || undefined
    })
  })

  test('redirects are not followed: a 3xx is a failed attempt', async () => {
    const created = await admin(gw, 'POST', '/webhooks', {
      url: rx.url('/moved'),
      events: ['invoice.finalized'],
      customerId: acme.customerId,
    })
    expect(created.status).toBe(201)
    rx.plans.set('/moved', [302, 200])
    await gw.db.transaction((tx) => gw.webhooks.invoiceFinalized(tx, acme.customerId, '2026-01'))
    const hits = await until('two attempts at /moved', () =>
      rx.at('/moved').length >= 2 ? rx.at('/moved') : undefined,
    )
    expect(rx.at('/elsewhere')).toEqual([])
    expect(hits.map((h) => h.body.type)).toEqual(['invoice.finalized', 'invoice.finalized'])
    const deliveries = await admin(
      gw,
      'GET',
      `/webhook-deliveries?endpointId=${created.body['endpoint']['id']}`,
    )
    const attempts = await until('both attempts recorded', async () => {
      const a = await admin(
        gw,
        'GET',
        `/webhook-deliveries/${deliveries.body['deliveries'][0].id}/attempts`,
      )
      return a.body['attempts'].length === 2 ? a.body['attempts'] : undefined
    })
    expect(attempts.map((a: { statusCode: number }) => a.statusCode)).toEqual([302, 200])
  })

  test('the dashboard lists endpoints and deliveries, adds an endpoint once-secret, resends', async () => {
    const ui = await dashboard(gw)
    const added = await ui.post('/admin/webhooks', {
      url: rx.url('/from-dashboard'),
      customerId: '',
      events: 'invoice.finalized',
    })
    expect(added.status).toBe(201)
    const secret = /whsec_[\w-]+/.exec(added.text)![0]
    const page = await ui.get('/admin/webhooks')
    expect(page.status).toBe(200)
    expect(page.text).toContain(rx.url('/from-dashboard'))
    expect(page.text).not.toContain(secret) // shown once, on the answer to the form only
    // A delivery of its own to show, with its state.
    await gw.db.transaction((tx) => gw.webhooks.invoiceFinalized(tx, globex.customerId, '2025-07'))
    await until('the invoice event at /from-dashboard', () =>
      rx.at('/from-dashboard').find((r) => r.body.customerId === globex.customerId),
    )
    const listed = await until('a delivered row', async () => {
      const p = await ui.get('/admin/webhooks')
      return /badge-delivered/.test(p.text) ? p.text : undefined
    })
    expect(listed).toContain('invoice.finalized')
    // A disabled endpoint is called out at the top of the page with its reason.
    const endpointId = /whe_\w{20}/.exec(added.text)![0]
    await gw.db.query(
      "UPDATE webhook_endpoints SET enabled = false, disabled_at = now(), disabled_reason = 'test: <b>x</b>' WHERE id = $1",
      [endpointId],
    )
    const flagged = await ui.get('/admin/webhooks')
    expect(flagged.text).toContain('webhook.disabled:')
    expect(flagged.text).toContain('test: &lt;b&gt;x&lt;/b&gt;') // escaped, never markup
    expect(flagged.text).toContain(`/admin/webhooks/${endpointId}/enable`)
    expect((await ui.post(`/admin/webhooks/${endpointId}/enable`)).status).toBe(303)
    const deliveryId = /\/admin\/webhook-deliveries\/(whd_\w+)\/resend/.exec(flagged.text)![1]!
    const before = rx.received.length
    const resent = await ui.post(`/admin/webhook-deliveries/${deliveryId}/resend`)
    expect([resent.status, resent.location]).toEqual([303, `/admin/webhooks?resent=${deliveryId}`])
    await until('the resent delivery', () => rx.received.length > before || undefined)
    const bad = await ui.post('/admin/webhooks', { url: 'ftp://x', customerId: '' })
    expect(bad.status).toBe(400)
  })

  // Remote mode does not depend on the database; once is enough.
  const onPglite = database === 'pglite' ? test : test.skip
  onPglite(
    'kaixu-gateway webhooks add|list|deliveries|resend|remove through the admin API',
    async () => {
      const env = {
        KAIXU_DATA_DIR: gw.dataDir,
        KAIXU_ADMIN_TOKEN: ADMIN,
        KAIXU_GATEWAY_URL: gw.url,
        LOG_LEVEL: 'silent',
      }
      const cli = cliJson(env)
      const added = await cli(
        'webhooks',
        'add',
        '--url',
        rx.url('/cli'),
        '--customer',
        globex.customerId,
        '--events',
        'invoice.finalized',
      )
      expect(added['secret']).toMatch(/^whsec_/)
      const id = added['endpoint']['id']
      const listed = await cli('webhooks', 'list', '--customer', globex.customerId)
      expect(listed['endpoints'].map((e: { id: string }) => e.id)).toContain(id)
      expect(JSON.stringify(listed)).not.toContain(added['secret'])
      await gw.db.transaction((tx) =>
        gw.webhooks.invoiceFinalized(tx, globex.customerId, '2025-08'),
      )
      const delivery = await until('a delivered delivery', async () => {
        const d = (await cli('webhooks', 'deliveries', '--endpoint', id))['deliveries'][0]
        return d?.status === 'delivered' ? d : undefined
      })
      const before = rx.at('/cli').length
      await cli('webhooks', 'resend', '--id', delivery.id)
      await until('the resent event', () => rx.at('/cli').length > before || undefined)
      expect(
        rx
          .at('/cli')
          .every((r) => verify(added['secret'], r.headers['kaixu-signature'] as string, r.raw)),
      ).toBe(true)
      await cli('webhooks', 'remove', '--id', id)
      expect(
        (await cli('webhooks', 'list'))['endpoints'].map((e: { id: string }) => e.id),
      ).not.toContain(id)
      const bad = await runCli(['webhooks', 'add', '--url', 'ftp://example.com'], env)
      expect(bad.code).toBe(1)
      expect(bad.stderr).toMatch(/http:\/\/ or https:\/\//)
    },
  )

  test('signing secrets follow vault rotation; startup refuses a keyring without their key', async () => {
    const ring = (...ids: string[]) => ids.map((id) => `${id}:${keys[id]}`).join(',')
    const keys: Record<string, string> = {
      w1: randomBytes(32).toString('base64'),
      w2: randomBytes(32).toString('base64'),
    }
    const dir = await mkdtemp(join(tmpdir(), 'kaixu-webhook-vault-'))
    const pg = database === 'postgres' ? await scratchPostgres() : undefined
    // One database across restarts: the data dir (PGlite) or a scratch Postgres of its own.
    const env = {
      KAIXU_DATA_DIR: dir,
      KAIXU_ADMIN_TOKEN: ADMIN,
      ...(pg ? { DATABASE_URL: pg.url } : {}),
    }
    try {
      let g = await startTestGateway('pglite', { ...env, KAIXU_VAULT_KEYS: ring('w1') })
      const created = await admin(g, 'POST', '/webhooks', {
        url: rx.url('/rotated'),
        events: ['invoice.finalized'],
      })
      const secret = created.body['secret'] as string
      const customer = await g.accounts.createCustomer('Rotated', 'test')
      await g.stop()
      await expect(
        startTestGateway('pglite', { ...env, KAIXU_VAULT_KEYS: ring('w2') }),
      ).rejects.toThrow(/lacks 'w1' \(1 webhook secret/)
      g = await startTestGateway('pglite', { ...env, KAIXU_VAULT_KEYS: ring('w2', 'w1') })
      const rotated = await admin(g, 'POST', '/vault/rotate')
      expect(rotated.body).toMatchObject({ rotated: 1, failed: [], status: { pending: 0 } })
      expect(rotated.body['status']['webhookSecretsByKey']).toEqual({ w2: 1 })
      await g.stop()
      g = await startTestGateway('pglite', { ...env, KAIXU_VAULT_KEYS: ring('w2') })
      try {
        await g.db.transaction((tx) => g.webhooks.invoiceFinalized(tx, customer.id, '2025-09'))
        const hit = await until('the event at /rotated', () => rx.at('/rotated')[0])
        expect(verify(secret, hit.headers['kaixu-signature'] as string, hit.raw)).toBe(true)
      } finally {
        await g.stop()
      }
    } finally {
      await pg?.drop()
      await rm(dir, { recursive: true, force: true })
    }
  })

  const sandbox = (method: string, path: string, body?: unknown) =>
    fetch(`${gw.url}/__sandbox${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })

  test('a token Netlify rejects sends token.rejected to the customer, without the token', async () => {
    const umbrella = await createTenant(gw, 'Umbrella')
    await api(gw, umbrella.key, 'POST', '/v1/webhooks', { url: rx.url('/umbrella') })
    expect((await sandbox('POST', '/tokens/revoke', { token: umbrella.netlifyToken })).ok).toBe(
      true,
    )
    const refused = await api(gw, umbrella.key, 'POST', '/v1/push-init', {
      project: umbrella.projectName,
      files: { 'index.html': sha1('<h1>revoked</h1>') },
    })
    expect(refused.body['error']['code']).toBe('netlify_token_rejected')
    const event = await until('token.rejected at /umbrella', () =>
      rx.at('/umbrella').find((r) => r.body.type === 'token.rejected'),
    )
    expect(event.body).toMatchObject({
      customerId: umbrella.customerId,
      data: { netlifyStatus: 401 },
    })
    expect(event.raw).not.toContain(umbrella.netlifyToken)
  })

  test('a job that used every attempt sends job.dead to the operator only', async () => {
    const wayne = await createTenant(gw, 'Wayne')
    await api(gw, wayne.key, 'POST', '/v1/webhooks', { url: rx.url('/wayne') })
    const content = '<h1>dead job</h1>'
    const init = await api(gw, wayne.key, 'POST', '/v1/push-init', {
      project: wayne.projectName,
      files: { 'index.html': sha1(content) },
    })
    const pushId = init.body['pushId'] as string
    await api(gw, wayne.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, content, {
      'x-content-sha1': sha1(content),
      'content-type': 'application/octet-stream',
    })
    // Netlify keeps failing the status poll: the finalize job's one attempt fails, so it is dead.
    const faults = await sandbox('POST', '/faults', {
      match: { method: 'GET', pathRegex: '/deploys/[^/]+$' },
      status: 503,
      times: 1000,
    })
    expect(faults.status).toBe(201)
    try {
      const complete = await api(gw, wayne.key, 'POST', '/v1/push-complete', { pushId })
      expect(complete.status).toBe(202)
      const dead = await until('job.dead at /operator', () =>
        rx
          .at('/operator')
          .find((r) => r.body.type === 'job.dead' && r.body.data['queue'] === 'push-finalize'),
      )
      expect(dead.body.customerId).toBeNull()
      expect(dead.body.data['jobId']).toEqual(expect.any(String))
      expect(rx.at('/wayne').some((r) => r.body.type === 'job.dead')).toBe(false)
    } finally {
      await sandbox('DELETE', '/faults')
    }
  })

  test('bad endpoints are refused with 400/404, never a 500', async () => {
    const bad = [
      { url: 'ftp://example.com/hook' },
      { url: 'file:///etc/passwd' },
      { url: 'javascript:alert(1)' },
      { url: 'http://user:pass@example.com/hook' },
      { url: 'not a url' },
      { url: rx.url('/x'), events: ['push.exploded'] },
      { url: rx.url('/x'), extra: true },
      {},
    ]
    for (const body of bad) {
      const res = await api(gw, acme.key, 'POST', '/v1/webhooks', body)
      expect([res.status, res.body['error']?.['code']]).toEqual([400, 'invalid_request'])
    }
    // A customer cannot name another customer; the operator naming an unknown one gets 404.
    const named = await api(gw, acme.key, 'POST', '/v1/webhooks', {
      url: rx.url('/x'),
      customerId: globex.customerId,
    })
    expect(named.status).toBe(400)
    const unknown = await admin(gw, 'POST', '/webhooks', {
      url: rx.url('/x'),
      customerId: 'cus_00000000000000000000',
    })
    expect([unknown.status, unknown.body['error']['code']]).toEqual([404, 'not_found'])
    expect((await api(gw, acme.key, 'DELETE', '/v1/webhooks/nope')).status).toBe(400)
    expect((await api(gw, acme.key, 'GET', '/v1/webhook-deliveries?limit=0')).status).toBe(400)
  })

  // Last in the suite: it moves the gateway's clock past the idle timeout.
  test('an abandoned push that expires sends push.expired to its customer and the operator', async () => {
    const init = await api(gw, acme.key, 'POST', '/v1/push-init', {
      project: acme.projectName,
      files: { 'left.html': sha1('<h1>left behind</h1>') },
    })
    expect(init.status).toBe(201)
    const pushId = init.body['pushId'] as string
    ahead += (3600 + 1) * 1000
    await gw.pushes.sweep()
    const [toAcme] = await Promise.all(
      ['/acme', '/operator'].map((path) =>
        until(`push.expired at ${path}`, () =>
          rx
            .at(path)
            .find((r) => r.body.type === 'push.expired' && r.body.data['pushId'] === pushId),
        ),
      ),
    )
    expect(toAcme!.body).toMatchObject({ customerId: acme.customerId, data: { state: 'expired' } })
    expect(verify(acmeSecret, toAcme!.headers['kaixu-signature'] as string, toAcme!.raw)).toBe(true)
    expect(rx.at('/globex').filter((r) => r.body.data['pushId'] === pushId)).toEqual([])
  })
})
