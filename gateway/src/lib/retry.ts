import { setTimeout as sleep } from 'node:timers/promises'

/**
 * How one call site retries. The policy is declared where the call is made (as the Action's
 * `src/retry.ts` does), so the loop itself is written once and each site shows its own numbers.
 */
export interface RetryPolicy {
  /** Total attempts, the first one included. */
  attempts: number
  /** Whether a failure is worth another attempt; the others are thrown at once. */
  shouldRetry: (error: unknown) => boolean
  /** The wait before retry number `retry` (1-based) when the server named none (see `backoff`). */
  backoffMs: (retry: number) => number
  /**
   * A wait the server asked for (a `Retry-After`, a rate-limit reset), in ms; it replaces the
   * backoff. Undefined when the failure names none.
   */
  serverWaitMs?: (error: unknown) => number | undefined
  /**
   * The longest server-asked wait worth sitting out here: a longer one gets its error thrown at
   * once, so a request or a worker is not held for it. Default: no limit.
   */
  maxServerWaitMs?: number
  /** Called before each wait, for logging. */
  onRetry?: (error: unknown, retry: number, waitMs: number) => void
  /** Injected in tests so none really sleeps. */
  sleep?: (ms: number) => Promise<unknown>
}

/**
 * Runs `fn` until it succeeds, a failure is not worth retrying, the attempts run out, or the
 * server asks for a longer wait than the policy allows; then throws the last failure. `fn` gets
 * the 1-based attempt number, so callers can rebuild per-attempt state (a fresh body stream).
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
): Promise<T> {
  const wait = policy.sleep ?? sleep
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (error) {
      if (attempt >= policy.attempts || !policy.shouldRetry(error)) throw error
      const serverWaitMs = policy.serverWaitMs?.(error)
      if (serverWaitMs !== undefined && serverWaitMs > (policy.maxServerWaitMs ?? Infinity)) {
        throw error
      }
      const waitMs = serverWaitMs ?? policy.backoffMs(attempt)
      policy.onRetry?.(error, attempt, waitMs)
      if (waitMs > 0) await wait(waitMs)
    }
  }
}

/**
 * Exponential backoff: `firstMs · 2^(retry-1)`, capped at `maxMs`. `jitter: 'equal'` waits a
 * random time in the upper half of that, so parallel callers do not come back in lockstep.
 */
export function backoff(options: {
  firstMs: number
  maxMs?: number
  jitter?: 'none' | 'equal'
  random?: () => number
}): (retry: number) => number {
  const { firstMs, maxMs = Infinity, jitter = 'none', random = Math.random } = options
  return (retry) => {
    const ms = Math.min(firstMs * 2 ** (retry - 1), maxMs)
    return jitter === 'equal' ? ms * (0.5 + random() / 2) : ms
  }
}
