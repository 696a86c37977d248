import pLimit, { type LimitFunction } from 'p-limit'
import { NetlifyApiError } from './errors.ts'

/** Slack after `X-RateLimit-Reset` before a held token sends again: clocks are never in step. */
const RESET_MARGIN_MS = 200
/** Shortest hold after a 429 whose reset is already past by our clock (as netlify-cli does). */
const MIN_429_HOLD_MS = 1_000
/** How often idle tokens are forgotten. */
const SWEEP_EVERY_MS = 60_000

interface TokenState {
  /** `X-RateLimit-Limit` last seen: the budget of a fresh window. */
  limit: number | undefined
  /**
   * Requests this token may still send in the current window, counting those in flight as spent.
   * `undefined` until Netlify has told us: one request at a time goes out to find out.
   */
  remaining: number | undefined
  /** Netlify's answers carry no budget at all (a lifted limit, a proxy): nothing to pace. */
  unlimited: boolean
  /** When the current window ends (epoch ms, from `X-RateLimit-Reset`). */
  resetMs: number | undefined
  inFlight: number
  /** Requests waiting for the window to reset (or for an answer that tells us more). */
  waiters: (() => void)[]
  timer: NodeJS.Timeout | undefined
  uploads: LimitFunction
}

/** What a paced request learnt from Netlify's answer. */
export interface RateHeaders {
  status: number
  limit?: number | undefined
  remaining?: number | undefined
  /** Epoch seconds. */
  reset?: number | undefined
  /** A 429 for too many file PUTs in flight (`x-concurrent-remaining: 0`), not the window. */
  concurrencyCapped?: boolean
}

/**
 * Paces each token's calls to the request budget Netlify announces in `X-RateLimit-Limit`,
 * `-Remaining` and `-Reset`: once a window's budget is spent, new requests wait for the reset
 * instead of going out into a 429. This matters most for file PUTs, whose body stream cannot be
 * replayed after a 429. The state is per token, so one customer's burst never holds another's
 * requests, and a token idle past its window is forgotten.
 *
 * Each gateway process paces on its own view. With two processes on one token, both read the
 * `Remaining` Netlify counts for the token as a whole, so each sees the other's spending within
 * one round trip and they converge. What one cannot see is the other's requests in flight, so
 * those are capped (`maxInFlight`): at the end of a window, or just after its reset when both
 * believe the budget is whole, the overspend is at most the other's in-flight requests, and each
 * 429 holds that process's queue until the reset too.
 */
