import { AppError, ERRORS } from '../errors.ts'

// Netlify's failures as the gateway sees them, and how an answer or a thrown error maps to one.

/**
 * A failed Netlify call. `transient` failures (429, 5xx, network) are worth retrying later;
 * the others carry Netlify's own message and will fail the same way again.
 */
export class NetlifyApiError extends Error {
  override name = 'NetlifyApiError'
  readonly status: number
  readonly transient: boolean
  /** Seconds until Netlify's rate limit resets, from `X-RateLimit-Reset`. */
  readonly retryAfter: number | undefined
  constructor(status: number, message: string, transient: boolean, retryAfter?: number) {
    super(message)
    this.status = status
    this.transient = transient
    this.retryAfter = retryAfter
  }
}

export function errorFromResponse(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
): NetlifyApiError {
  let message = text.slice(0, 500) || `HTTP ${status}`
  try {
    const json = JSON.parse(text) as { message?: unknown; error?: unknown }
    if (typeof json.message === 'string') message = json.message
    else if (typeof json.error === 'string') message = json.error
  } catch {
    // Netlify's edge answers HTML on some 502s; keep the text.
  }
  const reset = Number(headers['x-ratelimit-reset'])
  const retryAfter =
    status === 429 && Number.isFinite(reset) && reset > 0
      ? Math.max(1, Math.ceil(reset - Date.now() / 1000))
      : undefined
  const transient = status === 429 || status === 408 || status >= 500
  return new NetlifyApiError(status, message, transient, retryAfter)
}

export function toNetlifyError(error: unknown): NetlifyApiError {
  if (error instanceof NetlifyApiError) return error
  const message = error instanceof Error ? error.message : String(error)
  // A body longer or shorter than the Content-Length we announced fails the same way every
  // time: retrying would only hold a worker (and Netlify's upload slot) again.
  if ((error as { code?: unknown } | null)?.code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    return new NetlifyApiError(
      0,
      `The body's length differs from its Content-Length: ${message}`,
      false,
    )
  }
  // Network-level failures (reset, refused, timeouts) are transient by nature.
  return new NetlifyApiError(0, `Network error talking to Netlify: ${message}`, true)
}

/** The wait Netlify asked for with a failure (its rate-limit reset), in ms; undefined if none. */
export const retryAfterMs = (error: unknown): number | undefined =>
  error instanceof NetlifyApiError && error.retryAfter !== undefined
    ? error.retryAfter * 1000
    : undefined

/** Netlify failures in the gateway's vocabulary: retry later (503) or Netlify said no (502). */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error
  if (error instanceof NetlifyApiError) {
    // 401: the stored token itself is dead (revoked or expired at Netlify), not this request.
    if (error.status === 401) return ERRORS.netlifyTokenRejected(error.status)
    return error.transient
      ? ERRORS.netlifyUnavailable(
          `Netlify is unavailable for now: ${error.message}`,
          error.retryAfter ?? 5,
        )
      : ERRORS.netlifyError(error.status, error.message)
  }
  throw error
}
