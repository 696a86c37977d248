import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import express, { Router, type ErrorRequestHandler } from 'express'
import { ERRORS } from '../../errors.ts'
import type { AppServices } from '../../services/index.ts'
import { prepareErrorAnswer } from '../middleware/error-handler.ts'
import { csrfOf, mountAuth, sessionOf } from './auth.ts'
import { html } from './html.ts'
import { auditPage } from './pages/audit.ts'
import { customerPages } from './pages/customers.ts'
import { invoicePages } from './pages/invoices.ts'
import { jobPages } from './pages/jobs.ts'
import { onboardingPages } from './pages/onboarding.ts'
import { overviewPage } from './pages/overview.ts'
import { page } from './pages/page.ts'
import { pushPages } from './pages/pushes.ts'
import { webhookPages } from './pages/webhooks.ts'
import { layout } from './views.ts'

/** What the dashboard's pages may load: themselves and the one stylesheet. No script at all. */
const CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

const CSS = readFileSync(join(import.meta.dirname, 'assets', 'dashboard.css'))

/**
 * The operator's dashboard under /admin: server-rendered pages (one module each, in pages/)
 * over the same services the admin API uses. Sign-in takes KAIXU_ADMIN_TOKEN once and then a
 * session cookie; every POST carries the session's CSRF token (auth.ts).
 */
export function dashboardRoutes(deps: AppServices): Router {
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

  // Without a token everything below is refused, so no session can be made anyway.
  router.use((_req, _res, next) => {
    if (!deps.config.adminToken) throw ERRORS.adminDisabled()
    next()
  })

  mountAuth(router, deps.operations, form)
  overviewPage(router, deps)
  customerPages(router, deps)
  pushPages(router, deps)
  webhookPages(router, { webhooks: deps.webhooks, page, csrf: (res) => sessionOf(res).csrf })
  onboardingPages(router, { ...deps, page, csrf: (res) => sessionOf(res).csrf })
  jobPages(router, deps)
  invoicePages(router, deps)
  auditPage(router, deps)

  router.use((req) => {
    throw ERRORS.notFound(`Page ${req.path}`)
  })
  router.use(htmlErrors)
  return router
}

/**
 * Pages answer errors as pages (with the stable code and request id), not JSON; the status and
 * code come from the same classifier as the API's.
 */
const htmlErrors: ErrorRequestHandler = (cause, req, res, _next) => {
  const err = prepareErrorAnswer(cause, req, res)
  if (!err) return
  res
    .status(err.status)
    .type('html')
    .send(
      layout({
        title: err.status === 404 ? 'Not found' : 'Something is wrong',
        csrf: csrfOf(res),
        body: html`<p class="error-box" role="alert">${err.message}</p>
          <p>Code <code>${err.code}</code> · request <code>${String(req.id)}</code></p>
          <p><a href="/admin">Back to the overview</a></p>`,
      }),
    )
}
