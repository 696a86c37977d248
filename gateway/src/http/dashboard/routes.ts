import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import express, {
  Router,
  type ErrorRequestHandler,
  type NextFunction,
  type Request,
  type Response,
} from 'express'
import { z } from 'zod'
import { insertAudit } from '../../db/audit-repo.ts'
import * as repo from '../../db/dashboard-repo.ts'
import { findPushById } from '../../db/pushes-repo.ts'
import { AppError, ERRORS, ErrorCode } from '../../errors.ts'
import { invoicesToCsv } from '../../services/billing.ts'
import { monthOf } from '../../services/metering.ts'
import type { Services } from '../../start/gateway.ts'
import { PUSH_STATES } from '../schemas.ts'
import { parse } from '../validate.ts'
import { webhookPages } from './webhooks-page.ts'
import { onboardingPages } from './onboarding-page.ts'
import { fmtBytes, fmtCents, fmtDuration, fmtInt, fmtTime } from './format.ts'
import { html, type HtmlValue } from './html.ts'
import {
  createSessions,
  LOGIN_COOKIE,
  readCookie,
  sameSecret,
  setCookie,
  type Session,
} from './session.ts'
import {
  badge,
  dailyChart,
  filterForm,
  layout,
  meter,
  monthInput,
  pager,
  select,
  table,
  textInput,
} from './views.ts'

/** Rows per page on every list. */
const PAGE = 50
/** What the dashboard's pages may load: themselves and the one stylesheet. No script at all. */
const CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/** Failed dashboard sign-ins an address may make in a quarter of an hour before a 429. */
const SIGN_IN_THROTTLE = { limit: 5, seconds: 15 * 60 }

const CSS = readFileSync(join(import.meta.dirname, 'assets', 'dashboard.css'))

const month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be YYYY-MM')
const id = z.string().regex(/^[\w.:-]{1,128}$/, 'is not a valid id')
/** Empty form fields mean "no filter". */
const opt = <T extends z.ZodType>(s: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), s.optional())
const JOB_STATES = {
  pending: 'created',
  failed: 'retry',
  running: 'active',
  dead: 'failed',
} as const
const CHUNK_STATES = ['receiving', 'assembling', 'uploaded', 'failed', 'expired'] as const

/** Keyset cursor of the chunked-upload list: `<created_at to the µs>_<push id>_<file sha1>`. */
const CHUNK_CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)_([\w.:-]{1,128})_([0-9a-f]{40})$/
const pushesQuery = z.object({
  customer: opt(id),
  project: opt(id),
  month: opt(month),
  state: opt(z.enum(PUSH_STATES)),
  before: opt(z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z_[\w.:-]{1,128}$/)),
})
const customersQuery = z.object({ after: opt(z.string().max(400)) })
const jobsQuery = z.object({
  state: opt(z.enum(['pending', 'running', 'failed', 'dead', 'completed'])),
  queue: opt(z.string().regex(/^[\w-]{1,64}$/)),
  chunkState: opt(z.enum(CHUNK_STATES)),
  chunksBefore: opt(z.string().regex(CHUNK_CURSOR)),
  retried: opt(id),
})
const invoicesQuery = z.object({ month: opt(month), customer: opt(id), after: opt(id) })
const auditQuery = z.object({
  customer: opt(id),
  month: opt(month),
  action: opt(z.string().regex(/^[a-z_.]{1,64}$/, 'is not an action')),
  before: opt(z.coerce.number().int().positive()),
})
const loginBody = z.object({ token: z.string().max(1000), _csrf: z.string().max(200) })
const csrfBody = z.object({ _csrf: z.string().max(200) })
const jobParams = z.object({ queue: z.string().regex(/^[\w-]{1,64}$/), id: z.uuid() })

type Locals = { session: Session }
const sessionOf = (res: Response) => (res.locals as Locals).session
const toMonth = (m: string | undefined, fallback: string) => (m ? `${m}-01` : fallback)

/**
 * The operator's dashboard under /admin: server-rendered pages over the same services the admin
 * API uses. Sign-in takes KAIXU_ADMIN_TOKEN once and then a session cookie; every POST carries
 * the session's CSRF token.
 */
