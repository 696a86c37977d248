import { describe, expect, test } from '@jest/globals'
import { backoff, retry, type RetryPolicy } from '../src/lib/retry.ts'

class Failure extends Error {
  readonly transient: boolean
  readonly waitMs: number | undefined
  constructor(transient: boolean, waitMs?: number) {
    super(transient ? 'transient' : 'permanent')
    this.transient = transient
    this.waitMs = waitMs
  }
}

/** A policy whose waits are recorded instead of slept. */
function policy(overrides: Partial<RetryPolicy> = {}) {
  const waits: number[] = []
  const p: RetryPolicy = {
    attempts: 4,
    shouldRetry: (e) => (e as Failure).transient,
    backoffMs: backoff({ firstMs: 100 }),
    serverWaitMs: (e) => (e as Failure).waitMs,
    sleep: async (ms) => void waits.push(ms),
    ...overrides,
  }
  return { p, waits }
}

/** `fn` that fails with each of `failures` in turn, then answers 'ok'. */
function failing(...failures: Failure[]) {
  const attempts: number[] = []
  const fn = async (attempt: number) => {
    attempts.push(attempt)
    const f = failures[attempt - 1]
    if (f) throw f
    return 'ok'
  }
  return { fn, attempts }
}

describe('retry (gateway)', () => {
  test('retries transient failures with the declared backoff, then answers', async () => {
    const { p, waits } = policy()
    const { fn, attempts } = failing(new Failure(true), new Failure(true), new Failure(true))
    await expect(retry(fn, p)).resolves.toBe('ok')
    expect(attempts).toEqual([1, 2, 3, 4])
    expect(waits).toEqual([100, 200, 400])
  })

  test('throws a permanent failure at once', async () => {
    const { p, waits } = policy()
    const permanent = new Failure(false)
    const { fn, attempts } = failing(new Failure(true), permanent)
    await expect(retry(fn, p)).rejects.toBe(permanent)
    expect(attempts).toEqual([1, 2])
    expect(waits).toEqual([100])
  })

  test('throws the last failure when the attempts run out', async () => {
    const { p, waits } = policy({ attempts: 2 })
    const last = new Failure(true)
    const { fn, attempts } = failing(new Failure(true), last)
    await expect(retry(fn, p)).rejects.toBe(last)
    expect(attempts).toEqual([1, 2])
    expect(waits).toEqual([100])
  })

  test("a server's wait replaces the backoff; a zero wait retries without sleeping", async () => {
    const { p, waits } = policy()
    const { fn } = failing(new Failure(true, 3_000), new Failure(true, 0), new Failure(true))
    await expect(retry(fn, p)).resolves.toBe('ok')
    expect(waits).toEqual([3_000, 400])
  })

  test('a server wait longer than the policy allows throws at once', async () => {
    const { p, waits } = policy({ maxServerWaitMs: 2_000 })
    const long = new Failure(true, 2_001)
    const { fn, attempts } = failing(new Failure(true, 2_000), long)
    await expect(retry(fn, p)).rejects.toBe(long)
    expect(attempts).toEqual([1, 2])
    expect(waits).toEqual([2_000])
  })

  test('onRetry sees each failure, its retry number and the wait', async () => {
    const seen: [string, number, number][] = []
    const { p } = policy({ onRetry: (e, n, ms) => seen.push([(e as Error).message, n, ms]) })
    const { fn } = failing(new Failure(true), new Failure(true, 50))
    await retry(fn, p)
    expect(seen).toEqual([
      ['transient', 1, 100],
      ['transient', 2, 50],
    ])
  })

  test('backoff doubles up to its cap; equal jitter stays in the upper half', () => {
    const plain = backoff({ firstMs: 200, maxMs: 5_000 })
    expect([1, 2, 3, 5, 6, 9].map(plain)).toEqual([200, 400, 800, 3_200, 5_000, 5_000])
    const low = backoff({ firstMs: 200, maxMs: 5_000, jitter: 'equal', random: () => 0 })
    const high = backoff({ firstMs: 200, maxMs: 5_000, jitter: 'equal', random: () => 1 })
    expect([1, 3, 9].map(low)).toEqual([100, 400, 2_500])
    expect([1, 3, 9].map(high)).toEqual([200, 800, 5_000])
  })
})
