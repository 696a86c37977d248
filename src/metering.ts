// The gateway meters deploys: a monthly budget (deploys and bytes, `402 cap_exceeded` once used
// up) and pacing (deploys per minute and per day, `429 rate_limited`). These turn its answers into
// lines a workflow author can act on.
import { formatBudgetBytes, formatUtc, formatWait } from './format.ts'
import type { PushLimits } from 'kaixu-contract'

/** What a 429's `RateLimit` and `RateLimit-Policy` headers say about the window that is full. */
export interface RateLimitInfo {
  /** The policy's name (`"minute"`, `"day"` from the Kaixu gateway). */
  policy: string
  /** Requests allowed per window (`q`). */
  quota?: number
  /** The window's length in seconds (`w`). */
  windowSeconds?: number
  /** Seconds until the window resets (`t`). */
  resetSeconds?: number
}

/**
 * What is left of the month's budget (`limits.month`):
 * `997 of 1000 deploys and 49.9 GB of 50 GB left (resets 2026-12-01 00:00 UTC)`.
 */
export function formatBudget(limits: PushLimits): string {
  const { deploys, bytes } = limits
  return (
    `${deploys.remaining} of ${deploys.limit} deploys and ` +
    `${formatBudgetBytes(bytes.remaining)} of ${formatBudgetBytes(bytes.limit)} left ` +
    `(resets ${formatUtc(limits.resetAt)})`
  )
}

/**
 * The reason of a `402 cap_exceeded`, built from its `details`:
 * `Monthly deploy cap reached: 0 of 10 deploys left this month; resets 2026-12-01 00:00 UTC.`
 * Undefined when the details do not say which cap and what remains (the caller then shows the
 * gateway's own message).
 */
export function describeCapExceeded(details: unknown): string | undefined {
  if (!isRecord(details)) return undefined
  const which = details['limit']
  if (which !== 'deploys' && which !== 'bytes') return undefined
  const remaining = numberAt(details['remaining'], which)
  if (remaining === undefined) return undefined
  const limit = numberAt(details['limits'], which)
  const resetAt = typeof details['resetAt'] === 'string' ? details['resetAt'] : undefined
  const resets = resetAt ? `; resets ${formatUtc(resetAt)}` : ''
  if (which === 'deploys') {
    const of = limit === undefined ? '' : ` of ${limit}`
    return `Monthly deploy cap reached: ${remaining}${of} deploys left this month${resets}.`
  }
  const of = limit === undefined ? '' : ` of ${formatBudgetBytes(limit)}`
  return `Monthly byte cap reached: ${formatBudgetBytes(remaining)}${of} left this month${resets}.`
}

/**
 * The reason of a `429 rate_limited`:
 * `Deploy pacing: at most 3 deploys per minute for this customer; retry in 42 s.` Reads the
 * `details` first, then the `RateLimit` headers and `Retry-After`, so a 429 from something in
 * front of the gateway that sends only headers is explained too. Undefined when the window is
 * unknown.
 */
export function describeRateLimited(
  details: unknown,
  headers: RateLimitInfo | undefined,
  retryAfterSeconds: number | undefined,
): string | undefined {
  const fields = isRecord(details) ? details : {}
  const named = typeof fields['limit'] === 'string' ? fields['limit'] : undefined
  const window = named ?? windowName(headers)
  if (!window) return undefined
  const max = numberAt(fields, 'max') ?? headers?.quota
  const wait = numberAt(fields, 'retryAfterSeconds') ?? retryAfterSeconds ?? headers?.resetSeconds
  const rule =
    max === undefined
      ? `too many deploys per ${window} for this customer`
      : `at most ${max} deploys per ${window} for this customer`
  return `Deploy pacing: ${rule}${wait === undefined ? '' : `; retry in ${formatWait(wait)}`}.`
}

const WINDOW_NAMES: Record<number, string> = { 60: 'minute', 3600: 'hour', 86_400: 'day' }

function windowName(headers: RateLimitInfo | undefined): string | undefined {
  if (!headers) return undefined
  if (['minute', 'hour', 'day'].includes(headers.policy)) return headers.policy
  if (headers.windowSeconds !== undefined) {
    return WINDOW_NAMES[headers.windowSeconds] ?? formatWait(headers.windowSeconds)
  }
  return headers.policy || undefined
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

function numberAt(value: unknown, key: string): number | undefined {
  if (!isRecord(value)) return undefined
  const found = value[key]
  return typeof found === 'number' && Number.isFinite(found) ? found : undefined
}
