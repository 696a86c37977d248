import { randomBytes } from 'node:crypto'
import type { NextFunction, Request, RequestHandler, Response, Router } from 'express'
import { z } from 'zod'
import { ERRORS } from '../../errors.ts'
import { sameSecret, type Operations, type Session } from '../../services/operations.ts'
import { parse } from '../validate.ts'
import { html } from './html.ts'
import { layout } from './views.ts'

// The dashboard's sign-in, sessions and CSRF: the cookie side here, the rows and the audit in
// the operations service.

/** The session cookie: a random id; the database keeps only its SHA-256. */
export const SESSION_COOKIE = 'kaixu_admin'
/** The sign-in form's double-submit CSRF cookie (there is no session yet to hold a token). */
export const LOGIN_COOKIE = 'kaixu_admin_login'

const loginBody = z.object({ token: z.string().max(1000), _csrf: z.string().max(200) })
const csrfBody = z.object({ _csrf: z.string().max(200) })

type Locals = { session?: Session }

/** The signed-in session of a request that passed `requireSession`. */
export const sessionOf = (res: Response): Session => (res.locals as Locals).session!
/** Its CSRF token, or undefined on pages shown without a session (sign-in, errors). */
export const csrfOf = (res: Response): string | undefined => (res.locals as Locals).session?.csrf

export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/**
 * HttpOnly, SameSite=Strict, scoped to /admin; Secure whenever the request came over https,
 * directly or through a TLS-terminating proxy. Trusting `X-Forwarded-Proto` here is safe in
 * either direction: a forged header can only make the browser more careful with the cookie.
 */
function setCookie(
  req: Request,
  res: Response,
  name: string,
  value: string,
  maxAgeSeconds: number,
) {
  const attrs = [
    `${name}=${value}`,
    'Path=/admin',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAgeSeconds}`,
  ]
  if (req.secure || /^https\b/i.test(req.get('x-forwarded-proto') ?? '')) attrs.push('Secure')
  res.append('Set-Cookie', attrs.join('; '))
}

/** A fresh double-submit token for the sign-in form, set as a cookie and put in the form. */
function loginToken(req: Request, res: Response): string {
  const token = randomToken()
  setCookie(req, res, LOGIN_COOKIE, token, 600)
  return token
}
const randomToken = () => randomBytes(32).toString('base64url')

async function loadSession(operations: Operations, req: Request) {
  const id = readCookie(req, SESSION_COOKIE)
  if (!id || !/^[\w-]{20,100}$/.test(id)) return undefined
  return operations.sessions.load(id)
}

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

/**
 * Mounts sign-in and sign-out, then the gate every later route is behind: a session (a GET
 * without one goes to the sign-in page), and on a POST the session's CSRF token in the form.
 * `form` is the dashboard's one urlencoded body parser, with its size limits.
 */
export function mountAuth(router: Router, operations: Operations, form: RequestHandler): void {
  router.get('/login', async (req, res) => {
    if (await loadSession(operations, req)) {
      res.redirect(303, '/admin')
      return
    }
    loginPage(res, loginToken(req, res))
  })

  router.post('/login', form, async (req, res) => {
    const body = parse(loginBody, req.body ?? {}, 'body')
    if (!sameSecret(body._csrf, readCookie(req, LOGIN_COOKIE))) {
      res.status(403)
      loginPage(res, loginToken(req, res), 'The form expired; please try again.')
      return
    }
    const result = await operations.signIn(body.token, {
      address: req.ip ?? 'unknown',
      requestId: String(req.id),
    })
    if (!result.ok && result.retryAfterSeconds !== undefined) {
      const error = ERRORS.signInThrottled(result.retryAfterSeconds)
      res.status(error.status).setHeader('Retry-After', String(error.retryAfter))
      loginPage(res, loginToken(req, res), error.message)
      return
    }
    if (!result.ok) {
      res.status(401)
      loginPage(res, loginToken(req, res), 'That is not the admin token.')
      return
    }
    const { id } = await operations.sessions.create()
    setCookie(req, res, SESSION_COOKIE, id, operations.sessions.hours * 3600)
    setCookie(req, res, LOGIN_COOKIE, '', 0)
    res.redirect(303, '/admin')
  })

  // Everything below needs a session; POSTs also need its CSRF token.
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const session = await loadSession(operations, req)
    if (!session) {
      if (req.method === 'GET' || req.method === 'HEAD') {
        res.redirect(303, '/admin/login')
        return
      }
      throw ERRORS.unauthorized('Your session has ended; sign in again.')
    }
    ;(res.locals as Locals).session = session
    if (req.method === 'POST') {
      form(req, res, (err?: unknown) => {
        if (err) return next(err)
        const body = parse(csrfBody, req.body ?? {}, 'body')
        if (!sameSecret(body._csrf, session.csrf)) {
          return next(ERRORS.forbidden('Invalid CSRF token.'))
        }
        next()
      })
      return
    }
    next()
  })

  router.post('/logout', async (req, res) => {
    await operations.sessions.destroy(sessionOf(res))
    setCookie(req, res, SESSION_COOKIE, '', 0)
    res.redirect(303, '/admin/login')
  })
}