export function createRatePacer(options: {
  uploadConcurrency: number
  /** Requests in flight per token while a budget is known (see `maxInFlightPerToken`). */
  maxInFlight?: number
  /** Longest hold before a request is refused with a transient 429 instead of waiting. */
  maxWaitMs: number
  now?: () => number
}) {
  const now = options.now ?? Date.now
  const maxInFlight = options.maxInFlight ?? Infinity
  const states = new Map<string, TokenState>()
  let lastSweep = now()

  const stateOf = (token: string): TokenState => {
    if (now() - lastSweep >= SWEEP_EVERY_MS) sweep()
    let s = states.get(token)
    if (!s) {
      s = {
        limit: undefined,
        remaining: undefined,
        unlimited: false,
        resetMs: undefined,
        inFlight: 0,
        waiters: [],
        timer: undefined,
        uploads: pLimit(options.uploadConcurrency),
      }
      states.set(token, s)
    }
    return s
  }

  // A token nobody is using, whose window is over, has nothing left worth remembering.
  function sweep() {
    lastSweep = now()
    for (const [token, s] of states) {
      const idle = s.inFlight === 0 && s.waiters.length === 0 && !s.timer
      const uploadsIdle = s.uploads.activeCount === 0 && s.uploads.pendingCount === 0
      if (idle && uploadsIdle && (s.resetMs === undefined || s.resetMs <= lastSweep)) {
        states.delete(token)
      }
    }
  }

  function wake(s: TokenState) {
    const waiters = s.waiters
    s.waiters = []
    for (const w of waiters) w()
  }

  /** Waits until `token` may send one more request, and counts it as spent. */
  async function acquire(token: string, maxWaitMs = options.maxWaitMs): Promise<void> {
    const s = stateOf(token)
    for (;;) {
      const t = now()
      if (s.resetMs !== undefined && t >= s.resetMs + RESET_MARGIN_MS) {
        // A new window: the full budget, less what is still in flight (it may land in it).
        s.resetMs = undefined
        s.remaining = s.limit === undefined ? undefined : s.limit - s.inFlight
      }
      // Spent, with no reset known and nothing in flight to tell us one: ask Netlify again.
      if (s.remaining !== undefined && s.resetMs === undefined && s.inFlight === 0) {
        s.remaining = undefined
      }
      // Budget unknown: a single request goes out and its answer tells the others what is left.
      const go =
        s.unlimited ||
        (s.remaining === undefined ? s.inFlight === 0 : s.remaining > 0 && s.inFlight < maxInFlight)
      if (go) {
        if (s.remaining !== undefined) s.remaining--
        s.inFlight++
        return
      }
      if (s.resetMs !== undefined && s.resetMs - t > maxWaitMs) {
        throw new NetlifyApiError(
          429,
          'Netlify API rate limit reached for this token; try again after the reset',
          true,
          Math.ceil((s.resetMs - t) / 1000),
        )
      }
      // Out of budget: wait for the reset, or (reset unknown) for an answer that tells us.
      if (s.resetMs !== undefined && !s.timer) {
        s.timer = setTimeout(
          () => {
            s.timer = undefined
            wake(s)
          },
          s.resetMs + RESET_MARGIN_MS - t,
        )
        // A held request alone must not keep a shutting-down process alive for a minute.
        s.timer.unref()
      }
      await new Promise<void>((resolve) => s.waiters.push(resolve))
    }
  }

  /** Counts a request as answered (`headers` undefined: no answer) and learns from its headers. */
  function release(token: string, headers?: RateHeaders): void {
    const s = states.get(token)
    if (!s) return
    s.inFlight = Math.max(0, s.inFlight - 1)
    if (headers) learn(s, headers)
    // Nothing to wake while a reset timer is pending: the budget only grows at the reset.
    if (!s.timer) wake(s)
  }

  function learn(s: TokenState, h: RateHeaders) {
    const t = now()
    // A 429 that still leaves budget is another limit (deploys per minute, uploads in flight):
    // it says nothing about the request window and must not hold the token's other calls.
    if (h.status === 429 && ((h.remaining ?? 0) > 0 || h.concurrencyCapped)) return
    if (h.limit !== undefined) s.limit = h.limit
    if (h.status === 429) {
      const resetMs = h.reset !== undefined ? h.reset * 1000 : 0
      // The 429's own reset is Netlify's latest word, even if sooner than the window we knew.
      s.resetMs = Math.max(resetMs, t + MIN_429_HOLD_MS)
      s.remaining = 0
      s.unlimited = false
      return
    }
    if (h.remaining === undefined || h.reset === undefined) {
      // No budget announced (a limit lifted, or a proxy in between): nothing to pace on.
      s.remaining = undefined
      s.resetMs = undefined
      s.unlimited = true
      return
    }
    s.unlimited = false
    const resetMs = h.reset * 1000
    // Answers from a window that is already over (sent before it ended) tell us nothing.
    if (resetMs + RESET_MARGIN_MS <= t) return
    // The others in flight may not have been counted yet: assume they will be, in this window.
    const left = h.remaining - s.inFlight
    if (s.resetMs === undefined || resetMs > s.resetMs) {
      s.resetMs = resetMs
      s.remaining = left
    } else {
      s.remaining = Math.min(s.remaining ?? left, left)
    }
  }

  return {
    acquire,
    release,
    /** Runs `fn` in one of `token`'s upload slots (Netlify caps file PUTs in flight per token). */
    upload: <T>(token: string, fn: () => Promise<T>): Promise<T> => stateOf(token).uploads(fn),
    /** Whether `token` is being held back until its window resets. */
    isHeld: (token: string): boolean => {
      const s = states.get(token)
      return !!s && s.remaining !== undefined && s.remaining <= 0 && s.resetMs !== undefined
    },
    /**
     * Requests `token` may still send before Netlify's current window resets, as far as this
     * process knows; undefined when Netlify announces no budget (a lifted limit) or has not yet.
     */
    remaining: (token: string): number | undefined => {
      const s = states.get(token)
      if (!s || s.unlimited || s.remaining === undefined) return undefined
      if (s.resetMs !== undefined && now() >= s.resetMs + RESET_MARGIN_MS) return s.limit
      return Math.max(0, s.remaining)
    },
    /** Tokens remembered (tests: idle ones are forgotten). */
    get size() {
      return states.size
    },
    sweep,
  }
}

export type RatePacer = ReturnType<typeof createRatePacer>

/** The pacing headers of one Netlify answer. */
export function rateHeaders(
  status: number,
  headers: Record<string, string | string[] | undefined>,
): RateHeaders {
  const num = (name: string) => {
    const raw = headers[name]
    const n = Number(Array.isArray(raw) ? raw[0] : raw)
    return raw === undefined || !Number.isFinite(n) ? undefined : n
  }
  return {
    status,
    limit: num('x-ratelimit-limit'),
    remaining: num('x-ratelimit-remaining'),
    reset: num('x-ratelimit-reset'),
    concurrencyCapped: status === 429 && num('x-concurrent-remaining') === 0,
  }
}
