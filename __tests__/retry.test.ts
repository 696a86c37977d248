import { describe, expect, it, jest } from '@jest/globals'
import { GatewayError } from '../src/errors.ts'
import { isRetryable, retry, retryDelayMs } from '../src/retry.ts'

// Records the waits instead of sleeping, so the tests run instantly and can check them.
function recorder() {
  const waits: number[] = []
  return { waits, sleep: async (ms: number) => void waits.push(ms) }
}

describe('retry', () => {
  it('waits at least Retry-After before trying again', async () => {
    const { waits, sleep } = recorder()
    const fn = jest
      .fn<(attempt: number) => Promise<string>>()
      .mockRejectedValueOnce(new GatewayError(429, 'rate_limited', 'slow down', undefined, 7))
      .mockResolvedValueOnce('ok')

    await expect(retry(fn, { sleep, random: () => 0 })).resolves.toBe('ok')
    expect(fn).toHaveBeenCalledTimes(2)
    expect(waits).toEqual([7000])
  })

  it('stops retrying once its signal aborts, with the signal’s reason', async () => {
    const abort = new AbortController()
    const reason = new Error('deadline')
    const fn = jest.fn<(attempt: number) => Promise<string>>(async () => {
      abort.abort(reason)
      throw new GatewayError(503, 'netlify_unavailable', 'busy')
    })
    await expect(retry(fn, { signal: abort.signal })).rejects.toBe(reason)
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it('ends a wait between attempts early when the signal aborts', async () => {
    const abort = new AbortController()
    const reason = new Error('deadline')
    const fn = jest.fn<(attempt: number) => Promise<string>>(async () => {
      throw new GatewayError(429, 'rate_limited', 'slow down', undefined, 100)
    })
    // A 100 s Retry-After; without the abort this test would time out.
    const pending = retry(fn, { signal: abort.signal })
    setImmediate(() => abort.abort(reason))
    await expect(pending).rejects.toBe(reason)
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it('passes the attempt number, so callers can rebuild per-attempt state', async () => {
    const { sleep } = recorder()
    const seen: number[] = []
    await retry(
      async (attempt) => {
        seen.push(attempt)
        if (attempt < 3) throw new GatewayError(503, 'netlify_unavailable', 'busy')
        return attempt
      },
      { sleep },
    )
    expect(seen).toEqual([1, 2, 3])
  })

  it('stops at once on an error that is not retryable', async () => {
    const { waits, sleep } = recorder()
    const error = new GatewayError(422, 'sha_mismatch', 'bad body')
    const fn = jest.fn<() => Promise<never>>().mockRejectedValue(error)

    await expect(retry(fn, { sleep })).rejects.toBe(error)
    expect(fn).toHaveBeenCalledTimes(1)
    expect(waits).toEqual([])
  })

  it('gives up after the last attempt and throws the last error', async () => {
    const { waits, sleep } = recorder()
    let count = 0
    const attempt = async () => {
      count++
      throw new GatewayError(503, 'netlify_unavailable', `busy ${count}`)
    }
    await expect(retry(attempt, { sleep, attempts: 4 })).rejects.toThrow('busy 4')
    expect(waits).toHaveLength(3)
  })

  it('does not wait for a Retry-After beyond the limit', async () => {
    const { waits, sleep } = recorder()
    const error = new GatewayError(429, 'rate_limited', 'daily limit', undefined, 3600)
    const fn = jest.fn<() => Promise<never>>().mockRejectedValue(error)

    await expect(retry(fn, { sleep })).rejects.toBe(error)
    expect(fn).toHaveBeenCalledTimes(1)
    expect(waits).toEqual([])
  })
})

describe('retryDelayMs', () => {
  const options = { baseDelayMs: 500, maxDelayMs: 20_000, random: () => 1 }

  it('doubles up to the cap', () => {
    expect([1, 2, 3, 4, 10].map((n) => retryDelayMs(n, options))).toEqual([
      500, 1000, 2000, 4000, 20_000,
    ])
  })

  it('jitters below the exponential ceiling', () => {
    expect(retryDelayMs(3, { ...options, random: () => 0.25 })).toBe(500)
  })
})

describe('isRetryable', () => {
  it.each([429, 502, 503, 504])('retries HTTP %i', (status) => {
    expect(isRetryable(new GatewayError(status, 'x', 'x'))).toBe(true)
  })

  it.each([400, 401, 402, 403, 404, 409, 413, 422, 500])('does not retry HTTP %i', (status) => {
    expect(isRetryable(new GatewayError(status, 'x', 'x'))).toBe(false)
  })

  it('retries a 409 only while the same Idempotency-Key is still in flight', () => {
    expect(isRetryable(new GatewayError(409, 'idempotency_in_flight', 'x'))).toBe(true)
    expect(isRetryable(new GatewayError(409, 'invalid_state', 'x'))).toBe(false)
  })

  it.each([
    [402, 'cap_exceeded'],
    [411, 'length_required'],
    [422, 'idempotency_key_reused'],
  ])('does not retry %i %s', (status, code) => {
    expect(isRetryable(new GatewayError(status, code, 'x'))).toBe(false)
  })

  it('does not retry a 502 that says Netlify refused for good', () => {
    expect(isRetryable(new GatewayError(502, 'netlify_error', 'no'))).toBe(false)
  })

  it('retries socket failures, not a missing file or a bad URL', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), {
      code: 'ECONNRESET',
      syscall: 'read',
    })
    const missing = Object.assign(new Error('ENOENT'), { code: 'ENOENT', syscall: 'open' })
    expect(isRetryable(new TypeError('fetch failed', { cause: reset }))).toBe(true)
    expect(isRetryable(new TypeError('fetch failed', { cause: missing }))).toBe(false)
    const closed = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })
    expect(isRetryable(new TypeError('fetch failed', { cause: closed }))).toBe(true)
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
    expect(
      isRetryable(new TypeError('fetch failed', { cause: new AggregateError([refused]) })),
    ).toBe(true)
    expect(isRetryable(new TypeError('fetch failed', { cause: new TypeError('bad port') }))).toBe(
      false,
    )
    expect(isRetryable(new Error('plain bug'))).toBe(false)
  })

  it('retries a browser’s network failure, which names no cause', () => {
    // Chromium, Firefox and Safari word it differently; none says more.
    for (const message of [
      'Failed to fetch',
      'NetworkError when attempting to fetch resource.',
      'Load failed',
    ]) {
      expect(isRetryable(new TypeError(message))).toBe(true)
    }
    expect(isRetryable(new TypeError('Failed to fetch', { cause: new Error('x') }))).toBe(false)
    expect(isRetryable(new TypeError('Cannot read properties of undefined'))).toBe(false)
  })
})
