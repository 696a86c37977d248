import { ErrorCode } from 'kaixu-contract'
import { describeCapExceeded, describeRateLimited, type RateLimitInfo } from './metering.ts'

// Declared beside its parser (metering.ts), which this module imports.
export type { RateLimitInfo } from './metering.ts'

/**
 * An error answer from the Kaixu gateway: `{"error":{"code","message","details"}}` plus the HTTP
 * status, or a synthetic code (`http_error`) when the body was not the gateway's error JSON (a
 * proxy's HTML page, say).
 */
export class GatewayError extends Error {
  /** HTTP status of the answer. */
  readonly status: number
  /** Stable error code from the gateway API (`cap_exceeded`, `sha_mismatch`, …). */
  readonly code: string
  /** The gateway's `details` object, as sent. */
  readonly details: unknown
  /** Seconds from the `Retry-After` header, when there was one. */
  readonly retryAfterSeconds: number | undefined
  /** The gateway's `requestId`, quoted in messages so operators can find the request. */
  readonly requestId: string | undefined
  /** The `RateLimit` headers of a 429, when it had them. */
  readonly rateLimit: RateLimitInfo | undefined

  constructor(
    status: number,
    code: string,
    message: string,
    details?: unknown,
    retryAfterSeconds?: number,
    requestId?: string,
    rateLimit?: RateLimitInfo,
  ) {
    super(message)
    this.name = 'GatewayError'
    this.status = status
    this.code = code
    this.details = details
    this.retryAfterSeconds = retryAfterSeconds
    this.requestId = requestId
    this.rateLimit = rateLimit
  }
}

// Known failures say which input or setting to change (house rule 5).
const HINTS: Record<string, string> = {
  [ErrorCode.Unauthorized]: "Check the 'kaixu-key' input: the key is missing, unknown or revoked.",
  [ErrorCode.CustomerSuspended]: 'Your Kaixu account is suspended; contact the gateway operator.',
  [ErrorCode.ProjectNotFound]: "Check the 'project' input: it names no project of this Kaixu key.",
  [ErrorCode.NetlifyTokenMissing]:
    'Register your Netlify token with the gateway (PUT /v1/netlify-token).',
  [ErrorCode.CapExceeded]: 'Ask the gateway operator to raise it.',
}

/**
 * Turns anything thrown into one readable line: the reason, a hint if known, then the gateway's
 * status, code and request id for whoever has to look it up.
 */
export function getErrorMessage(error: unknown): string {
  if (error instanceof GatewayError) {
    const where = [`HTTP ${error.status}`, error.code]
    if (error.requestId) where.push(`request ${error.requestId}`)
    const hint = HINTS[error.code]
    return `${explain(error)}${hint ? ` ${hint}` : ''} (${where.join(', ')})`
  }
  if (error instanceof Error) {
    // fetch() reports every network failure as "fetch failed"; the cause says what happened.
    const cause = error.cause
    if (cause instanceof Error && error.message === 'fetch failed') {
      return `${error.message}: ${cause.message}`
    }
    return error.message
  }
  return String(error)
}

// Metering answers are rebuilt from their details, so caps and pacing always read the same way
// (units, reset time in UTC) whatever the gateway's own wording; its message is the fallback.
function explain(error: GatewayError): string {
  if (error.code === ErrorCode.CapExceeded)
    return describeCapExceeded(error.details) ?? error.message
  if (error.code === ErrorCode.RateLimited) {
    return (
      describeRateLimited(error.details, error.rateLimit, error.retryAfterSeconds) ?? error.message
    )
  }
  return error.message
}
