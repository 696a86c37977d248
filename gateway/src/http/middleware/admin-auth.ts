import { createHash, timingSafeEqual } from 'node:crypto'
import type { RequestHandler } from 'express'
import { ERRORS } from '../../errors.ts'
import { KEY_PREFIX } from '../../services/api-keys.ts'

const digest = (s: string) => createHash('sha256').update(s).digest()

/**
 * The operator's credential: `Authorization: Bearer <KAIXU_ADMIN_TOKEN>`. Compared in constant
 * time; customer keys never pass here, and the admin token is never a customer.
 */
export function requireAdmin(adminToken: string | undefined): RequestHandler {
  const expected = adminToken ? digest(adminToken) : undefined
  return (req, _res, next) => {
    if (!expected) throw ERRORS.adminDisabled()
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '')
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw ERRORS.unauthorized(
        match?.[1]?.startsWith(KEY_PREFIX)
          ? 'Customer API keys cannot use the admin API; it takes KAIXU_ADMIN_TOKEN.'
          : 'A valid admin token is required (Authorization: Bearer <KAIXU_ADMIN_TOKEN>).',
      )
    }
    req.log = req.log.child({ actor: 'admin' })
    next()
  }
}