export function dashboardRoutes(deps: Services): Router {
  const { db, accounts, billing, clock, auditLog, config } = deps
  // Without a token the routes below refuse everything, so no session can be made anyway.
  const sessions = createSessions(db, config.adminToken ?? '')
  const router = Router()
  const form = express.urlencoded({ extended: false, limit: '8kb', parameterLimit: 10 })

  // The admin API is its own router; a path under it that matched nothing is not a page.
  router.use('/api', (_req, _res, next) => next('router'))
  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', CSP)
    res.setHeader('Cache-Control', 'no-store')
    res.setHeader('Referrer-Policy', 'same-origin')
    next()
  })

  router.get('/assets/dashboard.css', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300')
    res.type('text/css').send(CSS)
  })

  router.use((_req, _res, next) => {
    if (!config.adminToken) throw ERRORS.adminDisabled()
    next()
  })

  const loginPage = (res: Response, token: string, error?: string) =>
    res.type('html').send(
      layout({
        title: 'Sign in',
        body: html`<form method="post" action="/admin/login" class="login stack">
          ${error ? html`<p class="error-box" role="alert">${error}</p>` : ''}
          <label
            >Admin token
            <input type="password" name="token" autocomplete="current-password" required autofocus
          /></label>
          <input type="hidden" name="_csrf" value="${token}" />
          <button type="submit">Sign in</button>
        </form>`,
      }),
    )

  router.get('/login', async (req, res) => {
    if (await sessions.load(req)) {
      res.redirect(303, '/admin')
      return
    }
    loginPage(res, sessions.loginToken(req, res))
  })

  router.post('/login', form, async (req, res) => {
    const body = parse(loginBody, req.body ?? {}, 'body')
    if (!sameSecret(body._csrf, readCookie(req, LOGIN_COOKIE))) {
      res.status(403)
      loginPage(res, sessions.loginToken(req, res), 'The form expired; please try again.')
      return
    }
    // Guessing is throttled per address, in the database so every process counts alike; a
    // throttled attempt is refused before the token is even compared.
    const address = req.ip ?? 'unknown'
    const blockedFor = await repo.signInBlockedFor(db, address, SIGN_IN_THROTTLE)
    const ok = blockedFor === undefined && sameSecret(body.token, config.adminToken)
    await insertAudit(db, {
      actor: 'admin',
      action: 'admin.sign_in',
      status: ok ? 'ok' : blockedFor !== undefined ? 'throttled' : 'refused',
      requestId: String(req.id),
      details: { via: 'dashboard', ip: address },
    })
    if (blockedFor !== undefined) {
      const error = ERRORS.signInThrottled(blockedFor)
      res.status(error.status).setHeader('Retry-After', String(error.retryAfter))
      loginPage(res, sessions.loginToken(req, res), error.message)
      return
    }
    if (!ok) {
      await repo.recordSignInFailure(db, address, SIGN_IN_THROTTLE.seconds)
      res.status(401)
      loginPage(res, sessions.loginToken(req, res), 'That is not the admin token.')
      return
    }
    await repo.clearSignInFailures(db, address)
    await sessions.create(req, res)
    setCookie(req, res, LOGIN_COOKIE, '', 0)
    res.redirect(303, '/admin')
  })

  // Everything below needs a session; POSTs also need its CSRF token.
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const session = await sessions.load(req)
    if (!session) {
      if (req.method === 'GET' || req.method === 'HEAD') {
        res.redirect(303, '/admin/login')
        return
      }
      throw new AppError(ErrorCode.Unauthorized, 401, 'Your session has ended; sign in again.')
    }
    ;(res.locals as Locals).session = session
    if (req.method === 'POST') {
      form(req, res, (err?: unknown) => {
        if (err) return next(err)
        const body = parse(csrfBody, req.body ?? {}, 'body')
        if (!sameSecret(body._csrf, session.csrf)) {
          return next(new AppError(ErrorCode.Unauthorized, 403, 'Invalid CSRF token.'))
        }
        next()
      })
      return
    }
    next()
  })

  const page = (res: Response, title: string, active: string, body: HtmlValue) =>
    res.type('html').send(layout({ title, active, csrf: sessionOf(res).csrf, body }))

  router.post('/logout', async (req, res) => {
    await sessions.destroy(req, res, sessionOf(res))
    res.redirect(303, '/admin/login')
  })

  // Overview: this month's totals, a chart per day, and what needs attention.
  router.get('/', async (_req, res) => {
    const thisMonth = monthOf(clock.now())
    const jobs = deps.jobs()
    const [totals, days, states, failures, dead, pending, chunks] = await Promise.all([
      repo.monthTotals(db, thisMonth),
      repo.dailyTotals(db, thisMonth),
      repo.pushStates(db, thisMonth),
      repo.recentFailures(db, 10),
      jobs.list({ states: ['failed'], limit: 100 }),
      jobs.list({ states: ['created', 'retry', 'active'], limit: 100 }),
      repo.chunkStates(db),
    ])
    const n = (s: string) => states.find((r) => r.state === s)?.n ?? 0
    const many = (list: unknown[]) => (list.length >= 100 ? '100+' : fmtInt(list.length))
    const card = (label: string, value: string, alert = false) =>
      html`<div class="card${alert ? ' alert' : ''}">
        <div class="label">${label}</div>
        <div class="value">${value}</div>
      </div>`
    const m = thisMonth.slice(0, 7)
    page(
      res,
      `Overview · ${m}`,
      'overview',
      html`<section class="cards" aria-label="This month">
          ${card('Deploys billed', fmtInt(totals.deploys))}
          ${card('Bytes deployed', fmtBytes(totals.bytes))}
          ${card('Revenue (draft)', fmtCents(totals.cents))}
          ${card('Pushes in flight', fmtInt(n('uploading') + n('finalizing')))}
          ${card('Failed pushes', fmtInt(n('error')), n('error') > 0)}
          ${card('Dead jobs', many(dead), dead.length > 0)} ${card('Queued jobs', many(pending))}
          ${card(
            'Chunked files failed',
            fmtInt(chunks.find((c) => c.state === 'failed')?.n ?? 0),
            chunks.some((c) => c.state === 'failed' && c.n > 0),
          )}
        </section>
        <h2>Deploys per day</h2>
        ${dailyChart(m, days)}
        <h2>Recent failing pushes</h2>
        ${table(
          ['When', 'Customer', 'Project', 'Push', 'Error'],
          failures.map((p) => [
            fmtTime(p.created_at),
            p.customer_name,
            p.project_name,
            html`<a class="mono" href="/admin/pushes/${p.id}">${p.id}</a>`,
            p.error_message,
          ]),
          'No failed pushes.',
        )}
        <p><a href="/admin/pushes?state=error">All failed pushes</a></p>
        <h2>Dead jobs</h2>
        ${table(
          ['Queue', 'Job', 'Failed', 'Error'],
          dead
            .slice(0, 10)
            .map((j) => [j.queue, html`<code>${j.id}</code>`, fmtTime(j.completedAt), j.error]),
          'No dead jobs.',
        )}
        <p><a href="/admin/jobs?state=dead">All dead jobs</a></p>`,
    )
  })

  // Customers: status, token status, keys, projects, usage against caps; one page at a time.
  router.get('/customers', async (req, res) => {
    const q = parse(customersQuery, req.query, 'query')
    const [afterName, afterId] = q.after ? q.after.split('\u0000') : []
    const rows = await repo.listCustomerPage(
      db,
      afterName !== undefined && afterId ? { name: afterName, id: afterId } : undefined,
      PAGE + 1,
    )
    const shown = rows.slice(0, PAGE)
    const details = await Promise.all(
      shown.map(async (c) => ({
        c: await accounts.getCustomer(c.id),
        limits: await accounts.limitsReport(c.id),
      })),
    )
    const last = shown.at(-1)
    page(
      res,
      'Customers',
      'customers',
      html`${table(
        [
          'Customer',
          'Status',
          'Netlify token',
          'Active keys',
          'Projects',
          'Deploys this month',
          'Bytes this month',
        ],
        details.map(({ c, limits }) => [
          html`<a href="/admin/customers/${c.id}">${c.name}</a><br /><code>${c.id}</code>`,
          badge(c.status),
          c.netlifyToken
            ? html`${badge(c.netlifyToken.state)} …${c.netlifyToken.last4}`
            : html`<span class="empty">not set</span>`,
          fmtInt(c.activeKeys),
          fmtInt(c.projects),
          meter(limits.deploys.used, limits.deploys.limit, fmtInt),
          meter(limits.bytes.used, limits.bytes.limit, fmtBytes),
        ]),
        'No customers yet.',
      )}
      ${pager('/admin/customers', { after: q.after }, rows.length > PAGE && last ? `after:${last.name}\u0000${last.id}` : undefined)}`,
    )
  })

  router.get('/customers/:id', async (req, res) => {
    const customerId = parse(z.object({ id }), req.params, 'path').id
    const c = await accounts.getCustomer(customerId)
    const [limits, keys, projects] = await Promise.all([
      accounts.limitsReport(customerId),
      accounts.listApiKeys(customerId),
      accounts.listProjects(customerId),
    ])
    const t = c.netlifyToken
    page(
      res,
      c.name,
      'customers',
      html`<dl class="facts">
          <dt>Id</dt>
          <dd><code>${c.id}</code></dd>
          <dt>Status</dt>
          <dd>${badge(c.status)}</dd>
          <dt>Created</dt>
          <dd>${fmtTime(c.createdAt)}</dd>
          <dt>Netlify token</dt>
          <dd>
            ${
              t
                ? html`${badge(t.state)} ending …${t.last4}; last set or rotated
                  ${fmtTime(t.updatedAt)}${t.revokedAt ? html`; revoked ${fmtTime(t.revokedAt)}` : ''}${t.vaultKeyId ? html`; vault key <code>${t.vaultKeyId}</code>` : ''}`
                : 'not set'
            }
          </dd>
          <dt>Deploys (${limits.month})</dt>
          <dd>${meter(limits.deploys.used, limits.deploys.limit, fmtInt)}</dd>
          <dt>Bytes (${limits.month})</dt>
          <dd>${meter(limits.bytes.used, limits.bytes.limit, fmtBytes)}</dd>
          <dt>Caps reset</dt>
          <dd>${fmtTime(limits.resetAt)}</dd>
        </dl>
        <p>
          <a href="/admin/pushes?customer=${c.id}">Deploy history</a> ·
          <a href="/admin/invoices?customer=${c.id}">Invoices</a> ·
          <a href="/admin/audit?customer=${c.id}">Audit log</a>
        </p>
        <h2>API keys</h2>
        ${table(
          ['Name', 'Prefix', 'Created', 'Last used', 'State'],
          keys.map((k) => [
            k.name ?? '—',
            html`<code>${k.prefix}…</code>`,
            fmtTime(k.createdAt),
            fmtTime(k.lastUsedAt),
            k.revokedAt ? html`${badge('revoked')} ${fmtTime(k.revokedAt)}` : badge('active'),
          ]),
          'No keys.',
        )}
        <h2>Projects</h2>
        ${table(
          ['Name', 'Netlify site', 'Created', ''],
          projects.map((p) => [
            p.name,
            html`<code>${p.siteId}</code>`,
            fmtTime(p.createdAt),
            html`<a href="/admin/pushes?customer=${c.id}&amp;project=${p.id}">deploys</a>`,
          ]),
          'No projects.',
        )}`,
    )
  })

  // Deploy history with filters, keyset-paged on (created_at, id).
  router.get('/pushes', async (req, res) => {
    const q = parse(pushesQuery, req.query, 'query')
    const sep = q.before?.indexOf('Z_') ?? -1
    const before = q.before
      ? { at: q.before.slice(0, sep + 1), id: q.before.slice(sep + 2) }
      : undefined
    const [rows, customers, projects] = await Promise.all([
      repo.listPushes(db, {
        customerId: q.customer,
        projectId: q.project,
        month: q.month ? `${q.month}-01` : undefined,
        state: q.state,
        before,
        limit: PAGE + 1,
      }),
      repo.customerNames(db),
      repo.projectNames(db, q.customer),
    ])
    const shown = rows.slice(0, PAGE)
    const last = shown.at(-1)
    page(
      res,
      'Deploy history',
      'pushes',
      html`${filterForm('/admin/pushes', [
        select(
          'customer',
          'Customer',
          customers.map((c) => ({ value: c.id, label: c.name })),
          q.customer,
        ),
        select(
          'project',
          'Project',
          projects.map((p) => ({
            value: p.id,
            label: p.removed_at ? `${p.name} (removed)` : p.name,
          })),
          q.project,
        ),
        monthInput(q.month),
        select(
          'state',
          'State',
          PUSH_STATES.map((s) => ({ value: s, label: s })),
          q.state,
        ),
      ])}
      ${table(
        [
          'Created',
          'Customer',
          'Project',
          'State',
          'Netlify',
          'Files',
          'Bytes',
          'Cost',
          'Took',
          'URL / error',
        ],
        shown.map((p) => [
          html`<a href="/admin/pushes/${p.id}">${fmtTime(p.created_at)}</a>`,
          p.customer_name,
          p.project_name,
          badge(p.state),
          p.netlify_state ?? '—',
          `${fmtInt(p.files_required)} / ${fmtInt(p.files_total)}`,
          fmtBytes(p.bytes_uploaded),
          p.cost_cents === null ? '—' : fmtCents(p.cost_cents),
          fmtDuration(p.created_at, p.finished_at),
          p.error_message
            ? html`<span class="error">${p.error_message}</span>`
            : p.deploy_ssl_url
              ? html`<a href="${safeUrl(p.deploy_ssl_url)}">${p.deploy_ssl_url}</a>`
              : '—',
        ]),
        'No pushes match.',
      )}
      ${pager('/admin/pushes', { customer: q.customer, project: q.project, month: q.month, state: q.state, before: q.before }, rows.length > PAGE && last ? `${last.cursor_at}_${last.id}` : undefined)}`,
    )
  })

  router.get('/pushes/:id', async (req, res) => {
    const pushId = parse(z.object({ id }), req.params, 'path').id
    const p = await findPushById(db, pushId)
    if (!p) throw ERRORS.notFound(`Push '${pushId}'`)
    const [steps, files, chunks, customer] = await Promise.all([
      repo.pushSteps(db, pushId, 500),
      repo.pushFiles(db, pushId, undefined, 200),
      repo.listChunkUploads(db, { pushId, limit: 200 }),
      accounts.getCustomer(p.customer_id),
    ])
    page(
      res,
      `Push ${p.id}`,
      'pushes',
      html`<dl class="facts">
          <dt>Customer</dt>
          <dd><a href="/admin/customers/${customer.id}">${customer.name}</a></dd>
          <dt>Project</dt>
          <dd>${p.project_name} (site <code>${p.site_id}</code>)</dd>
          <dt>State</dt>
          <dd>${badge(p.state)} Netlify: ${p.netlify_state ?? '—'}</dd>
          <dt>Netlify deploy</dt>
          <dd><code>${p.deploy_id ?? '—'}</code></dd>
          <dt>Files</dt>
          <dd>
            ${fmtInt(p.files_total)} in the manifest, ${fmtInt(p.files_required)} required,
            ${fmtInt(p.files_uploaded)} uploaded
          </dd>
          <dt>Bytes</dt>
          <dd>${fmtBytes(p.bytes_uploaded)} uploaded (${fmtInt(p.bytes_uploaded)} B)</dd>
          <dt>Cost</dt>
          <dd>${p.cost_cents === null ? '— (not billed)' : fmtCents(p.cost_cents)}</dd>
          <dt>Created</dt>
          <dd>${fmtTime(p.created_at)}</dd>
          <dt>Completed</dt>
          <dd>${fmtTime(p.completed_at)}</dd>
          <dt>Finished</dt>
          <dd>${fmtTime(p.finished_at)} (${fmtDuration(p.created_at, p.finished_at)})</dd>
          <dt>Deploy URL</dt>
          <dd>
            ${p.deploy_ssl_url ? html`<a href="${safeUrl(p.deploy_ssl_url)}">${p.deploy_ssl_url}</a>` : '—'}
          </dd>
          <dt>Site URL</dt>
          <dd>${p.ssl_url ? html`<a href="${safeUrl(p.ssl_url)}">${p.ssl_url}</a>` : '—'}</dd>
          <dt>Error</dt>
          <dd>${p.error_message ?? '—'}</dd>
        </dl>
        <h2>Steps</h2>
        ${table(
          ['When', 'Step', 'Status', 'Bytes', 'Actor', 'Request id'],
          steps.map((s) => [
            fmtTime(s.at),
            s.action,
            badge(s.status),
            s.bytes === null ? '' : fmtBytes(s.bytes),
            s.actor,
            html`<code>${s.request_id ?? ''}</code>`,
          ]),
          'No audited steps.',
        )}
        <h2>Chunked files</h2>
        ${chunkTable(chunks)}
        <h2>Files${files.length === 200 ? ' (first 200)' : ''}</h2>
        ${table(
          ['Path', 'SHA-1', 'Size', 'Required', 'Uploaded'],
          files.map((f) => [
            f.path,
            html`<code>${f.sha1}</code>`,
            f.size === null ? '—' : fmtBytes(f.size),
            f.required ? 'yes' : 'no',
            fmtTime(f.uploaded_at),
          ]),
          'No files.',
        )}`,
    )
  })

  webhookPages(router, { webhooks: deps.webhooks, page, csrf: (res) => sessionOf(res).csrf })
  onboardingPages(router, { ...deps, page, csrf: (res) => sessionOf(res).csrf })

  // Background jobs (pg-boss) and chunked uploads, with a retry button on dead jobs.
  router.get('/jobs', async (req, res) => {
    const q = parse(jobsQuery, req.query, 'query')
    const states =
      q.state === 'completed' ? ['completed' as const] : q.state ? [JOB_STATES[q.state]] : undefined
    const [jobs, chunks] = await Promise.all([
      deps.jobs().list({ states, queue: q.queue, limit: PAGE }),
      repo.listChunkUploads(db, {
        state: q.chunkState,
        before: chunkCursor(q.chunksBefore),
        limit: PAGE + 1,
      }),
    ])
    const lastChunk = chunks.length > PAGE ? chunks[PAGE - 1] : undefined
    const olderChunks = lastChunk
      ? `/admin/jobs?${new URLSearchParams({
          ...(q.state ? { state: q.state } : {}),
          ...(q.queue ? { queue: q.queue } : {}),
          ...(q.chunkState ? { chunkState: q.chunkState } : {}),
          chunksBefore: `${lastChunk.cursor_at}_${lastChunk.push_id}_${lastChunk.sha1}`,
        }).toString()}`
      : undefined
    const label = (s: string) =>
      (Object.entries(JOB_STATES).find(([, v]) => v === s)?.[0] ?? s) as string
    const csrf = sessionOf(res).csrf
    page(
      res,
      'Jobs',
      'jobs',
      html`${q.retried ? html`<p class="notice" role="status">Job <code>${q.retried}</code> was queued again.</p>` : ''}
        ${filterForm('/admin/jobs', [
          select(
            'state',
            'Job state',
            ['pending', 'running', 'failed', 'dead', 'completed'].map((s) => ({
              value: s,
              label: s,
            })),
            q.state,
          ),
          textInput('queue', 'Queue', q.queue),
          select(
            'chunkState',
            'Chunked upload state',
            CHUNK_STATES.map((s) => ({ value: s, label: s })),
            q.chunkState,
          ),
        ])}
        <h2>Background jobs (latest ${PAGE})</h2>
        ${table(
          ['Created', 'Queue', 'State', 'Attempts', 'Data', 'Error', ''],
          jobs.map((j) => [
            fmtTime(j.createdAt),
            j.queue,
            badge(label(j.state)),
            `${j.attempts} / ${j.maxAttempts}`,
            typeof j.data['pushId'] === 'string'
              ? html`<a class="mono" href="/admin/pushes/${j.data['pushId']}"
                  >${JSON.stringify(j.data)}</a
                >`
              : html`<code>${JSON.stringify(j.data)}</code>`,
            j.error,
            j.state === 'failed'
              ? html`<form
                  method="post"
                  action="/admin/jobs/${j.queue}/${j.id}/retry"
                  class="inline"
                >
                  <input type="hidden" name="_csrf" value="${csrf}" /><button type="submit">
                    Retry
                  </button>
                </form>`
              : '',
          ]),
          'No jobs match.',
        )}
        <h2>Chunked uploads${q.chunksBefore ? ' (older)' : ''}</h2>
        ${chunkTable(chunks.slice(0, PAGE))}
        <nav class="pager">
          ${q.chunksBefore ? html`<a href="/admin/jobs">First page</a>` : ''}
          ${olderChunks ? html`<a rel="next" href="${olderChunks}">Older chunked uploads →</a>` : ''}
        </nav>`,
    )
  })

  router.post('/jobs/:queue/:id/retry', async (req, res) => {
    const { queue, id: jobId } = parse(jobParams, req.params, 'path')
    if (!(await deps.jobs().retry(queue, jobId))) {
      throw ERRORS.notFound(`Dead job '${jobId}' in ${queue}`)
    }
    await insertAudit(db, {
      actor: 'admin',
      action: 'job.retry',
      status: 'ok',
      requestId: String(req.id),
      details: { queue, id: jobId, via: 'dashboard' },
    })
    res.redirect(303, `/admin/jobs?retried=${encodeURIComponent(jobId)}`)
  })

  // Invoices of a month, a page of customers at a time; CSV of the same selection.
  router.get('/invoices', async (req, res) => {
    const q = parse(invoicesQuery, req.query, 'query')
    const m = toMonth(q.month, monthOf(clock.now()))
    const ids = q.customer ? [q.customer] : await repo.billedCustomers(db, m, q.after, PAGE + 1)
    const shown = ids.slice(0, PAGE)
    const invoices = await invoicePage(db, m, shown)
    const customers = await repo.customerNames(db)
    const csvQuery = new URLSearchParams({
      month: m.slice(0, 7),
      ...(q.customer ? { customer: q.customer } : {}),
    })
    page(
      res,
      `Invoices · ${m.slice(0, 7)}`,
      'invoices',
      html`${filterForm('/admin/invoices', [
          monthInput(m.slice(0, 7)),
          select(
            'customer',
            'Customer',
            customers.map((c) => ({ value: c.id, label: c.name })),
            q.customer,
          ),
        ])}
        <p><a href="/admin/invoices.csv?${csvQuery.toString()}" download>Download CSV</a></p>
        ${
          invoices.length === 0
            ? html`<p class="empty">No invoices for this month.</p>`
            : invoices.map(
                (i) =>
                  html`<section class="invoice" data-customer="${i.customerId}">
                    <h2>${i.customerName} · ${badge(i.status)}</h2>
                    <dl class="facts">
                      <dt>Invoice</dt>
                      <dd><code>${i.id ?? '(draft not written yet)'}</code></dd>
                      <dt>Deploys</dt>
                      <dd class="inv-deploys">${fmtInt(i.deploys)}</dd>
                      <dt>Bytes</dt>
                      <dd>${fmtBytes(i.bytes)} (${fmtInt(i.bytes)} B)</dd>
                      <dt>Total</dt>
                      <dd class="inv-total">${fmtCents(i.totalCents)}</dd>
                      <dt>Finalized</dt>
                      <dd>${fmtTime(i.finalizedAt)}</dd>
                    </dl>
                    ${table(
                      ['Pricing version', 'Per deploy', 'Per GB', 'Deploys', 'Bytes', 'Amount'],
                      i.lines.map((l) => [
                        l.pricingVersion,
                        fmtCents(l.centsPerDeploy),
                        fmtCents(l.centsPerGb),
                        fmtInt(l.deploys),
                        fmtBytes(l.bytes),
                        fmtCents(l.amountCents),
                      ]),
                      'No usage: nothing to bill.',
                    )}
                  </section>`,
              )
        }
        ${q.customer ? '' : pager('/admin/invoices', { month: m.slice(0, 7), after: q.after }, ids.length > PAGE ? `after:${shown.at(-1)}` : undefined)}`,
    )
  })

  router.get('/invoices.csv', async (req, res) => {
    const q = parse(invoicesQuery, req.query, 'query')
    const m = toMonth(q.month, monthOf(clock.now()))
    const invoices = await billing.invoices(m, q.customer)
    res.setHeader(
      'Content-Disposition',
      `attachment; filename="invoices-${m.slice(0, 7)}${q.customer ? `-${q.customer}` : ''}.csv"`,
    )
    res.type('text/csv').send(invoicesToCsv(invoices))
  })

  // Audit log with filters, keyset-paged by id.
  router.get('/audit', async (req, res) => {
    const q = parse(auditQuery, req.query, 'query')
    const [{ entries, nextBefore }, customers] = await Promise.all([
      auditLog.list({
        customerId: q.customer,
        month: q.month ? `${q.month}-01` : undefined,
        action: q.action,
        beforeId: q.before,
        limit: PAGE,
      }),
      repo.customerNames(db),
    ])
    const names = new Map(customers.map((c) => [c.id, c.name]))
    page(
      res,
      'Audit log',
      'audit',
      html`${filterForm('/admin/audit', [
        select(
          'customer',
          'Customer',
          customers.map((c) => ({ value: c.id, label: c.name })),
          q.customer,
        ),
        monthInput(q.month),
        textInput('action', 'Action (e.g. push or push.init)', q.action),
      ])}
      ${table(
        ['When', 'Action', 'Status', 'Actor', 'Customer', 'Push', 'Bytes', 'Request id', 'Details'],
        entries.map((e) => [
          fmtTime(e.at),
          e.action,
          badge(e.status),
          e.actor,
          e.customerId ? (names.get(e.customerId) ?? e.customerId) : '',
          e.pushId ? html`<a class="mono" href="/admin/pushes/${e.pushId}">${e.pushId}</a>` : '',
          e.bytes === null ? '' : fmtBytes(e.bytes),
          html`<code>${e.requestId ?? ''}</code>`,
          e.details ? html`<code>${JSON.stringify(e.details)}</code>` : '',
        ]),
        'No entries match.',
      )}
      ${pager('/admin/audit', { customer: q.customer, month: q.month, action: q.action, before: q.before ? String(q.before) : undefined }, nextBefore ? String(nextBefore) : undefined)}`,
    )
  })

  router.use((req) => {
    throw ERRORS.notFound(`Page ${req.path}`)
  })
  router.use(htmlErrors)
  return router
}

