import type { Queryable } from './db.ts'

// Failed attempts per (scope, subject) in a sliding window, in the database so that every
// gateway process counts alike. Dashboard sign-ins and onboarding redemptions share it.

export interface ThrottleWindow {
  /** Failures allowed in the window; the next attempt is refused. */
  limit: number
  seconds: number
}

/**
 * Undefined while fewer than `limit` attempts of `subject` failed in the last `seconds`; else
 * how many seconds until the oldest of them leaves the window.
 */
export async function blockedFor(
  db: Queryable,
  scope: string,
  subject: string,
  window: ThrottleWindow,
): Promise<number | undefined> {
  const row = (
    await db.query<{ wait: number }>(
      `SELECT ceil(extract(epoch FROM failed_at + make_interval(secs => $3) - now()))::int AS wait
         FROM failed_attempts
        WHERE scope = $1 AND subject = $2 AND failed_at > now() - make_interval(secs => $3)
        ORDER BY failed_at DESC OFFSET $4 LIMIT 1`,
      [scope, subject, window.seconds, window.limit - 1],
    )
  )[0]
  return row ? Math.max(1, row.wait) : undefined
}

/** Records a failure, dropping this scope's failures older than the window on the way. */
export async function recordFailure(
  db: Queryable,
  scope: string,
  subject: string,
  windowSeconds: number,
) {
  await db.query(
    'DELETE FROM failed_attempts WHERE scope = $1 AND failed_at <= now() - make_interval(secs => $2)',
    [scope, windowSeconds],
  )
  await db.query('INSERT INTO failed_attempts (scope, subject) VALUES ($1, $2)', [scope, subject])
}

export const clearFailures = (db: Queryable, scope: string, subject: string) =>
  db.query('DELETE FROM failed_attempts WHERE scope = $1 AND subject = $2', [scope, subject])
