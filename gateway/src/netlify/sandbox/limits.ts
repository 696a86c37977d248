const MINUTE_MS = 60_000

/** The result of counting one request against a rate limit. */
export interface RateDecision {
  allowed: boolean
  limit: number
  remaining: number
  /** Unix epoch SECONDS when the window resets, as Netlify's `X-RateLimit-Reset`. */
  reset: number
}

/**
 * Fixed one-minute windows per key (token), the model behind Netlify's `X-RateLimit-*` headers:
 * the window opens with a key's first request and resets 60 s later.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>()

  /** Counts one request for `key` against `limit` per minute. */
  take(key: string, limit: number, now = Date.now()): RateDecision {
    let window = this.windows.get(key)
    if (!window || now - window.start >= MINUTE_MS) {
      this.prune(now)
      window = { start: now, count: 0 }
      this.windows.set(key, window)
    }
    const reset = Math.ceil((window.start + MINUTE_MS) / 1000)
    if (window.count >= limit) return { allowed: false, limit, remaining: 0, reset }
    window.count++
    return { allowed: true, limit, remaining: limit - window.count, reset }
  }

  /** Forgets every window (config changes and resets). */
  clear(): void {
    this.windows.clear()
  }

  private prune(now: number): void {
    for (const [key, w] of this.windows) if (now - w.start >= MINUTE_MS) this.windows.delete(key)
  }
}

/** Counts requests in flight per key, for Netlify's per-token file upload concurrency cap. */
export class ConcurrencyLimiter {
  private readonly inFlight = new Map<string, number>()

  /** Takes a slot if fewer than `limit` are in use; returns the remaining count, or null. */
  acquire(key: string, limit: number | null): number | null {
    const used = this.inFlight.get(key) ?? 0
    if (limit !== null && used >= limit) return null
    this.inFlight.set(key, used + 1)
    return limit === null ? Number.MAX_SAFE_INTEGER : limit - used - 1
  }

  /** Gives a slot back. */
  release(key: string): void {
    const used = (this.inFlight.get(key) ?? 1) - 1
    if (used <= 0) this.inFlight.delete(key)
    else this.inFlight.set(key, used)
  }
}

/** Sliding one-minute window of deploy creations per site (Netlify: 3 a minute). */
export class DeployCreationLimiter {
  private readonly created = new Map<string, number[]>()

  /**
   * Records a creation for `siteId` if under `limit`; otherwise returns the unix epoch second at
   * which the oldest creation leaves the window.
   */
  take(
    siteId: string,
    limit: number,
    now = Date.now(),
  ): { allowed: true } | { allowed: false; reset: number } {
    const recent = (this.created.get(siteId) ?? []).filter((t) => now - t < MINUTE_MS)
    if (recent.length >= limit) {
      this.created.set(siteId, recent)
      return { allowed: false, reset: Math.ceil((recent[0]! + MINUTE_MS) / 1000) }
    }
    recent.push(now)
    this.created.set(siteId, recent)
    return { allowed: true }
  }

  /** Forgets every site's history. */
  clear(): void {
    this.created.clear()
  }
}
