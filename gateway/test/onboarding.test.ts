import { createHash } from 'node:crypto'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals'
import { isWellFormedApiKey } from '../src/services/api-keys.ts'
import { ONBOARDING_THROTTLE } from '../src/services/onboarding.ts'
import {
  ADMIN_TOKEN,
  adminApi,
  createAccountTenant,
  dumpDatabase,
  netlifyTokenFor,
  sandboxControl,
} from './helpers/accounts.ts'
import { launchBrowser } from './helpers/browser.ts'
import { api, databases, startTestGateway, type TestGateway } from './helpers/gateway.ts'
import { cliJson, runCli } from './helpers/processes.ts'

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const TTL_HOURS = 5

/** What the client's browser holds after opening a link: the page, its CSRF token and cookie. */
interface OpenedForm {
  status: number
  headers: Headers
  text: string
  csrf: string | undefined
  cookie: string | undefined
}

describe.each(databases())('onboarding links on %s', (database) => {
  let gw: TestGateway
  const logs: string[] = []
  /** Every link, Netlify token and key the suite handled: none may reach a log or the audit. */
  const secrets: string[] = []

  beforeAll(async () => {
    const stream = new PassThrough()
    stream.on('data', (d: Buffer) => logs.push(d.toString('utf8')))
    gw = await startTestGateway(
      database,
      {
        KAIXU_ADMIN_TOKEN: ADMIN_TOKEN,
        KAIXU_ONBOARDING_TTL_HOURS: String(TTL_HOURS),
        LOG_LEVEL: 'debug',
      },
      { logStream: stream },
    )
  })
  afterAll(async () => {
    await gw?.stop()
  })
  // Every request of the suite comes from loopback: each test starts with a clean throttle.
  beforeEach(async () => {
    await gw.db.query("DELETE FROM failed_attempts WHERE scope LIKE 'onboarding.%'")
  })

  async function newCustomer(name: string): Promise<string> {
    const res = await adminApi(gw, 'POST', '/customers', { name })
    expect(res.status).toBe(201)
    return res.body['id'] as string
  }

  async function createLink(customerId: string, body: Record<string, unknown> = {}) {
    const res = await adminApi(gw, 'POST', `/customers/${customerId}/onboarding-links`, body)
    expect(res.status).toBe(201)
    const url = res.body['url'] as string
    const secret = new URL(url).searchParams.get('link')!
    secrets.push(url, secret)
    return { id: res.body['id'] as string, url, secret, body: res.body }
  }

  /** A Netlify token of a fresh sandbox account (the client's own). */
  async function clientToken(label: string) {
    const token = netlifyTokenFor(label)
    await sandboxControl(gw, '/tokens', { token, accountSlug: `acct-${label}-${Date.now()}` })
    secrets.push(token)
    return token
  }

  async function open(url: string): Promise<OpenedForm> {
    const res = await fetch(url)
    const text = await res.text()
    return {
      status: res.status,
      headers: res.headers,
      text,
      csrf: /name="_csrf" value="([^"]+)"/.exec(text)?.[1],
      cookie: res.headers
        .getSetCookie()
        .find((c) => c.startsWith('kaixu_onboard='))
        ?.split(';')[0],
    }
  }

  async function submit(
    form: Pick<OpenedForm, 'csrf' | 'cookie'>,
    secret: string,
    token: string,
  ): Promise<{ status: number; text: string; key: string | undefined; headers: Headers }> {
    const res = await fetch(`${gw.url}/onboard`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(form.cookie ? { cookie: form.cookie } : {}),
      },
      body: new URLSearchParams({ link: secret, token, _csrf: form.csrf ?? '' }).toString(),
      redirect: 'manual',
    })
    const text = await res.text()
    const key = /id="kaixu-key">([^<]+)</.exec(text)?.[1]
    if (key) secrets.push(key)
    return { status: res.status, text, key, headers: res.headers }
  }

  const linkRow = async (id: string) =>
    (
      await gw.db.query<Record<string, unknown>>('SELECT * FROM onboarding_links WHERE id = $1', [
        id,
      ])
    )[0]!

  const audit = (linkId: string) =>
    gw.db.query<{ action: string; status: string; details: Record<string, unknown> }>(
      `SELECT action, status, details FROM audit_log
        WHERE action LIKE 'onboarding.%' AND details->>'linkId' = $1 ORDER BY id`,
      [linkId],
    )

  test('the operator creates a link: only its SHA-256 is stored, it expires after the TTL', async () => {
    const customerId = await newCustomer('Initech')
    const before = Date.now()
    const link = await createLink(customerId, { note: 'for Bob' })
    expect(link.url).toMatch(new RegExp(`^${gw.url}/onboard\\?link=kxo_[0-9A-Za-z]{43}$`))
    expect(link.body).toMatchObject({ customerId, customerName: 'Initech', state: 'open' })
    const expires = new Date(link.body['expiresAt'] as string).getTime()
    expect(expires - before).toBeGreaterThan(TTL_HOURS * 3600_000 - 60_000)
    expect(expires - before).toBeLessThan(TTL_HOURS * 3600_000 + 60_000)
    const row = await linkRow(link.id)
    expect(row['secret_hash']).toBe(sha256(link.secret))
    expect(await dumpDatabase(gw.db)).not.toContain(link.secret)
    // Listing never shows the secret.
    const list = await adminApi(gw, 'GET', `/onboarding-links?customer=${customerId}`)
    expect(list.body['links']).toHaveLength(1)
    expect(JSON.stringify(list.body)).not.toContain(link.secret)
    // Longer than the configured TTL, or for nobody: refused.
    const long = await adminApi(gw, 'POST', `/customers/${customerId}/onboarding-links`, {
      expiresInHours: TTL_HOURS + 1,
    })
    expect([long.status, long.body['error']['code']]).toEqual([400, 'invalid_request'])
    const nobody = await adminApi(
      gw,
      'POST',
      '/customers/cus_AAAAAAAAAAAAAAAAAAAA/onboarding-links',
      {},
    )
    expect([nobody.status, nobody.body['error']['code']]).toEqual([404, 'not_found'])
    const shorter = await createLink(customerId, { expiresInHours: 1 })
    const shortExpiry = new Date(shorter.body['expiresAt'] as string).getTime()
    expect(shortExpiry - before).toBeLessThan(3600_000 + 60_000)
  })

  test('the client registers its own token and gets its key once; a wrong token is refused and the link stays usable', async () => {
    const customerId = await newCustomer('Hooli')
    const link = await createLink(customerId)
    const form = await open(link.url)
    expect(form.status).toBe(200)
    expect(form.headers.get('referrer-policy')).toBe('no-referrer')
    expect(form.headers.get('cache-control')).toBe('no-store')
    expect(form.headers.get('content-security-policy')).toContain("default-src 'none'")
    expect(form.text).toContain('Connect Hooli to KaixuPush')
    expect(form.text).not.toMatch(/<script|style=/i)
    expect(form.cookie).toBeDefined()

    // A token Netlify refuses (revoked there): 400, nothing stored, the link still open.
    const revoked = await clientToken('revoked')
    await sandboxControl(gw, '/tokens/revoke', { token: revoked })
    const wrong = await submit(form, link.secret, revoked)
    expect(wrong.status).toBe(400)
    expect(wrong.text).toContain('Netlify rejected this token')
    expect(wrong.key).toBeUndefined()
    expect((await linkRow(link.id))['used_at']).toBeNull()
    expect((await adminApi(gw, 'GET', `/customers/${customerId}`)).body['netlifyToken']).toBeNull()

    const token = await clientToken('hooli')
    const again = await open(link.url)
    const done = await submit(again, link.secret, token)
    expect(done.status).toBe(201)
    expect(done.headers.get('cache-control')).toBe('no-store')
    expect(isWellFormedApiKey(done.key!)).toBe(true)
    expect(done.text).toContain(`…${token.slice(-4)}`)
    // The key works, and the token it registered is the client's.
    expect((await api(gw, done.key, 'GET', '/v1/usage')).status).toBe(200)
    const customer = await adminApi(gw, 'GET', `/customers/${customerId}`)
    expect(customer.body['netlifyToken']).toMatchObject({ state: 'active', last4: token.slice(-4) })
    const row = await linkRow(link.id)
    expect(row['used_at']).not.toBeNull()
    expect(row['api_key_id']).toMatch(/^key_/)

    // Once: the link is gone for the form and the page alike.
    const replay = await submit(again, link.secret, token)
    expect(replay.status).toBe(410)
    expect(replay.key).toBeUndefined()
    const reopened = await open(link.url)
    expect(reopened.status).toBe(410)
    expect(reopened.text).toContain('onboarding_link_gone')
    expect(
      (await adminApi(gw, 'GET', `/onboarding-links?customer=${customerId}`)).body['links'][0],
    ).toMatchObject({ state: 'used', apiKeyId: row['api_key_id'] })

    // Audited: the refusal, the key, the token and the redemption, without a secret.
    const entries = await audit(link.id)
    expect(entries.map((e) => [e.action, e.status])).toEqual([
      ['onboarding.create', 'ok'],
      ['onboarding.redeem', 'refused'],
      ['onboarding.redeem', 'ok'],
      ['onboarding.redeem', 'refused'],
      ['onboarding.redeem', 'refused'],
    ])
    expect(entries[1]!.details).toMatchObject({ reason: 'netlify_token' })
  })

  test('a token of another Netlify account is refused when the customer already has sites', async () => {
    const acme = await createAccountTenant(gw, 'Acme')
    const link = await createLink(acme.customerId)
    const form = await open(link.url)
    const stranger = await clientToken('stranger')
    const refused = await submit(form, link.secret, stranger)
    expect(refused.status).toBe(400)
    expect(refused.text).toContain('cannot reach 1 of the customer')
    // A new token of the same account reaches the site: accepted (a rotation).
    const mine = netlifyTokenFor('acme2')
    await sandboxControl(gw, '/tokens', { token: mine, accountSlug: acme.accountSlug })
    secrets.push(mine, acme.netlifyToken, acme.key)
    const done = await submit(await open(link.url), link.secret, mine)
    expect(done.status).toBe(201)
    const after = await adminApi(gw, 'GET', `/customers/${acme.customerId}`)
    expect(after.body['netlifyToken']['last4']).toBe(mine.slice(-4))
  })

  test('two redemptions at once: one key, the other 410', async () => {
    const customerId = await newCustomer('Racers')
    const link = await createLink(customerId)
    const [a, b] = [await open(link.url), await open(link.url)]
    const [tokenA, tokenB] = [await clientToken('race-a'), await clientToken('race-b')]
    const answers = await Promise.all([
      submit(a, link.secret, tokenA),
      submit(b, link.secret, tokenB),
    ])
    expect(answers.map((r) => r.status).sort()).toEqual([201, 410])
    const keys = await gw.db.query<{ id: string }>(
      'SELECT id FROM api_keys WHERE customer_id = $1',
      [customerId],
    )
    expect(keys).toHaveLength(1)
    expect((await linkRow(link.id))['api_key_id']).toBe(keys[0]!.id)
    const winner = answers.find((r) => r.status === 201)!
    const token = winner === answers[0] ? tokenA : tokenB
    const customer = await adminApi(gw, 'GET', `/customers/${customerId}`)
    expect(customer.body['netlifyToken']['last4']).toBe(token.slice(-4))
  })

  test('expired and withdrawn links are refused (410) and say so in the list', async () => {
    const customerId = await newCustomer('Late')
    const expired = await createLink(customerId)
    const form = await open(expired.url)
    expect(form.status).toBe(200)
    // The clock moves past the link's expiry (the database's clock decides, for every process).
    await gw.db.query(
      "UPDATE onboarding_links SET expires_at = now() - interval '1 second' WHERE id = $1",
      [expired.id],
    )
    const token = await clientToken('late')
    expect((await submit(form, expired.secret, token)).status).toBe(410)
    expect((await open(expired.url)).status).toBe(410)

    const withdrawn = await createLink(customerId)
    const del = await adminApi(gw, 'DELETE', `/onboarding-links/${withdrawn.id}`)
    expect(del.body).toMatchObject({ id: withdrawn.id, state: 'revoked' })
    expect((await open(withdrawn.url)).status).toBe(410)
    const states = (await adminApi(gw, 'GET', `/onboarding-links?customer=${customerId}`)).body[
      'links'
    ].map((l: { id: string; state: string }) => [l.id, l.state])
    expect(states).toEqual(
      expect.arrayContaining([
        [expired.id, 'expired'],
        [withdrawn.id, 'revoked'],
      ]),
    )
    expect(
      (await adminApi(gw, 'DELETE', '/onboarding-links/onb_AAAAAAAAAAAAAAAAAAAA')).status,
    ).toBe(404)
    expect(
      await gw.db.query('SELECT id FROM api_keys WHERE customer_id = $1', [customerId]),
    ).toEqual([])
  })

  test('the form needs its CSRF cookie; a malformed form is a 400, not a 500', async () => {
    const customerId = await newCustomer('Forged')
    const link = await createLink(customerId)
    const form = await open(link.url)
    const token = await clientToken('forged')
    const noCookie = await submit({ csrf: form.csrf, cookie: undefined }, link.secret, token)
    expect(noCookie.status).toBe(403)
    const otherToken = await submit(
      { csrf: 'x'.repeat(43), cookie: form.cookie },
      link.secret,
      token,
    )
    expect(otherToken.status).toBe(403)
    expect((await linkRow(link.id))['used_at']).toBeNull()
    const garbage = await fetch(`${gw.url}/onboard`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'link=&token=%00',
    })
    expect(garbage.status).toBe(400)
    expect((await fetch(`${gw.url}/onboard`)).status).toBe(400)
    // Still usable with the real form.
    expect((await submit(form, link.secret, token)).status).toBe(201)
  })

  test('refused attempts are throttled per link and per address, and audited', async () => {
    const customerId = await newCustomer('Guessers')
    const link = await createLink(customerId)
    const form = await open(link.url)
    const revoked = await clientToken('guess')
    await sandboxControl(gw, '/tokens/revoke', { token: revoked })
    for (let i = 0; i < ONBOARDING_THROTTLE.link.limit; i++) {
      expect((await submit(form, link.secret, revoked)).status).toBe(400)
    }
    // The link is locked now, even for the right token.
    const good = await clientToken('guess-good')
    const locked = await submit(form, link.secret, good)
    expect(locked.status).toBe(429)
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0)
    expect((await linkRow(link.id))['used_at']).toBeNull()
    const entries = await audit(link.id)
    expect(entries.filter((e) => e.status === 'refused')).toHaveLength(
      ONBOARDING_THROTTLE.link.limit,
    )
    expect(entries.at(-1)).toMatchObject({ status: 'throttled', details: { per: 'link' } })

    // Guessing links from one address: locked out after the limit, even with a real link.
    await gw.db.query("DELETE FROM failed_attempts WHERE scope LIKE 'onboarding.%'")
    for (let i = 0; i < ONBOARDING_THROTTLE.address.limit; i++) {
      expect((await open(`${gw.url}/onboard?link=kxo_${'a'.repeat(40)}${i}xy`)).status).toBe(410)
    }
    const other = await createLink(customerId)
    const blocked = await open(other.url)
    expect(blocked.status).toBe(429)
    const guesses = await gw.db.query<{ status: string; details: Record<string, unknown> }>(
      `SELECT status, details FROM audit_log
        WHERE action = 'onboarding.redeem' AND details->>'linkId' IS NULL ORDER BY id DESC LIMIT 2`,
    )
    expect(guesses.map((g) => g.status)).toEqual(['throttled', 'refused'])
    expect(guesses[1]!.details).toMatchObject({ reason: 'unknown' })
  })

  // Remote mode does not depend on the database: once is enough.
  const onPglite = database === 'pglite' ? test : test.skip
  onPglite(
    'kaixu-gateway onboarding create|list|revoke through the admin API',
    async () => {
      const env = {
        KAIXU_DATA_DIR: gw.dataDir,
        KAIXU_ADMIN_TOKEN: ADMIN_TOKEN,
        KAIXU_GATEWAY_URL: gw.url,
        LOG_LEVEL: 'silent',
      }
      const cli = cliJson(env)
      const customerId = await newCustomer('Via HTTP')
      const created = await cli('onboarding', 'create', '--customer', customerId, '--hours', '2')
      secrets.push(created['url'])
      expect(created).toMatchObject({
        customerId,
        state: 'open',
        url: expect.stringMatching(/^http/),
      })
      const listed = await cli('onboarding', 'list', '--customer', customerId)
      expect(listed['links'].map((l: { id: string }) => l.id)).toEqual([created['id']])
      expect(await cli('onboarding', 'revoke', '--id', created['id'])).toMatchObject({
        state: 'revoked',
      })
      const bad = await runCli(
        ['onboarding', 'create', '--customer', customerId, '--hours', 'x'],
        env,
      )
      expect(bad.code).toBe(1)
      expect(bad.stderr).toContain('expiresInHours')
    },
    180_000,
  )

  // The local path needs the database the gateway uses: a Postgres server both can open.
  const onPostgres = database === 'postgres' ? test : test.skip
  onPostgres(
    'kaixu-gateway onboarding on its local path; the link works at the gateway',
    async () => {
      const env = {
        DATABASE_URL: gw.config.databaseUrl!,
        KAIXU_VAULT_KEYS: gw.config.vaultKeys!,
        NETLIFY_API_URL: `${gw.url}/api/v1`,
        KAIXU_PUBLIC_URL: gw.url,
        KAIXU_DATA_DIR: gw.dataDir,
        KAIXU_GATEWAY_URL: '',
        LOG_LEVEL: 'silent',
      }
      const customerId = await newCustomer('Via CLI')
      const res = await runCli(['onboarding', 'create', '--customer', customerId, '--json'], env)
      expect(res.stderr).toBe('')
      const created = JSON.parse(res.stdout) as { id: string; url: string }
      secrets.push(created.url)
      expect(created.url.startsWith(`${gw.url}/onboard?link=kxo_`)).toBe(true)
      const secret = new URL(created.url).searchParams.get('link')!
      const done = await submit(await open(created.url), secret, await clientToken('cli'))
      expect(done.status).toBe(201)
      const list = await runCli(['onboarding', 'list', '--customer', customerId], env)
      expect(list.stdout).toContain(`${created.id}  used`)
    },
  )

  test('in Chromium: the operator makes a link on the dashboard, the client redeems it', async () => {
    const customerId = await newCustomer('Browsers Ltd')
    const token = await clientToken('browser')
    const { browser } = await launchBrowser()
    const violations: string[] = []
    try {
      const operator = await (await browser.newContext()).newPage()
      await operator.goto(`${gw.url}/admin/login`)
      await operator.fill('input[name=token]', ADMIN_TOKEN)
      await Promise.all([operator.waitForURL(`${gw.url}/admin`), operator.click('button')])
      await operator.goto(`${gw.url}/admin/onboarding`)
      await operator.selectOption('select[name=customerId]', customerId)
      await operator.fill('input[name=note]', 'browser flow')
      await Promise.all([
        operator.waitForResponse((r) => r.request().method() === 'POST'),
        operator.click('text=Create link'),
      ])
      const url = (await operator.textContent('#onboarding-url'))!.trim()
      secrets.push(url)
      expect(url.startsWith(`${gw.url}/onboard?link=kxo_`)).toBe(true)
      // The URL is on that answer only: the list shows the link, never its secret.
      await operator.goto(`${gw.url}/admin/onboarding`)
      expect(await operator.textContent('main')).toContain('browser flow')
      expect(await operator.content()).not.toContain(new URL(url).searchParams.get('link')!)

      // The client, in its own browser profile.
      const client = await (await browser.newContext()).newPage()
      client.on('console', (m) => {
        if (/Content Security Policy|Refused to/.test(m.text())) violations.push(m.text())
      })
      const opened = await client.goto(url)
      expect(opened!.status()).toBe(200)
      expect(opened!.headers()['referrer-policy']).toBe('no-referrer')
      await client.fill('input[name=token]', token)
      const [answer] = await Promise.all([
        client.waitForResponse((r) => r.request().method() === 'POST'),
        client.click('button[type=submit]'),
      ])
      expect(answer.status()).toBe(201)
      const key = (await client.textContent('#kaixu-key'))!.trim()
      secrets.push(key)
      expect(isWellFormedApiKey(key)).toBe(true)
      expect((await api(gw, key, 'GET', '/v1/usage')).status).toBe(200)
      // Back, reload: the link is spent.
      const again = await client.goto(url)
      expect(again!.status()).toBe(410)
      expect(violations).toEqual([])
    } finally {
      await browser.close()
    }
  }, 120_000)

  test('no link, Netlify token or key reached a log line or the audit log', async () => {
    expect(secrets.length).toBeGreaterThan(10)
    const text = logs.join('')
    expect(text).toContain('/onboard')
    const auditText = (
      await gw.db.query<{ r: string }>('SELECT to_jsonb(a)::text AS r FROM audit_log a')
    )
      .map((r) => r.r)
      .join('\n')
    for (const secret of secrets) {
      expect(text).not.toContain(secret)
      expect(auditText).not.toContain(secret)
    }
    // Nor, in clear, the database.
    const dump = await dumpDatabase(gw.db)
    for (const secret of secrets) expect(dump).not.toContain(secret)
  })
})
