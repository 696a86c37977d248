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
 * Counts one deploy in a fixed pacing window unless it is full. Answers the new count, or
 * undefined when the window is already at `limit`.
 */
export async function takePacingSlot(
  db: Queryable,
  customerId: string,
  kind: 'minute' | 'day',
  windowStart: Date,
  limit: number,
): Promise<number | undefined> {
  if (limit <= 0) return undefined
  return (
    await db.query<{ count: number }>(
      `INSERT INTO pacing_windows (customer_id, kind, window_start, count) VALUES ($1, $2, $3, 1)
       ON CONFLICT (customer_id, kind, window_start)
       DO UPDATE SET count = pacing_windows.count + 1 WHERE pacing_windows.count < $4
       RETURNING count`,
      [customerId, kind, windowStart, limit],
    )
  )[0]?.count
}

export const pacingCount = async (
  db: Queryable,
  customerId: string,
  kind: 'minute' | 'day',
  windowStart: Date,
) =>
  (
    await db.query<{ count: number }>(
      'SELECT count FROM pacing_windows WHERE customer_id = $1 AND kind = $2 AND window_start = $3',
      [customerId, kind, windowStart],
    )
  )[0]?.count ?? 0

/** Old windows are dead weight; the cleanup keeps the table to the current day. */
export const prunePacingWindows = (db: Queryable, before: Date) =>
  db.query('DELETE FROM pacing_windows WHERE window_start < $1', [before])
