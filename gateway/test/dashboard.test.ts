import { createHash, randomBytes } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { invoicesToCsv } from '../src/services/billing.ts'
import { monthOf } from '../src/services/metering.ts'
import { ADMIN_TOKEN, sandboxControl } from './helpers/accounts.ts'
import { launchBrowser } from './helpers/browser.ts'
import {
  api,
  createTenant,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { until } from './helpers/until.ts'
import { sha1 } from './helpers/pushes.ts'

/**
 * The admin dashboard in real headless Chromium (driven by playwright-core; see helpers/browser.ts
 * for where the browser comes from), over data made by real pushes through the HTTP API. No
 * browser is a failure that says why, not a skip.
 */
const SHOTS = resolve(import.meta.dirname, '..', '..', 'test-output', 'dashboard')

/** Chunk size of the suite's gateway (the smallest allowed): big files go up in chunks. */
const CHUNK = 64 * 1024

/**
 * Init, then upload what is required: small files whole, files above CHUNK in chunks (then waits
 * for the assembly job). Answers the push id and Netlify deploy id.
 */
async function push(gw: TestGateway, t: Tenant, files: Record<string, string | Buffer>) {
  const init = await api(gw, t.key, 'POST', '/v1/push-init', {
    project: t.projectName,
    files: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)])),
    sizes: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, Buffer.from(c).length])),
  })
  expect(init.status).toBe(201)
  const pushId = init.body['pushId'] as string
  const byHash = new Map(Object.values(files).map((c) => [sha1(c), Buffer.from(c)]))
  for (const sha of init.body['required'] as string[]) {
    const body = byHash.get(sha)!
    if (body.length <= CHUNK) {
      const up = await api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, body, {
        'x-content-sha1': sha,
        'content-type': 'application/octet-stream',
      })
      expect(up.status).toBe(200)
      continue
    }
    const count = Math.ceil(body.length / CHUNK)
    for (let i = 0; i < count; i++) {
      const part = body.subarray(i * CHUNK, (i + 1) * CHUNK)
      const up = await api(gw, t.key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, part, {
        'x-content-sha1': sha,
        'x-chunk-index': String(i),
        'x-chunk-count': String(count),
        'x-chunk-sha1': sha1(part),
      })
      expect([200, 201, 202]).toContain(up.status)
    }
    await until('the chunked file to be assembled', async () => {
      const r = await api(gw, t.key, 'GET', `/v1/push-upload-chunk?pushId=${pushId}&sha1=${sha}`)
      return r.body['state'] === 'uploaded' ? true : undefined
    })
  }
  return { pushId, deployId: init.body['deployId'] as string }
}

const complete = (gw: TestGateway, t: Tenant, pushId: string, wait: boolean) =>
  api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait })

