import type { Queryable } from '../db/db.ts'
import * as repo from '../db/metering-repo.ts'
import type { Limits, MonthUsage } from '../db/metering-repo.ts'
import { ERRORS, type AppError } from '../errors.ts'

export type { Limits }

/** The first day of `date`'s calendar month in UTC, as `YYYY-MM-DD`. */
export const monthOf = (date: Date) => `${date.toISOString().slice(0, 7)}-01`

/** The instant the month containing `date` ends (UTC). */
export const monthEnd = (date: Date) =>
  new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1))

/** `YYYY-MM` → `YYYY-MM-01`, or undefined when it is not a month. */
export function parseMonth(text: string): string | undefined {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(text)
  return m ? `${m[1]}-${m[2]}-01` : undefined
}

export interface Clock {
  now(): Date
}

export const systemClock: Clock = { now: () => new Date() }

export interface LimitsReport {
  month: string
  resetAt: string
  deploys: { limit: number; used: number; remaining: number }
  bytes: { limit: number; used: number; remaining: number }
}

function report(limits: Limits, usage: MonthUsage, now: Date): LimitsReport {
  return {
    month: monthOf(now).slice(0, 7),
    resetAt: monthEnd(now).toISOString(),
    deploys: {
      limit: limits.deploysPerMonth,
      used: usage.deploys,
      remaining: Math.max(0, limits.deploysPerMonth - usage.deploys),
    },
    bytes: {
      limit: limits.bytesPerMonth,
      used: usage.bytes,
      remaining: Math.max(0, limits.bytesPerMonth - usage.bytes),
    },
  }
}

function capExceeded(which: 'deploys' | 'bytes', r: LimitsReport, needed: number): AppError {
  const message =
    which === 'deploys'
      ? `Monthly deploy cap reached: ${r.deploys.used} of ${r.deploys.limit} deploys used in ${r.month}; it resets at ${r.resetAt}.`
      : `Monthly byte cap reached: this needs ${needed} more bytes but ${r.bytes.remaining} of ${r.bytes.limit} remain in ${r.month}; it resets at ${r.resetAt}.`
  return ERRORS.capExceeded(message, {
    limit: which,
    remaining: { deploys: r.deploys.remaining, bytes: r.bytes.remaining },
    limits: { deploys: r.deploys.limit, bytes: r.bytes.limit },
    resetAt: r.resetAt,
  })
}

/**
 * Caps (money, exact) and pacing (a safety control) for every customer. Everything is decided
 * in the database, inside the caller's transaction, so several gateway processes agree.
 */
export function createMetering(options: { defaults: Limits; clock: Clock }) {
  const { defaults, clock } = options
  const limitsOf = (q: Queryable, customerId: string) =>
    repo.effectiveLimits(q, customerId, defaults)

  return {
    limitsOf,
    clock,

    /** The customer's limits and this month's usage, as the API and the Action show them. */
    async report(q: Queryable, customerId: string, now = clock.now()): Promise<LimitsReport> {
      const [limits, usage] = await Promise.all([
        limitsOf(q, customerId),
        repo.monthUsage(q, customerId, monthOf(now)),
      ])
      return report(limits, usage, now)
    },

    /**
     * Admits one deploy: checks the minute and day pacing windows (429 when either is full) and
     * reserves one deploy against the monthly cap (402). Call inside the transaction that
     * creates the push; a rollback returns both.
     *
     * The windows slide: "3 per minute" is at most 3 in any 60 s, and Retry-After is the moment
     * the window really has room again. The log is read and extended under a per-customer row
     * lock, so every gateway process sees the same windows.
     */
    async admitDeploy(
      tx: Queryable,
      customerId: string,
    ): Promise<{ month: string; report: LimitsReport }> {
      const now = clock.now()
      const limits = await limitsOf(tx, customerId)
      const windows = [
        { kind: 'minute' as const, seconds: 60, limit: limits.perMinute },
        { kind: 'day' as const, seconds: 86_400, limit: limits.perDay },
      ]
      await repo.lockCustomerPacing(tx, customerId)
      for (const w of windows) {
        const until = await repo.pacingFullUntil(tx, customerId, now, w)
        if (until === undefined) continue
        const retryIn = Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000))
        throw ERRORS.deployPaced(w, retryIn, {
          'RateLimit-Policy': windows
            .map((x) => `"${x.kind}";q=${x.limit};w=${x.seconds}`)
            .join(', '),
          RateLimit: `"${w.kind}";r=0;t=${retryIn}`,
        })
      }
      await repo.logAdmission(tx, customerId, now)
      const month = monthOf(now)
      const caps = { deploys: limits.deploysPerMonth, bytes: limits.bytesPerMonth }
      const usage = await repo.reserve(tx, customerId, month, { deploys: 1, bytes: 0 }, caps)
      if (!usage) {
        throw capExceeded(
          'deploys',
          report(limits, await repo.monthUsage(tx, customerId, month), now),
          1,
        )
      }
      return { month, report: report(limits, usage, now) }
    },

    /** Reserves `bytes` more for a push's month, or fails with 402 before any byte moves. */
    async reserveBytes(
      tx: Queryable,
      customerId: string,
      month: string,
      bytes: number,
    ): Promise<void> {
      if (bytes <= 0) return
      const limits = await limitsOf(tx, customerId)
      const caps = { deploys: Number.MAX_SAFE_INTEGER, bytes: limits.bytesPerMonth }
      if (await repo.reserve(tx, customerId, month, { deploys: 0, bytes }, caps)) return
      const usage = await repo.monthUsage(tx, customerId, month)
      const asOf = new Date(`${month}T00:00:00Z`)
      throw capExceeded('bytes', report(limits, usage, asOf), bytes)
    },

    unreserve: repo.unreserve,
  }
}

export type Metering = ReturnType<typeof createMetering>
