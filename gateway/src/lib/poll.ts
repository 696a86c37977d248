import { setTimeout as sleep } from 'node:timers/promises'

/** What a poll's check answers to be called again after the next wait. */
export const AGAIN: unique symbol = Symbol('poll again')

/**
 * How one call site polls: waits that start short and double up to a cap. Short first waits
 * matter where something is usually done in milliseconds and every wasted interval is time a
 * customer's CI sits idle. The policy is declared where the poll is written.
 */
export interface PollPolicy {
  firstDelayMs: number
  maxDelayMs: number
  /** How a delay is waited (default: a plain sleep); a waiter may end early (an arrival, an abort). */
  wait?: (ms: number) => Promise<unknown>
}

/**
 * Calls `check` until it answers anything but `AGAIN`, and answers that; a throw ends the poll.
 * `check` learns its 1-based round and the delay that follows if it answers `AGAIN`, so it can
 * give up before a deadline would pass. Deadlines stay with the caller: they differ per site.
 */
export async function poll<T>(
  check: (round: { round: number; nextDelayMs: number }) => Promise<T | typeof AGAIN>,
  policy: PollPolicy,
): Promise<T> {
  const wait = policy.wait ?? sleep
  for (let round = 1, delay = policy.firstDelayMs; ; round++) {
    const answer = await check({ round, nextDelayMs: delay })
    if (answer !== AGAIN) return answer
    await wait(delay)
    delay = Math.min(delay * 2, policy.maxDelayMs)
  }
}
