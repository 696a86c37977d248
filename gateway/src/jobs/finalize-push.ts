import type { Config } from '../config.ts'
import { FINALIZE_QUEUE, type PushService } from '../services/pushes.ts'
import { retryOptions } from './retry-options.ts'
import type { JobDefinition } from './queue.ts'

/**
 * Finalizes a push: waits for Netlify to make the deploy ready, then bills it. Delivery is at
 * least once; the handler is idempotent because every step is a guarded state transition.
 */
export function finalizePushJob(
  pushes: PushService,
  config: Config,
): JobDefinition<{ pushId: string }> {
  return {
    name: FINALIZE_QUEUE,
    options: retryOptions(config, 15 * 60),
    handle: ({ pushId }) => pushes.finalize(pushId),
  }
}
