import type { Config } from '../config.ts'
import { FINALIZE_QUEUE, type PushService } from '../services/pushes.ts'
import { retryOptions } from './retry-options.ts'
import type { JobDefinition } from './queue.ts'

/**
 * Finalizes a push: checks for a few seconds whether Netlify made the deploy ready, bills it
 * when it did, and otherwise re-queues itself for a later look (`round` counts the looks), so a
 * slow deploy never holds a worker. Delivery is at least once; the handler is idempotent because
 * every step is a guarded state transition.
 */
export function finalizePushJob(
  pushes: PushService,
  config: Config,
): JobDefinition<{ pushId: string; round?: number }> {
  return {
    name: FINALIZE_QUEUE,
    options: retryOptions(config, 15 * 60),
    handle: async ({ pushId, round = 0 }) => {
      const later = await pushes.finalize(pushId, round)
      if (!later) return undefined
      return {
        afterSeconds: later.afterSeconds,
        data: { pushId, round: round + 1 },
        singletonKey: pushId,
        customerId: later.customerId,
      }
    },
  }
}
