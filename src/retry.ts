import { ErrorCode } from 'kaixu-contract'
import { GatewayError } from './errors.ts'

/** How `retry` spaces and bounds its attempts; every field has a default. */
export interface RetryOptions {
  /** Total attempts, the first one included. Default 6. */
  attempts: number
  /** Delay cap before the first retry, doubled on each further one. Default 500 ms. */
  baseDelayMs: number
  /** Upper bound of the exponential delay. Default 20 s. */
  maxDelayMs: number
  /**
   * The longest `Retry-After` worth waiting for. A server asking for more (a daily cap resetting
   * tomorrow, say) gets its error passed on at once instead of a job that sleeps for hours.
   * Default 120 s.
   */
  maxRetryAfterMs: number
  /** Whether an error is worth another attempt. Default `isRetryable`. */
  shouldRetry: (error: unknown) => boolean
  /** Called before each wait, for logging. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void
  /** Injected in tests so no test really sleeps; the default ends early when `signal` aborts. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>
  /** Injected in tests to make the jitter predictable. */
  random: () => number
  /** Stops the retries: once aborted, its reason is thrown instead of waiting for another try. */
  signal?: AbortSignal | undefined
}

const DEFAULTS: RetryOptions = {
  attempts: 6,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  maxRetryAfterMs: 120_000,
  shouldRetry: isRetryable,
  sleep: sleepUnlessAborted,
  random: Math.random,
}

// Error codes from the socket layer that mean "try again", as undici and node:net report them.
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
])

// How Chromium, Firefox and Safari word a fetch that never got an answer.
const BROWSER_NETWORK_FAILURE = /^(Failed to fetch|NetworkError when attempting|Load failed)/

/**
 * The default retry policy: 429, 502, 503, 504, `409 idempotency_in_flight` and network failures
 * are retried; every other gateway answer (400, 401, 402 `cap_exceeded`, 403, 404, 409, 411, 413,
 * 422 …, 500) is final.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof GatewayError) {
    // An earlier attempt with the same Idempotency-Key is still running (its answer got lost on
    // the way); once it ends, the same request is answered with its stored result.
    if (error.status === 409) return error.code === ErrorCode.IdempotencyInFlight
    // The gateway sends 502 `netlify_error` when Netlify refused for good; a bare 502 comes from a
    // proxy in front of a restarting gateway and is worth another try.
    if (error.status === 502) return error.code !== 'netlify_error'
    return error.status === 429 || error.status === 503 || error.status === 504
  }
  if (!(error instanceof Error)) return false
  if (error.name === 'TimeoutError') return true
  // fetch() wraps every network failure in TypeError('fetch failed') with the real one as cause.
  // Only socket-level causes are transient: a bad URL or a vanished file to upload is not.
  if (error instanceof TypeError && error.message === 'fetch failed')
    return isTransient(error.cause)
  // Browsers hide why (a dropped socket and a refused CORS check look alike) and give no cause.
  if (error instanceof TypeError && error.cause === undefined) {
    return BROWSER_NETWORK_FAILURE.test(error.message)
  }
  return isTransient(error)
}

function isTransient(cause: unknown): boolean {
  // Node tries every address of a host and reports all failures at once.
  if (cause instanceof AggregateError && cause.errors.some(isTransient)) return true
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  return (
    typeof code === 'string' && (TRANSIENT_NETWORK_CODES.has(code) || code.startsWith('UND_ERR_'))
  )
}

/**
 * The wait before retry number `retry` (1-based): "full jitter" exponential backoff, a random
 * delay up to `base · 2^(retry-1)`, capped; at least a server's `Retry-After`.
 */
export function retryDelayMs(
  retry: number,
  options: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'random'>,
  retryAfterSeconds?: number,
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (retry - 1))
  // Full jitter spreads the retries of many parallel uploads so they do not return in lockstep.
  const jittered = Math.round(ceiling * options.random())
  const floor = retryAfterSeconds === undefined ? 0 : retryAfterSeconds * 1000
  return Math.max(jittered, floor)
}

/**
 * Runs `fn` until it succeeds, an error is not retryable, or the attempts run out; then throws the
 * last error. `fn` gets the 1-based attempt number, so callers can rebuild per-attempt state (a
 * fresh file stream for an upload).
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: Partial<RetryOptions> = {},
): Promise<T> {
  const opts: RetryOptions = { ...DEFAULTS, ...options }
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted()
    try {
      return await fn(attempt)
    } catch (error) {
      // An aborted request is not a failure worth retrying: the caller gave up (its deadline).
      opts.signal?.throwIfAborted()
      if (attempt >= opts.attempts || !opts.shouldRetry(error)) throw error
      const retryAfter = error instanceof GatewayError ? error.retryAfterSeconds : undefined
      if (retryAfter !== undefined && retryAfter * 1000 > opts.maxRetryAfterMs) throw error
      const delay = retryDelayMs(attempt, opts, retryAfter)
      opts.onRetry?.(error, attempt, delay)
      await opts.sleep(delay, opts.signal)
      opts.signal?.throwIfAborted()
    }
  }
}

// Waits `ms`, or less when the signal aborts (then rejects with its reason), leaving no timer
// behind to hold the process open.
function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason as Error)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
