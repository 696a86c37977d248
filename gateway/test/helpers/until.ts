import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Waits for a condition the gateway reaches on its own (a job, a stream, a webhook): polls
 * `probe` until it answers something truthy, and answers that. The deadline is a bound, never a
 * speed test.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T> | T,
  { ms = 30_000, everyMs = 50 }: { ms?: number; everyMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(everyMs)
  }
}
