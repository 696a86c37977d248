import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Request, Response } from 'express'
import type { Queryable } from '../../db/db.ts'
import * as repo from '../../db/dashboard-repo.ts'

/** The session cookie: a random id; the database keeps only its SHA-256. */
export const SESSION_COOKIE = 'kaixu_admin'
/** The sign-in form's double-submit CSRF cookie (there is no session yet to hold a token). */
export const LOGIN_COOKIE = 'kaixu_admin_login'
const SESSION_HOURS = 12

export interface Session {
  idHash: string
  csrf: string
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const randomToken = () => randomBytes(32).toString('base64url')

/** Constant-time equality of two strings (different lengths are simply unequal). */
export function sameSecret(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false
  const da = createHash('sha256').update(a).digest()
  const db = createHash('sha256').update(b).digest()
  return timingSafeEqual(da, db)
}

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
export function setCookie(
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

/** The fingerprint of the admin token a session is bound to (never the token itself). */
export const sessionTokenHash = (adminToken: string) => sha256(`kaixu-admin-session:${adminToken}`)

/**
 * Server-side admin sessions in Postgres, so every gateway process recognises them. Each is
 * bound to the admin token it was signed in with (by a fingerprint), so replacing
 * KAIXU_ADMIN_TOKEN ends every session made with the old one.
 */
export function createSessions(db: Queryable, adminToken: string) {
  const tokenHash = sessionTokenHash(adminToken)
  return {
    async create(req: Request, res: Response): Promise<Session> {
      const id = randomToken()
      const session = { idHash: sha256(id), csrf: randomToken() }
      // Sessions that can never be used again go now: expired, or of a replaced token.
      await repo.purgeSessions(db, tokenHash)
      await repo.insertSession(db, {
        ...session,
        tokenHash,
        expiresAt: new Date(Date.now() + SESSION_HOURS * 3600_000),
      })
      setCookie(req, res, SESSION_COOKIE, id, SESSION_HOURS * 3600)
      return session
    },

    async load(req: Request): Promise<Session | undefined> {
      const id = readCookie(req, SESSION_COOKIE)
      if (!id || !/^[\w-]{20,100}$/.test(id)) return undefined
      const row = await repo.findSession(db, sha256(id), tokenHash)
      return row ? { idHash: row.id_hash, csrf: row.csrf_token } : undefined
    },

    async destroy(req: Request, res: Response, session: Session) {
      await repo.deleteSession(db, session.idHash)
      setCookie(req, res, SESSION_COOKIE, '', 0)
    },

    /** A fresh double-submit token for the sign-in form, set as a cookie and put in the form. */
    loginToken(req: Request, res: Response): string {
      const token = randomToken()
      setCookie(req, res, LOGIN_COOKIE, token, 600)
      return token
    },
  }
}

export type Sessions = ReturnType<typeof createSessions>
