import { createHash } from 'node:crypto'
import type { Db } from '../db/db.ts'
import { ERRORS } from '../errors.ts'

export interface IdempotentResult<T> {
  status: number
  body: T
  replayed: boolean
}

/** Keys are remembered for a day, as Stripe does; after that the same key starts afresh. */
const TTL_HOURS = 24

export const requestHash = (value: unknown) =>
  createHash('sha256').update(JSON.stringify(value)).digest('hex')

/**
 * `Idempotency-Key` semantics: the first request with a key runs; a replay of the same request
 * answers the stored response; the same key with another body is 422; a replay while the first
 * is still running is 409. Only successes are stored: a failed request frees its key, so a
 * retry runs again (it may succeed once the cause is gone).
 */
export function createIdempotency(db: Db) {
  return {
    async run<T>(
      customerId: string,
      key: string,
      hash: string,
      fn: () => Promise<{ status: number; body: T }>,
    ): Promise<IdempotentResult<T>> {
      await db.query(
        `DELETE FROM idempotency_keys WHERE customer_id = $1 AND key = $2
            AND created_at < now() - make_interval(hours => $3)`,
        [customerId, key, TTL_HOURS],
      )
      const claimed = await db.query(
        `INSERT INTO idempotency_keys (customer_id, key, request_hash, state) VALUES ($1, $2, $3, 'in_flight')
         ON CONFLICT (customer_id, key) DO NOTHING RETURNING 1`,
        [customerId, key, hash],
      )
      if (claimed.length === 0) {
        const row = (
          await db.query<{ request_hash: string; state: string; status_code: number; response: T }>(
            'SELECT request_hash, state, status_code, response FROM idempotency_keys WHERE customer_id = $1 AND key = $2',
            [customerId, key],
          )
        )[0]
        if (!row) return this.run(customerId, key, hash, fn)
        if (row.request_hash !== hash) throw ERRORS.idempotencyKeyReused()
        if (row.state === 'in_flight') throw ERRORS.idempotencyInFlight()
        return { status: row.status_code, body: row.response, replayed: true }
      }
      try {
        const result = await fn()
        await db.query(
          `UPDATE idempotency_keys SET state = 'done', status_code = $3, response = $4
            WHERE customer_id = $1 AND key = $2`,
          [customerId, key, result.status, JSON.stringify(result.body)],
        )
        return { ...result, replayed: false }
      } catch (error) {
        await db.query('DELETE FROM idempotency_keys WHERE customer_id = $1 AND key = $2', [
          customerId,
          key,
        ])
        throw error
      }
    },
  }
}

export type Idempotency = ReturnType<typeof createIdempotency>
