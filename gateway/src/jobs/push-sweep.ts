import type { Config } from '../config.ts'
import { jobKind } from './job.ts'

/** A failed run is not retried: the next minute's run does the same work. */
export const pushSweep = jobKind<object>({
  name: 'push-sweep',
  options: { retryLimit: 0 },
  schedule: '* * * * *',
})

/**
 * Every minute (cron's finest step): bills deploys Netlify published without `push-complete`
 * and expires pushes idle past KAIXU_PUSH_IDLE_TIMEOUT_SECONDS, returning their reservations.
 */
export function pushSweepJob(pushes: { sweep(): Promise<unknown> }, config: Config) {
  return pushSweep.definition(config, async () => {
    await pushes.sweep()
  })
}
