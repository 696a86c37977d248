import type { Config } from '../config.ts'
import { jobKind, pushRetryPolicy, type Later } from './job.ts'

type FinalizeData = { pushId: string; round?: number }

/** One finalize job per push. */
export const finalizePush = jobKind<FinalizeData>({
  name: 'push-finalize',
  singletonKey: ({ pushId }) => pushId,
  options: (config) => pushRetryPolicy(config, 15 * 60),
})

/**
 * Finalizes a push: checks for a few seconds whether Netlify made the deploy ready, bills it
 * when it did, and otherwise re-queues itself for a later look (`round` counts the looks), so a
 * slow deploy never holds a worker. Delivery is at least once; the handler is idempotent because
 * every step is a guarded state transition.
 */
export function finalizePushJob(
  pushes: {
    finalize(pushId: string, round: number): Promise<Omit<Later<FinalizeData>, 'data'> | undefined>
  },
  config: Config,
) {
  return finalizePush.definition(config, async ({ pushId, round = 0 }) => {
    const later = await pushes.finalize(pushId, round)
    if (!later) return undefined
    return { ...later, data: { pushId, round: round + 1 } }
  })
}
