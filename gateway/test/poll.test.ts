import { describe, expect, test } from '@jest/globals'
import { AGAIN, poll } from '../src/lib/poll.ts'

describe('poll (gateway)', () => {
  test('checks until the answer is not AGAIN, waiting doubling delays up to the cap', async () => {
    const waits: number[] = []
    const rounds: [number, number][] = []
    const answer = await poll(
      async ({ round, nextDelayMs }) => {
        rounds.push([round, nextDelayMs])
        return round < 6 ? AGAIN : 'done'
      },
      { firstDelayMs: 25, maxDelayMs: 150, wait: async (ms) => void waits.push(ms) },
    )
    expect(answer).toBe('done')
    expect(waits).toEqual([25, 50, 100, 150, 150])
    expect(rounds).toEqual([
      [1, 25],
      [2, 50],
      [3, 100],
      [4, 150],
      [5, 150],
      [6, 150],
    ])
  })

  test('an answer of undefined ends the poll too', async () => {
    const waits: number[] = []
    const answer = await poll(async ({ round }) => (round === 1 ? AGAIN : undefined), {
      firstDelayMs: 5,
      maxDelayMs: 10,
      wait: async (ms) => void waits.push(ms),
    })
    expect(answer).toBeUndefined()
    expect(waits).toEqual([5])
  })

  test('a throw from the check ends the poll without another wait', async () => {
    const waits: number[] = []
    const boom = new Error('deadline')
    await expect(
      poll(
        async ({ round }) => {
          if (round === 3) throw boom
          return AGAIN
        },
        { firstDelayMs: 1, maxDelayMs: 100, wait: async (ms) => void waits.push(ms) },
      ),
    ).rejects.toBe(boom)
    expect(waits).toEqual([1, 2])
  })
})