/** A page of a month's invoices, shaped like billing's (a draft may have no row yet: no id). */
async function invoicePage(db: Services['db'], month: string, customerIds: string[]) {
  const { heads, lines } = await repo.invoicesOf(db, month, customerIds)
  return heads.map((h) => {
    const mine = lines.filter((l) => l.customer_id === h.customer_id)
    return {
      id: h.id,
      customerId: h.customer_id,
      customerName: h.customer_name,
      status: h.status,
      finalizedAt: h.finalized_at,
      deploys: mine.reduce((s, l) => s + l.deploys, 0),
      bytes: mine.reduce((s, l) => s + l.bytes, 0),
      totalCents: mine.reduce((s, l) => s + l.amount_cents, 0),
      lines: mine.map((l) => ({
        pricingVersion: l.pricing_version,
        centsPerDeploy: l.cents_per_deploy,
        centsPerGb: l.cents_per_gb,
        deploys: l.deploys,
        bytes: l.bytes,
        amountCents: l.amount_cents,
      })),
    }
  })
}

function chunkCursor(text: string | undefined) {
  const m = text ? CHUNK_CURSOR.exec(text) : null
  return m ? { at: m[1]!, pushId: m[2]!, sha1: m[3]! } : undefined
}

/** Only http(s) links become href: a stored URL can never be a `javascript:` link. */
function safeUrl(url: string): string {
  return /^https?:\/\//i.test(url) ? url : '#'
}

