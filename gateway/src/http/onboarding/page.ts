import { randomBytes } from 'node:crypto'
import express, { Router, type ErrorRequestHandler, type Request, type Response } from 'express'
import { AppError, ERRORS, ErrorCode } from '../../errors.ts'
import type { Onboarding, Visitor } from '../../services/onboarding.ts'
import { readCookie, sameSecret } from '../dashboard/session.ts'
import { html, type HtmlValue } from '../dashboard/html.ts'
import { parse } from '../validate.ts'
import { onboardForm, onboardQuery } from './schemas.ts'

/**
 * The page's URL carries the link's secret: no referrer ever leaves it (no-referrer), nothing
 * may run or load from elsewhere, and the answer (which carries the key) is never cached.
 */
const CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
/** The form's double-submit CSRF cookie (the client has no session to hold a token). */
const CSRF_COOKIE = 'kaixu_onboard'
const CSRF_SECONDS = 3600

/** Netlify refusing the pasted token: the client can fix it on the same form. */
const FIXABLE: readonly string[] = [ErrorCode.NetlifyTokenInvalid, ErrorCode.SiteUnreachable]

const visitor = (req: Request): Visitor => ({
  address: req.ip ?? 'unknown',
  requestId: String(req.id),
})

function shell(title: string, body: HtmlValue): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex" />
        <title>${title} · KaixuPush</title>
        <link rel="stylesheet" href="/admin/assets/dashboard.css" />
      </head>
      <body>
        <header class="top">
          <span class="brand">Kaixu<span>Push</span></span>
        </header>
        <main>
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html> `.value
}

/** A fresh CSRF token, set as an HttpOnly, SameSite=Strict cookie scoped to this page. */
function csrfToken(req: Request, res: Response): string {
  const token = randomBytes(32).toString('base64url')
  res.cookie(CSRF_COOKIE, token, {
    path: '/onboard',
    httpOnly: true,
    sameSite: 'strict',
    maxAge: CSRF_SECONDS * 1000,
    secure: req.secure || /^https\b/i.test(req.get('x-forwarded-proto') ?? ''),
  })
  return token
}

/** The form; `info` is left out when re-showing it after Netlify refused the token. */
function form(
  req: Request,
  res: Response,
  link: string,
  info: { customerName: string; expiresAt: Date } | undefined,
  error?: string,
) {
  res.type('html').send(
    shell(
      info ? `Connect ${info.customerName} to KaixuPush` : 'Connect to KaixuPush',
      html`<form method="post" action="/onboard" class="login stack">
        ${error ? html`<p class="error-box" role="alert">${error}</p>` : ''}
        <p>
          Paste a Netlify personal access token of <strong>your own</strong> Netlify account
          (Netlify: User settings → Applications → Personal access tokens). It goes straight to this
          gateway, which checks it with Netlify and keeps it encrypted; nobody else sees it.
        </p>
        <p>This link works once${info ? html`, until ${info.expiresAt.toISOString()}` : ''}.</p>
        <label
          >Netlify token <input type="password" name="token" autocomplete="off" required autofocus
        /></label>
        <input type="hidden" name="link" value="${link}" />
        <input type="hidden" name="_csrf" value="${csrfToken(req, res)}" />
        <button type="submit">Get my Kaixu key</button>
      </form>`,
    ),
  )
}

/**
 * `/onboard`: the client's side of an onboarding link. GET shows the form (or why the link is no
 * use), POST registers the pasted Netlify token and shows the Kaixu key, once. Server-rendered
 * like the dashboard, without any script.
 */
export function onboardingPage(onboarding: Onboarding): Router {
  const router = Router()
  const urlencoded = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 })

  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', CSP)
    res.setHeader('Cache-Control', 'no-store')
    res.setHeader('Referrer-Policy', 'no-referrer')
    res.setHeader('X-Robots-Tag', 'noindex')
    next()
  })

  router.get('/', async (req, res) => {
    const { link } = parse(onboardQuery, req.query, 'query')
    form(req, res, link, await onboarding.open(link, visitor(req)))
  })

  router.post('/', urlencoded, async (req, res) => {
    const body = parse(onboardForm, req.body ?? {}, 'body')
    if (!sameSecret(body._csrf, readCookie(req, CSRF_COOKIE))) {
      res
        .status(403)
        .type('html')
        .send(
          shell(
            'This form expired',
            html`<p class="error-box" role="alert">
              The form could not be verified (it expired, or came from another site). Open your link
              again.
            </p>`,
          ),
        )
      return
    }
    let done: Awaited<ReturnType<Onboarding['redeem']>>
    try {
      done = await onboarding.redeem(body.link, body.token, visitor(req))
    } catch (error) {
      if (error instanceof AppError && FIXABLE.includes(error.code)) {
        // Asking for the link again here would count against the throttle a second time.
        res.status(error.status)
        form(req, res, body.link, undefined, error.message)
        return
      }
      throw error
    }
    res.clearCookie(CSRF_COOKIE, { path: '/onboard' })
    res
      .status(201)
      .type('html')
      .send(
        shell(
          `Welcome, ${done.customerName}`,
          html`<p class="notice" role="status">
              Your Netlify token (ending …${done.netlifyTokenLast4}) is registered. This is your
              Kaixu key, shown only now: copy it before you leave this page.
            </p>
            <p><code class="secret" id="kaixu-key">${done.key}</code></p>
            <p>
              Store it as the <code>KAIXU_KEY</code> secret of your CI (GitHub: Settings → Secrets
              and variables → Actions). This link cannot be used again; if the key is lost, ask for
              a new link.
            </p>`,
        ),
      )
  })

  router.use(pageErrors)
  return router
}

/** Errors as a page with the stable code and request id; never the link or the token. */
const pageErrors: ErrorRequestHandler = (cause, req, res, _next) => {
  const status = (cause as { status?: unknown } | null)?.status
  const err =
    cause instanceof AppError
      ? cause
      : status === 413
        ? ERRORS.payloadTooLarge('The form is larger than it can be.')
        : typeof status === 'number' && status >= 400 && status < 500
          ? ERRORS.invalidRequest('The form could not be read.')
          : undefined
  if (!err) req.log?.error({ err: cause }, 'unhandled error')
  if (res.headersSent) {
    res.destroy()
    return
  }
  if (err?.retryAfter !== undefined) res.setHeader('Retry-After', String(err.retryAfter))
  const code = err?.code ?? ErrorCode.Internal
  res.locals['errorCode'] = code
  res
    .status(err?.status ?? 500)
    .type('html')
    .send(
      shell(
        err?.status === 410 ? 'This link cannot be used' : 'Something is wrong',
        html`<p class="error-box" role="alert">
            ${err?.message ?? 'Internal error; it has been logged.'}
          </p>
          <p>Code <code>${code}</code> · request <code>${String(req.id)}</code></p>`,
      ),
    )
}
