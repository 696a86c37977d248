import type { Queryable } from './db.ts'

export interface Limits {
  deploysPerMonth: number
  bytesPerMonth: number
  perMinute: number
  perDay: number
}

export interface LimitOverrides {
  deploysPerMonth?: number | null | undefined
  bytesPerMonth?: number | null | undefined
  perMinute?: number | null | undefined
  perDay?: number | null | undefined
}

export interface MonthUsage {
  deploys: number
  bytes: number
}

/** A customer's limits: their overrides where set, the deployment defaults otherwise. */
export async function effectiveLimits(
  db: Queryable,
  customerId: string,
  defaults: Limits,
): Promise<Limits> {
  const row = (
    await db.query<{ d: number | null; b: number | null; m: number | null; day: number | null }>(
      `SELECT deploys_per_month AS d, bytes_per_month AS b, per_minute AS m, per_day AS day
         FROM customer_limits WHERE customer_id = $1`,
      [customerId],
    )
  )[0]
  return {
    deploysPerMonth: row?.d ?? defaults.deploysPerMonth,
    bytesPerMonth: row?.b ?? defaults.bytesPerMonth,
    perMinute: row?.m ?? defaults.perMinute,
    perDay: row?.day ?? defaults.perDay,
  }
}

/** Sets overrides; a field given as null goes back to the default, an absent one is kept. */
export const upsertLimits = (db: Queryable, customerId: string, o: LimitOverrides) =>
  db.query(
    `INSERT INTO customer_limits (customer_id, deploys_per_month, bytes_per_month, per_minute, per_day)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (customer_id) DO UPDATE SET
       deploys_per_month = CASE WHEN $6 THEN EXCLUDED.deploys_per_month ELSE customer_limits.deploys_per_month END,
       bytes_per_month = CASE WHEN $7 THEN EXCLUDED.bytes_per_month ELSE customer_limits.bytes_per_month END,
       per_minute = CASE WHEN $8 THEN EXCLUDED.per_minute ELSE customer_limits.per_minute END,
       per_day = CASE WHEN $9 THEN EXCLUDED.per_day ELSE customer_limits.per_day END,
       updated_at = now()`,
    [
      customerId,
      o.deploysPerMonth ?? null,
      o.bytesPerMonth ?? null,
      o.perMinute ?? null,
      o.perDay ?? null,
      o.deploysPerMonth !== undefined,
      o.bytesPerMonth !== undefined,
      o.perMinute !== undefined,
      o.perDay !== undefined,
    ],
  )

export async function monthUsage(
  db: Queryable,
  customerId: string,
  month: string,
): Promise<MonthUsage> {
  const row = (
    await db.query<MonthUsage>(
      'SELECT deploys, bytes FROM usage_months WHERE customer_id = $1 AND month = $2',
      [customerId, month],
    )
  )[0]
  return row ?? { deploys: 0, bytes: 0 }
}

/**
 * Adds to a month's usage only if the result stays within both caps. The row lock taken by the
 * UPDATE serialises concurrent callers, and each re-checks the condition against the committed
 * value, so N racing reservations against a cap of K admit exactly K.
 */
export async function reserve(
  db: Queryable,
  customerId: string,
  month: string,
  add: MonthUsage,
  caps: { deploys: number; bytes: number },
): Promise<MonthUsage | undefined> {
  await db.query(
    'INSERT INTO usage_months (customer_id, month) VALUES ($1, $2) ON CONFLICT DO NOTHING',
    [customerId, month],
  )
  return (
    await db.query<MonthUsage>(
      `UPDATE usage_months SET deploys = deploys + $3, bytes = bytes + $4
        WHERE customer_id = $1 AND month = $2 AND deploys + $3 <= $5::bigint AND bytes + $4 <= $6::bigint
        RETURNING deploys, bytes`,
      [customerId, month, add.deploys, add.bytes, caps.deploys, caps.bytes],
    )
  )[0]
}

/** Gives usage back (a failed push, or bytes reserved but never uploaded). */
export const unreserve = (db: Queryable, customerId: string, month: string, sub: MonthUsage) =>
  db.query(
    `UPDATE usage_months SET deploys = greatest(deploys - $3, 0), bytes = greatest(bytes - $4, 0)
      WHERE customer_id = $1 AND month = $2`,
    [customerId, month, sub.deploys, sub.bytes],
  )

/**
 * Serialises a customer's admissions: holds a lock on the customer's row until the transaction
 * ends, so concurrent inits (in any process) read and extend the pacing log one at a time. NO KEY
 * UPDATE leaves rows that merely reference the customer free to be written meanwhile.
 */
export const lockCustomerPacing = (db: Queryable, customerId: string) =>
  db.query('SELECT 1 FROM customers WHERE id = $1 FOR NO KEY UPDATE', [customerId])

/**
 * The sliding-window test: with `limit` admissions allowed in any `seconds`, answers undefined
 * when there is room at `now`, else the instant the window has room again (when the limit-th
 * most recent admission leaves it). Call under lockCustomerPacing.
 */
export async function pacingFullUntil(
  db: Queryable,
  customerId: string,
  now: Date,
  window: { limit: number; seconds: number },
): Promise<Date | undefined> {
  const since = new Date(now.getTime() - window.seconds * 1000)
  if (window.limit <= 0) return new Date(now.getTime() + window.seconds * 1000)
  const row = (
    await db.query<{ admitted_at: Date }>(
      `SELECT admitted_at FROM pacing_log WHERE customer_id = $1 AND admitted_at > $2
        ORDER BY admitted_at DESC OFFSET $3 LIMIT 1`,
      [customerId, since, window.limit - 1],
    )
  )[0]
  return row ? new Date(new Date(row.admitted_at).getTime() + window.seconds * 1000) : undefined
}

export const logAdmission = (db: Queryable, customerId: string, at: Date) =>
  db.query('INSERT INTO pacing_log (customer_id, admitted_at) VALUES ($1, $2)', [customerId, at])

/** Admissions older than the longest window are dead weight; the cleanup job drops them. */
export const prunePacingWindows = (db: Queryable, before: Date) =>
  db.query('DELETE FROM pacing_log WHERE admitted_at < $1', [before])
