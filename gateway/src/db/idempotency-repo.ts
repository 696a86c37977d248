import type { Queryable } from './db.ts'

export interface StoredIdempotency<T> {
  request_hash: string
  state: 'in_flight' | 'done'
  status_code: number
  response: T
}

/**
 * Claims `key` for one request. A key that is free, remembered past `keepHours`, or claimed by a
 * request that ran past `claimSeconds` (it died mid-flight: a crash, a cut connection) is taken;
 * answers false when a live claim or a kept answer holds it.
 */
export async function claimKey(
  db: Queryable,
  k: { customerId: string; key: string; hash: string; claimId: string },
  ttl: { claimSeconds: number; keepHours: number },
): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO idempotency_keys (customer_id, key, request_hash, state, claim_id)
     VALUES ($1, $2, $3, 'in_flight', $4)
     ON CONFLICT (customer_id, key) DO UPDATE
        SET request_hash = EXCLUDED.request_hash, state = 'in_flight', claim_id = EXCLUDED.claim_id,
            status_code = NULL, response = NULL, created_at = now()
      WHERE idempotency_keys.created_at < now() - make_interval(hours => $6)
         OR (idempotency_keys.state = 'in_flight'
             AND idempotency_keys.created_at < now() - make_interval(secs => $5))
     RETURNING 1`,
    [k.customerId, k.key, k.hash, k.claimId, ttl.claimSeconds, ttl.keepHours],
  )
  return rows.length > 0
}

export const findKey = async <T>(db: Queryable, customerId: string, key: string) =>
  (
    await db.query<StoredIdempotency<T>>(
      `SELECT request_hash, state, status_code, response FROM idempotency_keys
        WHERE customer_id = $1 AND key = $2`,
      [customerId, key],
    )
  )[0]

/** Stores the answer, only while this request still holds the claim. */
export const storeAnswer = (
  db: Queryable,
  k: { customerId: string; key: string; claimId: string },
  status: number,
  response: unknown,
) =>
  db.query(
    `UPDATE idempotency_keys SET state = 'done', status_code = $4, response = $5
      WHERE customer_id = $1 AND key = $2 AND claim_id = $3`,
    [k.customerId, k.key, k.claimId, status, JSON.stringify(response)],
  )

/** Frees the key after a failure, only while this request still holds the claim. */
export const releaseClaim = (
  db: Queryable,
  k: { customerId: string; key: string; claimId: string },
) =>
  db.query(
    `DELETE FROM idempotency_keys WHERE customer_id = $1 AND key = $2 AND claim_id = $3
        AND state = 'in_flight'`,
    [k.customerId, k.key, k.claimId],
  )

/** Keys past the day answers are kept are dead weight (the cleanup job). */
export const pruneIdempotencyKeys = (db: Queryable, keepHours = 24) =>
  db.query('DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)', [
    keepHours,
  ])
