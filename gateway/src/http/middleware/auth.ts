import type { RequestHandler } from 'express'
import type { AccountService } from '../../services/accounts.ts'
import type { Caller } from '../../services/pushes.ts'

declare module 'express-serve-static-core' {
  interface Request {
    caller?: Caller
  }
}

/** Resolves `Authorization: Bearer <key>` to the calling customer, or answers 401/403. */
export function requireApiKey(accounts: AccountService): RequestHandler {
  return async (req, _res, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '')
    const who = await accounts.authenticate(match?.[1])
    req.caller = { ...who, requestId: String(req.id) }
    req.log = req.log.child({ customerId: who.customerId, keyId: who.apiKeyId })
    next()
  }
}
