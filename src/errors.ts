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

  constructor(
    status: number,
    code: string,
    message: string,
    details?: unknown,
    retryAfterSeconds?: number,
    requestId?: string,
  ) {
    super(message)
    this.name = 'GatewayError'
    this.status = status
    this.code = code
    this.details = details
    this.retryAfterSeconds = retryAfterSeconds
    this.requestId = requestId
  }
}

// Known failures say which input or setting to change (house rule 5).
const HINTS: Record<string, string> = {
  unauthorized: "Check the 'kaixu-key' input: the key is missing, unknown or revoked.",
  customer_suspended: 'Your Kaixu account is suspended; contact the gateway operator.',
  project_not_found: "Check the 'project' input: it names no project of this Kaixu key.",
  netlify_token_missing: 'Register your Netlify token with the gateway (PUT /v1/netlify-token).',
  cap_exceeded: 'Your monthly deploy budget is used up; ask the gateway operator to raise it.',
}

/** Turns anything thrown into one readable line, with the gateway's code and a hint if known. */
export function getErrorMessage(error: unknown): string {
  if (error instanceof GatewayError) {
    const where = [`HTTP ${error.status}`, error.code]
    if (error.requestId) where.push(`request ${error.requestId}`)
    const hint = HINTS[error.code]
    return `${error.message} (${where.join(', ')})${hint ? ` ${hint}` : ''}`
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
