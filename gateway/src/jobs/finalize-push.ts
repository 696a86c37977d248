import type { JobDefinition } from './queue.ts'
import { FINALIZE_QUEUE, type PushService } from '../services/pushes.ts'

/**
 * Finalizes a push: waits for Netlify to make the deploy ready, then bills it. Delivery is at
 * least once; the handler is idempotent because every step is a guarded state transition.
 * Ten attempts (pg-boss counts retries, hence 9) with exponential backoff from 30 s.
 */
export function finalizePushJob(pushes: PushService): JobDefinition<{ pushId: string }> {
  return {
    name: FINALIZE_QUEUE,
    options: {
      retryLimit: 9,
      retryDelay: 30,
      retryBackoff: true,
      retryDelayMax: 3600,
      expireInSeconds: 15 * 60,
    },
    handle: ({ pushId }) => pushes.finalize(pushId),
  }
}
