import type { PushService } from '../services/pushes.ts'
import type { JobDefinition } from './queue.ts'

/**
 * Every minute (cron's finest step): bills deploys Netlify published without `push-complete`
 * and expires pushes idle past KAIXU_PUSH_IDLE_TIMEOUT_SECONDS, returning their reservations.
 * A failed run is not retried: the next minute's run does the same work.
 */
export function pushSweepJob(pushes: PushService): JobDefinition<object> {
  return {
    name: 'push-sweep',
    options: { retryLimit: 0 },
    schedule: '* * * * *',
    handle: async () => {
      await pushes.sweep()
    },
  }
}
