import { randomBytes } from 'node:crypto'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  ADMIN_TOKEN,
  createSite,
  dumpDatabase,
  netlifyTokenFor,
  sandboxControl,
} from './helpers/accounts.ts'
import { api, databases, startTestGateway, type TestGateway } from './helpers/gateway.ts'
import { sha1 } from './helpers/pushes.ts'

const CHUNK = 64 * 1024

/**
 * A full run (set-up, init, inline uploads, chunks, complete, a Netlify-token rotation, a vault
 * rotation, reads and refusals) with every log line at trace level and every response body
 * kept. Afterwards no secret may appear in the database, the logs or any answer, except each
 * API key in the one answer that issues it.
 */
describe.each(databases())('secrets stay secret on %s', (database) => {
  let gw: TestGateway
  const logLines: string[] = []
  const responses: { what: string; text: string }[] = []

  beforeAll(async () => {
    const stream = new PassThrough()
    stream.on('data', (d: Buffer) =>
      logLines.push(...d.toString('utf8').split('\n').filter(Boolean)),
    )
    gw = await startTestGateway(
      database,
      {
        LOG_LEVEL: 'trace',
        KAIXU_ADMIN_TOKEN: ADMIN_TOKEN,
        KAIXU_CHUNK_BYTES: String(CHUNK),
        KAIXU_VAULT_KEYS: [
          `k2:${randomBytes(32).toString('base64')}`,
          `k1:${randomBytes(32).toString('base64')}`,
        ].join(','),
      },
      { logStream: stream },
    )
  })
  afterAll(async () => {
    await gw?.stop()
  })

  /** Calls the gateway and keeps the raw answer text. */
  async function call(
    what: string,
    key: string | undefined,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) {
    const res = await api(gw, key, method, path, body, headers)
    responses.push({
      what,
      text: `${JSON.stringify(Object.fromEntries(res.headers))}\n${JSON.stringify(res.body)}`,
    })
    return res
  }

  test('no plaintext Netlify token or full API key is stored, logged or answered', async () => {
    const admin = (method: string, path: string, body?: unknown) =>
      call(`admin ${method} ${path}`, ADMIN_TOKEN, method, `/admin/api${path}`, body)
    const slug = `acct-secret-${randomBytes(3).toString('hex')}`
    const token1 = netlifyTokenFor('secret1')
    const token2 = netlifyTokenFor('secret2')
    await sandboxControl(gw, '/tokens', { token: token1, accountSlug: slug })
    await sandboxControl(gw, '/tokens', { token: token2, accountSlug: slug })
    const site = await createSite(gw, token1)

    const customer = (await admin('POST', '/customers', { name: 'Secretive' })).body['id']
    const issued = await admin('POST', `/customers/${customer}/keys`, { name: 'ci' })
    const key = issued.body['key'] as string
    const issued2 = await admin('POST', `/customers/${customer}/keys`, {})
    const key2 = issued2.body['key'] as string
    await admin('DELETE', `/customers/${customer}/keys/${issued2.body['id']}`)
    await admin('PUT', `/customers/${customer}/netlify-token`, { token: token1 })
    await admin('POST', `/customers/${customer}/projects`, { siteId: site.id, name: 'secret-site' })

    // A push with an inline file and a chunked one.
    const small = 'hello secret'
    const big = randomBytes(2 * CHUNK + 123)
    const init = await call('init', key, 'POST', '/v1/push-init', {
      project: 'secret-site',
      files: { 'index.html': sha1(small), 'big.bin': sha1(big) },
      sizes: { 'big.bin': big.length },
    })
    expect(init.status).toBe(201)
    const pushId = init.body['pushId'] as string
    await call('upload', key, 'PUT', `/v1/push-upload?pushId=${pushId}`, Buffer.from(small), {
      'x-content-sha1': sha1(small),
    })
    for (let c = 0; c < 3; c++) {
      const part = big.subarray(c * CHUNK, (c + 1) * CHUNK)
      const res = await call('chunk', key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, part, {
        'x-content-sha1': sha1(big),
        'x-chunk-index': String(c),
        'x-chunk-count': '3',
        'x-chunk-sha1': sha1(part),
      })
      expect(res.status).toBe(201)
    }
    await call(
      'chunk status',
      key,
      'GET',
      `/v1/push-upload-chunk?pushId=${pushId}&sha1=${sha1(big)}`,
    )
    const done = await call('complete', key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')
    await call('status', key, 'GET', `/v1/push-status?pushId=${pushId}`)

    // Rotations: the customer's own token, then the vault.
    const rotated = await call('rotate', key, 'PUT', '/v1/netlify-token', { token: token2 })
    expect(rotated.status).toBe(200)
    await admin('POST', '/vault/rotate')
    const again = await call('init 2', key, 'POST', '/v1/push-init', {
      project: 'secret-site',
      files: { 'index.html': sha1('second') },
    })
    await call(
      'upload 2',
      key,
      'PUT',
      `/v1/push-upload?pushId=${again.body['pushId']}`,
      Buffer.from('second'),
      {
        'x-content-sha1': sha1('second'),
      },
    )
    const done2 = await call('complete 2', key, 'POST', '/v1/push-complete', {
      pushId: again.body['pushId'],
      wait: true,
    })
    expect(done2.body['state']).toBe('ready')

    // Reads and refusals that might echo something back.
    await call('usage', key, 'GET', '/v1/usage')
    await call('projects', key, 'GET', '/v1/projects')
    await call('token info', key, 'GET', '/v1/netlify-token')
    await call('revoked key', key2, 'GET', '/v1/usage')
    await call('bad checksum', `${key.slice(0, -1)}x`, 'GET', '/v1/usage')
    await call('key on admin', key, 'GET', '/admin/api/customers')
    await call('admin on v1', ADMIN_TOKEN, 'GET', '/v1/usage')
    await call('bad token body', key, 'PUT', '/v1/netlify-token', { token: `${token2}\n` })
    await admin('GET', `/customers/${customer}`)
    await admin('GET', `/customers/${customer}/keys`)
    await admin('GET', `/customers/${customer}/netlify-token`)
    await admin('GET', `/audit?customer=${customer}`)
    await admin('GET', '/customers')
    await call('metrics', undefined, 'GET', '/metrics')

    const dump = await dumpDatabase(gw.db)
    expect(dump.length).toBeGreaterThan(1000)
    expect(logLines.length).toBeGreaterThan(50)
    // Access lines carry no request headers at all, so no Authorization header either.
    expect(logLines.some((l) => l.includes('"msg":"request completed"'))).toBe(true)
    expect(logLines.some((l) => /"authorization"/i.test(l))).toBe(false)

    const secrets = { token1, token2, key, key2, adminToken: ADMIN_TOKEN }
    for (const [name, secret] of Object.entries(secrets)) {
      expect({ name, inDump: dump.includes(secret) }).toEqual({ name, inDump: false })
      const logged = logLines.filter((l) => l.includes(secret))
      expect({ name, logged }).toEqual({ name, logged: [] })
    }
    // Each key is in exactly one answer: the one that issued it (shown once).
    for (const [name, secret, issuer] of [
      ['key', key, issued],
      ['key2', key2, issued2],
    ] as const) {
      const answered = responses.filter((r) => r.text.includes(secret)).map((r) => r.what)
      expect({ name, answered }).toEqual({
        name,
        answered: [`admin POST /customers/${customer}/keys`],
      })
      expect(JSON.stringify(issuer.body)).toContain(secret)
    }
    // No answer ever carries a Netlify token, not even the answer to a malformed one.
    for (const [name, secret] of Object.entries({ token1, token2 })) {
      const answered = responses.filter((r) => r.text.includes(secret)).map((r) => r.what)
      expect({ name, answered }).toEqual({ name, answered: [] })
    }
  })
})
