import { createHash, randomUUID } from 'node:crypto'
import type { Db } from '../db/db.ts'
import { claimKey, findKey, releaseClaim, storeAnswer } from '../db/idempotency-repo.ts'
import { ERRORS } from '../errors.ts'

export interface IdempotentResult<T> {
  status: number
  body: T
  replayed: boolean
}

/** Keys are remembered for a day, as Stripe does; after that the same key starts afresh. */
const KEEP_HOURS = 24

export const requestHash = (value: unknown) =>
  createHash('sha256').update(JSON.stringify(value)).digest('hex')

/**
 * `Idempotency-Key` semantics: the first request with a key runs; a replay of the same request
 * answers the stored response; the same key with another body is 422; a replay while the first
 * is still running is 409. Only successes are stored: a failed request frees its key, so a
 * retry runs again (it may succeed once the cause is gone).
 *
 * A claim lasts as long as a request may (`requestTimeoutMs`, the server's own limit): a
 * request that died mid-flight (a crashed process never frees its claim) blocks its key for that
 * long, not for the day answers are kept.
 */
export function createIdempotency(db: Db, options: { requestTimeoutMs: number }) {
  const ttl = { claimSeconds: Math.ceil(options.requestTimeoutMs / 1000), keepHours: KEEP_HOURS }
  return {
    async run<T>(
      customerId: string,
      key: string,
      hash: string,
      fn: () => Promise<{ status: number; body: T }>,
    ): Promise<IdempotentResult<T>> {
      const claim = { customerId, key, claimId: randomUUID() }
      if (!(await claimKey(db, { ...claim, hash }, ttl))) {
        const row = await findKey<T>(db, customerId, key)
        if (!row) return this.run(customerId, key, hash, fn)
        if (row.request_hash !== hash) throw ERRORS.idempotencyKeyReused()
        if (row.state === 'in_flight') throw ERRORS.idempotencyInFlight()
        return { status: row.status_code, body: row.response, replayed: true }
      }
      try {
        const result = await fn()
        await storeAnswer(db, claim, result.status, result.body)
        return { ...result, replayed: false }
      } catch (error) {
        await releaseClaim(db, claim)
        throw error
      }
    },
  }
}

export type Idempotency = ReturnType<typeof createIdempotency>