function chunkTable(chunks: repo.ChunkUploadRow[]) {
  return table(
    ['Created', 'Customer', 'Push', 'Path', 'Chunks', 'Size', 'State', 'Expires', 'Error'],
    chunks.map((c) => [
      fmtTime(c.created_at),
      c.customer_name,
      html`<a class="mono" href="/admin/pushes/${c.push_id}">${c.push_id}</a>`,
      c.path,
      // Chunks are deleted once the file is assembled: count what arrived while receiving.
      c.state === 'receiving'
        ? `${fmtInt(c.chunks_in)} of ${fmtInt(c.chunk_count)} in`
        : fmtInt(c.chunk_count),
      fmtBytes(c.file_size),
      badge(c.state),
      fmtTime(c.expires_at),
      c.error,
    ]),
    'No chunked uploads.',
  )
}

/** Pages answer errors as pages (with the stable code and request id), not JSON. */
const htmlErrors: ErrorRequestHandler = (cause, req, res, _next) => {
  const status = (cause as { status?: unknown } | null)?.status
  const err =
    cause instanceof AppError
      ? cause
      : typeof status === 'number' && status >= 400 && status < 500
        ? new AppError(ErrorCode.InvalidRequest, 400, 'The form could not be read.')
        : new AppError(ErrorCode.Internal, 500, 'Internal error; it has been logged.')
  if (err.status >= 500) req.log?.error({ err: cause }, 'unhandled error')
  else req.log?.info({ code: err.code, status: err.status }, err.message)
  res.locals['errorCode'] = err.code
  if (res.headersSent) {
    res.destroy()
    return
  }
  res
    .status(err.status)
    .type('html')
    .send(
      layout({
        title: err.status === 404 ? 'Not found' : 'Something is wrong',
        csrf: (res.locals as Partial<Locals>).session?.csrf,
        body: html`<p class="error-box" role="alert">${err.message}</p>
          <p>Code <code>${err.code}</code> · request <code>${String(req.id)}</code></p>
          <p><a href="/admin">Back to the overview</a></p>`,
      }),
    )
}
