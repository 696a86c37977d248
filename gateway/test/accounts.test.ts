import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { isWellFormedApiKey } from '../src/services/api-keys.ts'
import { VaultDecryptError } from '../src/services/vault.ts'
import {
  ADMIN_TOKEN,
  adminApi,
  createAccountTenant,
  createSite,
  netlifyTokenFor,
  sandboxControl,
} from './helpers/accounts.ts'
import {
  api,
  databases,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { cliJson, runCli } from './helpers/processes.ts'
import { sha1 } from './helpers/pushes.ts'

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex')
const thisMonth = () => new Date().toISOString().slice(0, 7)

describe.each(databases())('accounts on %s', (database) => {
  let gw: TestGateway
  let acme: Tenant & { accountSlug: string }
  let globex: Tenant & { accountSlug: string }

  beforeAll(async () => {
    gw = await startTestGateway(database, { KAIXU_ADMIN_TOKEN: ADMIN_TOKEN })
    acme = await createAccountTenant(gw, 'Acme')
    globex = await createAccountTenant(gw, 'Globex')
  })
  afterAll(async () => {
    await gw?.stop()
  })

  /** One small push, start to finish (or as far as it gets). */
  async function push(t: { key: string; projectName: string }, content = `v${Math.random()}`) {
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'index.html': sha1(content) },
    })
    if (init.status !== 201) return { init, done: undefined }
    const pushId = init.body['pushId'] as string
    await api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, Buffer.from(content), {
      'x-content-sha1': sha1(content),
    })
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    return { init, done }
  }

  test('customers: create, list, show, suspend (403 at once) and reactivate', async () => {
    const created = await adminApi(gw, 'POST', '/customers', { name: 'Initech' })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ name: 'Initech', status: 'active', netlifyToken: null })
    const id = created.body['id'] as string
    const key = (await adminApi(gw, 'POST', `/customers/${id}/keys`, {})).body['key'] as string
    expect((await api(gw, key, 'GET', '/v1/usage')).status).toBe(200)

    const suspended = await adminApi(gw, 'POST', `/customers/${id}/suspend`)
    expect(suspended.body['status']).toBe('suspended')
    const refused = await api(gw, key, 'GET', '/v1/usage')
    expect(refused.status).toBe(403)
    expect(refused.body['error']['code']).toBe('customer_suspended')
    const list = await adminApi(gw, 'GET', '/customers?status=suspended')
    expect(list.body['customers'].map((c: any) => c.id)).toEqual([id])

    const back = await adminApi(gw, 'POST', `/customers/${id}/reactivate`)
    expect(back.body['status']).toBe('active')
    expect((await api(gw, key, 'GET', '/v1/usage')).status).toBe(200)

    const shown = await adminApi(gw, 'GET', `/customers/${acme.customerId}`)
    expect(shown.body).toMatchObject({
      id: acme.customerId,
      status: 'active',
      activeKeys: 1,
      projects: 1,
      netlifyToken: { state: 'active', last4: acme.netlifyToken.slice(-4) },
    })
    const audit = await adminApi(gw, 'GET', `/audit?customer=${id}&action=customer`)
    expect(audit.body['entries'].map((e: any) => e.action)).toEqual([
      'customer.reactivate',
      'customer.suspend',
      'customer.create',
    ])
    expect(audit.body['entries'][1]).toMatchObject({
      actor: 'admin',
      requestId: suspended.headers.get('x-request-id'),
    })
  })

  test('API keys: prefixed with a checksum, stored as SHA-256 only, listed by prefix, revoked at once', async () => {
    const issued = await adminApi(gw, 'POST', `/customers/${acme.customerId}/keys`, { name: 'ci' })
    expect(issued.status).toBe(201)
    const key = issued.body['key'] as string
    expect(key).toMatch(/^kx_live_[0-9A-Za-z]{38}$/)
    expect(isWellFormedApiKey(key)).toBe(true)
    const rows = await gw.db.query<Record<string, unknown>>(
      'SELECT * FROM api_keys WHERE id = $1',
      [issued.body['id']],
    )
    expect(rows[0]!['key_hash']).toBe(sha256(key))
    expect(JSON.stringify(rows)).not.toContain(key.slice(12))

    expect((await api(gw, key, 'GET', '/v1/usage')).status).toBe(200)
    const listed = await adminApi(gw, 'GET', `/customers/${acme.customerId}/keys`)
    expect(JSON.stringify(listed.body)).not.toContain(key)
    const entry = listed.body['keys'].find((k: any) => k.id === issued.body['id'])
    expect(Object.keys(entry).sort()).toEqual(
      ['createdAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt'].sort(),
    )
    expect(entry).toMatchObject({ name: 'ci', prefix: key.slice(0, 12), revokedAt: null })
    expect(entry.lastUsedAt).not.toBeNull()

    const revoked = await adminApi(
      gw,
      'DELETE',
      `/customers/${acme.customerId}/keys/${issued.body['id']}`,
    )
    expect(revoked.status).toBe(200)
    expect(revoked.body['revokedAt']).not.toBeNull()
    const after = await api(gw, key, 'GET', '/v1/usage')
    expect(after.status).toBe(401)
    expect(after.body['error']['code']).toBe('unauthorized')
    // Revoking again is harmless and audits nothing new.
    const again = await adminApi(
      gw,
      'DELETE',
      `/customers/${acme.customerId}/keys/${issued.body['id']}`,
    )
    expect(again.body['revokedAt']).toBe(revoked.body['revokedAt'])
    const audit = await adminApi(gw, 'GET', `/audit?customer=${acme.customerId}&action=key.revoke`)
    expect(audit.body['entries']).toHaveLength(1)
    // The other keys keep working.
    expect((await api(gw, acme.key, 'GET', '/v1/usage')).status).toBe(200)
  })

  test('Netlify tokens are sealed per customer (AES-256-GCM, key id, customer bound in)', async () => {
    const row = (
      await gw.db.query<{ ciphertext: string; key_id: string; last4: string }>(
        'SELECT ciphertext, key_id, last4 FROM netlify_tokens WHERE customer_id = $1',
        [acme.customerId],
      )
    )[0]!
    expect(row.ciphertext).toMatch(/^v1\.t1\.[\w-]{16}\.[\w-]+\.[\w-]{22}$/)
    expect(row.key_id).toBe('t1')
    expect(row.ciphertext).not.toContain(acme.netlifyToken)
    expect(gw.vault.open(acme.customerId, row.ciphertext)).toBe(acme.netlifyToken)
    // The same ciphertext under another customer's id does not open.
    expect(() => gw.vault.open(globex.customerId, row.ciphertext)).toThrow(VaultDecryptError)

    // Copied into Globex's row, it fails authentication: no token crosses tenants.
    const globexRow = (
      await gw.db.query<{ ciphertext: string }>(
        'SELECT ciphertext FROM netlify_tokens WHERE customer_id = $1',
        [globex.customerId],
      )
    )[0]!
    await gw.db.query('UPDATE netlify_tokens SET ciphertext = $2 WHERE customer_id = $1', [
      globex.customerId,
      row.ciphertext,
    ])
    try {
      const res = await push(globex)
      expect(res.init.status).toBe(500)
      expect(res.init.body['error']['code']).toBe('internal_error')
      expect(JSON.stringify(res.init.body)).not.toContain(acme.netlifyToken)
      expect((await push(acme)).done?.body['state']).toBe('ready')
    } finally {
      await gw.db.query('UPDATE netlify_tokens SET ciphertext = $2 WHERE customer_id = $1', [
        globex.customerId,
        globexRow.ciphertext,
      ])
    }
    expect((await push(globex)).done?.body['state']).toBe('ready')
  })

  test('a customer rotates their own token with their key; in-flight work moves to the new one', async () => {
    const t = await createAccountTenant(gw, 'Rotor')
    // A push started with the old token...
    const content = 'before and after'
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'index.html': sha1(content) },
    })
    expect(init.status).toBe(201)
    // ...the customer registers a second token of the same Netlify account...
    const next = netlifyTokenFor('rotor2')
    await sandboxControl(gw, '/tokens', { token: next, accountSlug: t.accountSlug })
    const rotated = await api(gw, t.key, 'PUT', '/v1/netlify-token', { token: next })
    expect(rotated.status).toBe(200)
    expect(rotated.body).toMatchObject({ state: 'active', last4: next.slice(-4), sitesChecked: 1 })
    expect(JSON.stringify(rotated.body)).not.toContain(next)
    // ...and kills the old one at Netlify. The push finishes on the new token.
    await sandboxControl(gw, '/tokens/revoke', { token: t.netlifyToken })
    const pushId = init.body['pushId'] as string
    const up = await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${pushId}`,
      Buffer.from(content),
      {
        'x-content-sha1': sha1(content),
      },
    )
    expect(up.status).toBe(200)
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')

    const shown = await api(gw, t.key, 'GET', '/v1/netlify-token')
    expect(shown.body).toMatchObject({ state: 'active', last4: next.slice(-4) })
    const audit = await adminApi(gw, 'GET', `/audit?customer=${t.customerId}&action=netlify_token`)
    expect(audit.body['entries'][0]).toMatchObject({
      action: 'netlify_token.rotate',
      actor: `key:${t.keyId}`,
      apiKeyId: t.keyId,
      requestId: rotated.headers.get('x-request-id'),
      details: { last4: next.slice(-4), previousLast4: t.netlifyToken.slice(-4) },
    })
  })

  test("a token that cannot reach the customer's sites is refused; the old one stays", async () => {
    const stranger = netlifyTokenFor('stranger')
    const res = await adminApi(gw, 'POST', `/customers/${acme.customerId}/netlify-token/rotate`, {
      token: stranger,
    })
    expect(res.status).toBe(400)
    expect(res.body['error']).toMatchObject({
      code: 'site_unreachable',
      details: { sites: [{ siteId: acme.siteId, project: acme.projectName, netlifyStatus: 404 }] },
    })
    const shown = await adminApi(gw, 'GET', `/customers/${acme.customerId}/netlify-token`)
    expect(shown.body['last4']).toBe(acme.netlifyToken.slice(-4))
    expect((await push(acme)).done?.body['state']).toBe('ready')
  })

  test('revoking the token stops new pushes at once and fails in-flight ones clearly', async () => {
    const t = await createAccountTenant(gw, 'Revokee')
    const uploading = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'a.txt': sha1('a') },
    })
    const ready = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'b.txt': sha1('b') },
    })
    await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${ready.body['pushId']}`,
      Buffer.from('b'),
      {
        'x-content-sha1': sha1('b'),
      },
    )
    expect((await api(gw, t.key, 'GET', '/v1/usage')).body['limits']['deploys']['used']).toBe(2)

    const revoked = await adminApi(gw, 'DELETE', `/customers/${t.customerId}/netlify-token`)
    expect(revoked.body).toMatchObject({ state: 'revoked', last4: t.netlifyToken.slice(-4) })
    const row = await gw.db.query(
      'SELECT ciphertext, key_id FROM netlify_tokens WHERE customer_id = $1',
      [t.customerId],
    )
    expect(row).toEqual([{ ciphertext: null, key_id: null }])

    const fresh = await push(t)
    expect(fresh.init.status).toBe(412)
    expect(fresh.init.body['error']['code']).toBe('netlify_token_revoked')
    // An upload to a push in flight: refused, and the push ends with the reason.
    const up = await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${uploading.body['pushId']}`,
      Buffer.from('a'),
      {
        'x-content-sha1': sha1('a'),
      },
    )
    expect(up.status).toBe(412)
    expect(up.body['error']['code']).toBe('netlify_token_revoked')
    const status = await api(gw, t.key, 'GET', `/v1/push-status?pushId=${uploading.body['pushId']}`)
    expect(status.body['state']).toBe('error')
    expect(status.body['error_message']).toMatch(/revoked/)
    // A push completing after the revocation fails in its finalization, with the same reason.
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', {
      pushId: ready.body['pushId'],
      wait: true,
    })
    expect(done.body['state']).toBe('error')
    expect(done.body['error_message']).toMatch(/revoked/)
    // Both gave their reservation back.
    expect((await api(gw, t.key, 'GET', '/v1/usage')).body['limits']['deploys']['used']).toBe(0)

    // A new token brings the customer back.
    const next = netlifyTokenFor('back')
    await sandboxControl(gw, '/tokens', { token: next, accountSlug: t.accountSlug })
    expect((await api(gw, t.key, 'PUT', '/v1/netlify-token', { token: next })).status).toBe(200)
    expect((await push(t)).done?.body['state']).toBe('ready')
  })

  test('a token that dies at Netlify fails pushes with netlify_token_rejected', async () => {
    const t = await createAccountTenant(gw, 'Expired')
    await sandboxControl(gw, '/tokens/revoke', { token: t.netlifyToken })
    const res = await push(t)
    expect(res.init.status).toBe(412)
    expect(res.init.body['error']['code']).toBe('netlify_token_rejected')
    expect((await api(gw, t.key, 'GET', '/v1/usage')).body['limits']['deploys']['used']).toBe(0)
  })

  test('projects: checked against Netlify when added, listed per customer, removed, re-added', async () => {
    const foreign = await adminApi(gw, 'POST', `/customers/${acme.customerId}/projects`, {
      siteId: globex.siteId,
      name: 'foreign',
    })
    expect(foreign.status).toBe(400)
    expect(foreign.body['error']['code']).toBe('site_unreachable')

    const site = await createSite(gw, acme.netlifyToken)
    const added = await api(gw, acme.key, 'POST', '/v1/projects', { siteId: site.id, name: 'docs' })
    expect(added.status).toBe(201)
    expect(added.body).toMatchObject({ name: 'docs', siteId: site.id })
    const mine = await api(gw, acme.key, 'GET', '/v1/projects')
    expect(mine.body['projects'].map((p: any) => p.name).sort()).toEqual(
      [acme.projectName, 'docs'].sort(),
    )
    const theirs = await api(gw, globex.key, 'GET', '/v1/projects')
    expect(theirs.body['projects'].map((p: any) => p.id)).toEqual([globex.projectId])

    expect((await push({ key: acme.key, projectName: 'docs' })).done?.body['state']).toBe('ready')
    const removed = await adminApi(gw, 'DELETE', `/customers/${acme.customerId}/projects/docs`)
    expect(removed.body).toMatchObject({ id: added.body['id'], removed: true })
    const refused = await push({ key: acme.key, projectName: 'docs' })
    expect(refused.init.status).toBe(404)
    expect(refused.init.body['error']['code']).toBe('project_not_found')
    const again = await adminApi(gw, 'POST', `/customers/${acme.customerId}/projects`, {
      siteId: site.id,
      name: 'docs',
    })
    expect(again.status).toBe(201)
    expect(again.body['id']).not.toBe(added.body['id'])
  })

  test('tenants never see each other: usage, pushes and projects are per customer', async () => {
    const { init } = await push(globex)
    const pushId = init.body['pushId'] as string
    for (const [method, path, body] of [
      ['GET', `/v1/push-status?pushId=${pushId}`, undefined],
      ['POST', '/v1/push-complete', { pushId }],
      ['GET', `/v1/push-upload-chunk?pushId=${pushId}&sha1=${sha1('x')}`, undefined],
    ] as const) {
      const res = await api(gw, acme.key, method, path, body)
      expect({ path, status: res.status }).toEqual({ path, status: 404 })
    }
    const acmeUsage = await api(gw, acme.key, 'GET', '/v1/usage')
    const globexUsage = await api(gw, globex.key, 'GET', '/v1/usage')
    expect(acmeUsage.body['invoice']['customerId']).toBe(acme.customerId)
    expect(globexUsage.body['invoice']['customerId']).toBe(globex.customerId)
    const events = await gw.db.query<{ customer_id: string; n: number }>(
      'SELECT customer_id, count(*)::int AS n FROM push_usage_events GROUP BY customer_id',
    )
    const count = (id: string) => events.find((e) => e.customer_id === id)?.n ?? 0
    expect(acmeUsage.body['deploys']).toBe(count(acme.customerId))
    expect(globexUsage.body['deploys']).toBe(count(globex.customerId))
  })

  test('the audit log holds every push step and admin change, by customer and month', async () => {
    const t = await createAccountTenant(gw, 'Audited')
    const { init, done } = await push(t)
    expect(done?.body['state']).toBe('ready')
    const res = await adminApi(gw, 'GET', `/audit?customer=${t.customerId}&month=${thisMonth()}`)
    const entries = res.body['entries'] as any[]
    expect(entries.map((e) => e.action).reverse()).toEqual([
      'customer.create',
      'key.create',
      'netlify_token.set',
      'project.add',
      'push.init',
      'push.upload',
      'push.complete',
      'push.ready',
    ])
    for (const e of entries) {
      expect(e.customerId).toBe(t.customerId)
      if (e.action.startsWith('push.') && e.action !== 'push.ready') {
        expect(e).toMatchObject({ actor: `key:${t.keyId}`, pushId: init.body['pushId'] })
        expect(e.requestId).toEqual(expect.any(String))
      }
      if (!e.action.startsWith('push.')) expect(e.actor).toBe('admin')
      if (e.actor === 'admin') expect(e.requestId).toEqual(expect.any(String))
    }
    // Another month holds none of it; an action family narrows it; pages do not overlap.
    const last = new Date()
    last.setUTCMonth(last.getUTCMonth() - 1, 1)
    const before = await adminApi(
      gw,
      'GET',
      `/audit?customer=${t.customerId}&month=${last.toISOString().slice(0, 7)}`,
    )
    expect(before.body['entries']).toEqual([])
    const pushes = await adminApi(gw, 'GET', `/audit?customer=${t.customerId}&action=push`)
    expect(pushes.body['entries']).toHaveLength(4)
    const page1 = await adminApi(gw, 'GET', `/audit?customer=${t.customerId}&limit=5`)
    const page2 = await adminApi(
      gw,
      'GET',
      `/audit?customer=${t.customerId}&limit=5&before=${page1.body['nextBefore']}`,
    )
    expect([...page1.body['entries'], ...page2.body['entries']].map((e: any) => e.id)).toEqual(
      entries.map((e) => e.id),
    )
    expect(page2.body['nextBefore']).toBeNull()
  })

  // Remote mode does not depend on the database; it matters where `serve` holds PGlite.
  const onPglite = database === 'pglite' ? test : test.skip
  onPglite('the CLI reaches a running embedded gateway through its admin API', async () => {
    const env = {
      KAIXU_DATA_DIR: gw.dataDir,
      KAIXU_ADMIN_TOKEN: ADMIN_TOKEN,
      KAIXU_GATEWAY_URL: gw.url,
      LOG_LEVEL: 'silent',
    }
    const cli = cliJson(env)
    const customer = await cli('customers', 'create', '--name', 'Via CLI')
    const key = await cli('keys', 'create', '--customer', customer['id'], '--name', 'deploy')
    expect(isWellFormedApiKey(key['key'])).toBe(true)
    const token = netlifyTokenFor('cli')
    const slug = `acct-cli-${Date.now()}`
    await sandboxControl(gw, '/tokens', { token, accountSlug: slug })
    const site = await createSite(gw, token)
    await cli('tokens', 'set', '--customer', customer['id'], '--token', token)
    const project = await cli(
      'projects',
      'add',
      '--customer',
      customer['id'],
      '--site-id',
      site.id,
      '--name',
      'cli-site',
    )
    expect((await push({ key: key['key'], projectName: 'cli-site' })).done?.body['state']).toBe(
      'ready',
    )

    const keys = await cli('keys', 'list', '--customer', customer['id'])
    expect(keys['keys']).toHaveLength(1)
    expect(JSON.stringify(keys)).not.toContain(key['key'])
    const next = netlifyTokenFor('cli2')
    await sandboxControl(gw, '/tokens', { token: next, accountSlug: slug })
    expect(
      (await cli('tokens', 'rotate', '--customer', customer['id'], '--token', next))['last4'],
    ).toBe(next.slice(-4))
    expect((await cli('projects', 'list', '--customer', customer['id']))['projects']).toHaveLength(
      1,
    )
    await cli('keys', 'revoke', '--customer', customer['id'], '--key', key['id'])
    expect((await api(gw, key['key'], 'GET', '/v1/usage')).status).toBe(401)
    await cli('projects', 'remove', '--customer', customer['id'], '--project', project['id'])
    await cli('tokens', 'revoke', '--customer', customer['id'])
    expect((await cli('customers', 'suspend', '--customer', customer['id']))['status']).toBe(
      'suspended',
    )
    const audit = await cli('audit', '--customer', customer['id'], '--month', thisMonth())
    expect(audit['entries'].map((e: any) => e.action)).toEqual(
      expect.arrayContaining([
        'key.revoke',
        'project.remove',
        'netlify_token.revoke',
        'customer.suspend',
        'push.ready',
      ]),
    )
    // Limits, pricing, invoices and jobs take the same road.
    const limits = await cli('limits', 'set', '--customer', customer['id'], '--per-minute', '7')
    expect(limits['deploys']).toMatchObject({ used: expect.any(Number) })
    expect((await cli('pricing', 'list'))['versions'][0]).toMatchObject({ version: 1 })
    const invoices = await cli('invoices', '--month', thisMonth(), '--customer', customer['id'])
    expect(invoices['invoices'][0]).toMatchObject({ customerId: customer['id'], deploys: 1 })
    expect(Array.isArray((await cli('jobs', 'list', '--state', 'failed'))['jobs'])).toBe(true)
    const human = await runCli(['customers', 'show', '--customer', customer['id']], env)
    expect(human.stdout).toContain('suspended')

    // Without the gateway URL the embedded database is busy, and the CLI says what to do.
    const busy = await runCli(['customers', 'list'], { ...env, KAIXU_GATEWAY_URL: '' })
    expect(busy.code).toBe(1)
    expect(busy.stderr).toContain('KAIXU_GATEWAY_URL')
  })
})