describe('admin dashboard in Chromium', () => {
  let gw: TestGateway
  let acme: Tenant
  let globex: Tenant
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let failedPush: string
  let deadPush: string
  const cspViolations: string[] = []

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true })
    gw = await startTestGateway('pglite', {
      KAIXU_ADMIN_TOKEN: ADMIN_TOKEN,
      // One attempt: a failing finalization is dead at once, so the retry button has work.
      KAIXU_JOB_ATTEMPTS: '1',
      KAIXU_CHUNK_BYTES: String(CHUNK),
      LOG_LEVEL: 'silent',
    })
    acme = await createTenant(gw, 'Acme')
    globex = await createTenant(gw, 'Globex')

    // Two ready pushes for Acme (the second with a file sent in 3 chunks), one for Globex.
    for (const [t, extra] of [
      [acme, {}],
      [acme, { 'big.bin': randomBytes(CHUNK * 2 + 100) }],
      [globex, {}],
    ] as const) {
      const p = await push(gw, t, {
        'index.html': `<h1>${t.projectName} ${Object.keys(extra).length}</h1>`,
        'a.css': 'a',
        ...extra,
      })
      expect((await complete(gw, t, p.pushId, true)).body['state']).toBe('ready')
    }
    // A push Netlify fails.
    const bad = await push(gw, acme, { 'index.html': '<h1>broken</h1>' })
    failedPush = bad.pushId
    await sandboxControl(gw, `/deploys/${bad.deployId}/fail`, {
      message: 'Build exploded <img src=x>',
    })
    expect((await complete(gw, acme, bad.pushId, true)).body['state']).toBe('error')
    // A push whose finalization job dies: Netlify answers 503 to every poll of its deploy.
    const dead = await push(gw, globex, { 'index.html': '<h1>later</h1>' })
    deadPush = dead.pushId
    await sandboxControl(gw, '/faults', {
      match: { method: 'GET', path: `/deploys/${dead.deployId}` },
      status: 503,
      times: 10_000,
    })
    expect((await complete(gw, globex, dead.pushId, false)).status).toBe(202)
    await until('a dead finalize job', async () => {
      const jobs = await gw.jobs().list({ states: ['failed'] })
      return jobs.find((j) => j.data['pushId'] === deadPush)
    })

    const launched = await launchBrowser()
    browser = launched.browser
    process.stderr.write(`dashboard suite: browser ${launched.source}\n`)
    context = await browser.newContext({ viewport: { width: 1366, height: 900 } })
    page = await context.newPage()
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/.test(m.text())) cspViolations.push(m.text())
    })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await gw?.stop()
  })

  const shot = (name: string, p: Page = page) =>
    p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

  test('a wrong token cannot sign in', async () => {
    await page.goto(`${gw.url}/admin`)
    expect(page.url()).toBe(`${gw.url}/admin/login`)
    await page.fill('input[name=token]', 'not-the-admin-token-0123456789')
    const [res] = await Promise.all([
      page.waitForResponse(
        (r) => r.url().endsWith('/admin/login') && r.request().method() === 'POST',
      ),
      page.click('button[type=submit]'),
    ])
    expect(res.status()).toBe(401)
    await expect(page.textContent('[role=alert]')).resolves.toContain('not the admin token')
    expect((await context.cookies()).map((c) => c.name)).not.toContain('kaixu_admin')
    // And the pages stay closed.
    await page.goto(`${gw.url}/admin/pushes`)
    expect(page.url()).toBe(`${gw.url}/admin/login`)
    await shot('login-refused')
    // A POST without a session (and without a CSRF token) is refused.
    const post = await page.request.post(`${gw.url}/admin/logout`, { form: { _csrf: 'x' } })
    expect(post.status()).toBe(401)
  })

  test('signs in with the admin token; the session cookie is HttpOnly and SameSite=Strict', async () => {
    await page.goto(`${gw.url}/admin/login`)
    await page.fill('input[name=token]', ADMIN_TOKEN)
    await Promise.all([page.waitForURL(`${gw.url}/admin`), page.click('button[type=submit]')])
    const cookie = (await context.cookies()).find((c) => c.name === 'kaixu_admin')
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/admin' })
    // Only the cookie's SHA-256 is stored.
    const rows = await gw.db.query<{ id_hash: string }>('SELECT id_hash FROM admin_sessions')
    expect(rows.map((r) => r.id_hash)).toContain(
      createHash('sha256').update(cookie!.value).digest('hex'),
    )
    // The session is for pages only: the admin API still wants the token.
    const apiRes = await page.request.get(`${gw.url}/admin/api/customers`)
    expect(apiRes.status()).toBe(401)
    expect((await apiRes.json()).error.code).toBe('unauthorized')
    const res = await page.request.get(`${gw.url}/admin`)
    const csp = res.headers()['content-security-policy']!
    expect(csp).toContain("default-src 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(await res.text()).not.toMatch(/<script|style=/i)
  })

  test('overview: this month’s deploys, bytes, revenue, a chart, failures and dead jobs', async () => {
    await page.goto(`${gw.url}/admin`)
    const [invoices] = [await gw.billing.invoices(monthOf(new Date()))]
    const total = invoices.reduce((s, i) => s + i.totalCents, 0)
    const text = (await page.textContent('main'))!
    expect(text).toMatch(/Deploys billed\s*3/)
    expect(text).toContain(`$${(total / 100).toFixed(2)}`)
    expect(text).toMatch(/Failed pushes\s*1/)
    expect(text).toMatch(/Dead jobs\s*1/)
    expect(text).toContain('Build exploded')
    expect(await page.locator('svg rect.bar[height]:not([height="0"])').count()).toBeGreaterThan(0)
    await shot('overview')
    // Phone width: nothing overflows the page sideways.
    await page.setViewportSize({ width: 390, height: 844 })
    await page.reload()
    // (A string: the test's tsconfig has no DOM types.)
    const overflow = await page.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    )
    expect(overflow).toBeLessThanOrEqual(0)
    await shot('overview-phone')
    await page.setViewportSize({ width: 1366, height: 900 })
  })

  test('customers: limits, usage, key prefixes, token status, projects; never a secret', async () => {
    await page.goto(`${gw.url}/admin/customers`)
    const list = (await page.textContent('main'))!
    expect(list).toContain('Acme')
    expect(list).toContain('Globex')
    expect(list).toContain(`…${acme.netlifyToken.slice(-4)}`)
    await shot('customers')
    await page.click('text=Acme')
    const body = await page.content()
    expect(body).toContain(acme.key.slice(0, 12))
    expect(body).toContain(acme.projectName)
    expect(body).toMatch(/Deploys \(\d{4}-\d\d\)/)
    expect(body).toContain('last set or rotated')
    expect(body).not.toContain(acme.key)
    expect(body).not.toContain(acme.netlifyToken)
    await shot('customer-detail')
  })

  test('deploy history: filters narrow the list; a push shows its steps, files and error', async () => {
    await page.goto(`${gw.url}/admin/pushes`)
    const rows = () => page.locator('main tbody tr')
    expect(await rows().count()).toBe(5)
    await shot('pushes')
    await page.selectOption('select[name=customer]', globex.customerId)
    await Promise.all([page.waitForURL(/customer=/), page.click('form.filters button')])
    expect(await rows().count()).toBe(2)
    expect(await page.locator('main tbody').textContent()).not.toContain('Acme')
    await page.goto(`${gw.url}/admin/pushes?state=error`)
    expect(await rows().count()).toBe(1)
    expect(await page.locator('main tbody').textContent()).toContain('Build exploded')
    await page.goto(`${gw.url}/admin/pushes?month=${monthOf(new Date()).slice(0, 7)}&state=ready`)
    expect(await rows().count()).toBe(3)
    await page.goto(`${gw.url}/admin/pushes?month=2020-01`)
    expect(await rows().count()).toBe(0)
    await page.goto(`${gw.url}/admin/pushes?month=bad`)
    await expect(page.textContent('[role=alert]')).resolves.toContain('month')

    await page.goto(`${gw.url}/admin/pushes/${failedPush}`)
    const detail = (await page.textContent('main'))!
    expect(detail).toContain('push.init')
    expect(detail).toContain('push.upload')
    expect(detail).toContain('push.complete')
    expect(detail).toContain('Build exploded')
    expect(detail).toContain('index.html')
    expect(detail).toContain(sha1('<h1>broken</h1>'))
    await shot('push-detail')
  })

  test('jobs: the retry button re-queues a dead job, which then finishes the push', async () => {
    await page.goto(`${gw.url}/admin/jobs?state=dead`)
    const row = page.locator('tbody tr', { hasText: deadPush })
    expect(await row.count()).toBe(1)
    await shot('jobs-dead')
    expect((await fetch(`${gw.url}/__sandbox/faults`, { method: 'DELETE' })).status).toBe(204)
    await Promise.all([
      page.waitForURL(/retried=/),
      row.locator('button', { hasText: 'Retry' }).click(),
    ])
    await expect(page.textContent('[role=status]')).resolves.toContain('queued again')
    const state = await until('the retried push to finish', async () => {
      const r = await api(gw, globex.key, 'GET', `/v1/push-status?pushId=${deadPush}`)
      return r.body['state'] === 'ready' ? 'ready' : undefined
    })
    expect(state).toBe('ready')
    expect((await gw.jobs().list({ states: ['failed'] })).length).toBe(0)
    await page.goto(`${gw.url}/admin/jobs`)
    const jobs = (await page.textContent('main'))!
    expect(jobs).toContain('completed')
    expect(jobs).toContain('push-assemble')
    // The chunked upload: 3 chunks, assembled and uploaded.
    const chunked = page.locator('tbody tr', { hasText: 'big.bin' })
    expect(await chunked.locator('td').nth(4).textContent()).toBe('3')
    expect(await chunked.textContent()).toContain('uploaded')
    expect(await chunked.textContent()).toContain('131.2 kB')
    await page.goto(`${gw.url}/admin/jobs?chunkState=failed`)
    expect(await page.locator('tbody tr', { hasText: 'big.bin' }).count()).toBe(0)
    await page.goto(`${gw.url}/admin/jobs`)
    await shot('jobs')
    // A retry without the session's CSRF token is refused.
    const forged = await page.request.post(
      `${gw.url}/admin/jobs/x/00000000-0000-4000-8000-000000000000/retry`,
      {
        form: { _csrf: 'forged' },
      },
    )
    expect(forged.status()).toBe(403)
  })

  test('invoices per customer and month; the CSV matches the invoice', async () => {
    const month = monthOf(new Date())
    await page.goto(`${gw.url}/admin/invoices`)
    const invoices = await gw.billing.invoices(month)
    expect(invoices.map((i) => i.customerName).sort()).toEqual(['Acme', 'Globex'])
    for (const i of invoices) {
      const section = page.locator(`section[data-customer="${i.customerId}"]`)
      expect(await section.textContent()).toContain(i.id)
      expect(await section.locator('.inv-total').textContent()).toBe(
        `$${(i.totalCents / 100).toFixed(2)}`,
      )
      expect(await section.locator('.inv-deploys').textContent()).toBe(String(i.deploys))
    }
    await shot('invoices')
    const href = await page.getAttribute('a[download]', 'href')
    const csv = await page.request.get(`${gw.url}${href}`)
    expect(csv.headers()['content-type']).toMatch(/^text\/csv/)
    const text = await csv.text()
    expect(text).toBe(invoicesToCsv(invoices))
    const rows = text
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','))
    for (const i of invoices) {
      const mine = rows.filter((r) => r[3] === i.id)
      expect(mine.reduce((s, r) => s + Number(r[10]), 0)).toBe(i.totalCents)
      expect(Number(mine[0]![11])).toBe(i.totalCents)
    }
    // One customer's invoice only.
    await page.selectOption('select[name=customer]', acme.customerId)
    await Promise.all([page.waitForURL(/customer=/), page.click('form.filters button')])
    expect(await page.locator('section.invoice').count()).toBe(1)
  })

  test('audit log with filters', async () => {
    await page.goto(`${gw.url}/admin/audit`)
    const all = await page.locator('main tbody tr').count()
    expect(all).toBeGreaterThan(5)
    await shot('audit')
    await page.fill('input[name=action]', 'job.retry')
    await Promise.all([page.waitForURL(/action=/), page.click('form.filters button')])
    expect(await page.locator('main tbody tr').count()).toBe(1)
    await page.goto(`${gw.url}/admin/audit?customer=${globex.customerId}&action=push.init`)
    const n = await page.locator('main tbody tr').count()
    expect(n).toBe(2)
    expect(await page.locator('main tbody').textContent()).not.toContain('Acme')
  })

  test('text from the database is escaped, never markup', async () => {
    await page.goto(`${gw.url}/admin/pushes/${failedPush}`)
    expect(await page.textContent('main')).toContain('Build exploded <img src=x>')
    expect(await page.locator('main img').count()).toBe(0)
  })

  test('deploy history pages by keyset: every push once, in order, across pages', async () => {
    // 120 pushes of one more customer, two per microsecond-distinct instant sharing a millisecond.
    const t = await createTenant(gw, 'Initech')
    await gw.db.query(
      `INSERT INTO pushes (id, customer_id, project_id, site_id, state, files_total, billing_month,
                          created_at)
       SELECT 'push_page' || lpad(g::text, 3, '0'), $1, $2, 'site', 'ready', 1,
              date_trunc('month', now())::date,
              date_trunc('milliseconds', now()) - (g / 2) * interval '1 millisecond'
                - (g % 2) * interval '1 microsecond'
         FROM generate_series(1, 120) g`,
      [t.customerId, t.projectId],
    )
    const seen: string[] = []
    await page.goto(`${gw.url}/admin/pushes?customer=${t.customerId}`)
    for (;;) {
      const ids = await page
        .locator('main tbody tr td:first-child a')
        .evaluateAll((links) => links.map((a) => a.getAttribute('href')!.split('/').pop()!))
      seen.push(...ids)
      const next = page.locator('a[rel=next]')
      if ((await next.count()) === 0) break
      await Promise.all([page.waitForURL(/before=/), next.click()])
    }
    await shot('pushes-page-3')
    expect(seen).toHaveLength(120)
    expect(new Set(seen).size).toBe(120)
    const expected = (
      await gw.db.query<{ id: string }>(
        'SELECT id FROM pushes WHERE customer_id = $1 ORDER BY created_at DESC, id DESC',
        [t.customerId],
      )
    ).map((r) => r.id)
    expect(seen).toEqual(expected)

    // Chunked uploads page the same way: 60 expired uploads of one push, 50 + the rest.
    await gw.db.query(
      `INSERT INTO chunk_uploads (push_id, sha1, path, chunk_count, file_size, state, created_at,
                                  expires_at)
       SELECT 'push_page001', lpad(to_hex(g), 40, '0'), 'f' || g || '.bin', 2, 1000, 'expired',
              now() - (g / 3) * interval '1 second', now()
         FROM generate_series(1, 60) g`,
    )
    await page.goto(`${gw.url}/admin/jobs?chunkState=expired`)
    const chunkRows = () => page.locator('main tbody tr', { hasText: 'push_page001' })
    const first = await chunkRows().allTextContents()
    await Promise.all([page.waitForURL(/chunksBefore=/), page.click('a[rel=next]')])
    const second = await chunkRows().allTextContents()
    expect([first.length, second.length]).toEqual([50, 10])
    expect(new Set([...first, ...second]).size).toBe(60)
    expect(await page.locator('a[rel=next]').count()).toBe(0)
  })

  test('no page broke the CSP; signing out ends the session', async () => {
    expect(cspViolations).toEqual([])
    await page.goto(`${gw.url}/admin`)
    await Promise.all([page.waitForURL(`${gw.url}/admin/login`), page.click('text=Sign out')])
    await page.goto(`${gw.url}/admin/invoices`)
    expect(page.url()).toBe(`${gw.url}/admin/login`)
    expect((await gw.db.query('SELECT 1 FROM admin_sessions')).length).toBe(0)
  })
})
