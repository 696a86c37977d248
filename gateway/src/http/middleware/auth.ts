import { createHash, timingSafeEqual } from 'node:crypto'
import type { RequestHandler } from 'express'
import { ERRORS } from '../../errors.ts'
import type { AccountService } from '../../services/accounts.ts'
import type { Caller } from '../../services/pushes.ts'

declare module 'express-serve-static-core' {
  interface Request {
    caller?: Caller
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest()

/**
 * Resolves `Authorization: Bearer <key>` to the calling customer, or answers 401/403. The admin
 * token is never a customer: it is refused here like any other non-key, with a hint.
 */
export function requireApiKey(
  accounts: AccountService,
  adminToken?: string | undefined,
): RequestHandler {
  const admin = adminToken ? digest(adminToken) : undefined
  return async (req, _res, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '')
    const presented = match?.[1]
    if (admin && presented && timingSafeEqual(digest(presented), admin)) {
      throw ERRORS.unauthorized(
        "The admin token does not act as a customer; use the customer's Kaixu API key (kx_live_…).",
      )
    }
    const who = await accounts.authenticate(presented)
    req.caller = { ...who, requestId: String(req.id) }
    req.log = req.log.child({ customerId: who.customerId, keyId: who.apiKeyId })
    next()
  }
}
