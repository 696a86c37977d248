import type { Config } from '../config.ts'
import type { Db } from '../db/db.ts'
import { assemblingUploads } from '../db/chunks-repo.ts'
import { assembleFile } from './assemble-file.ts'
import { finalizePush } from './finalize-push.ts'
import { jobKind } from './job.ts'
import type { JobQueue } from './queue.ts'

export const pushJobRetry = jobKind<object>({
  name: 'push-job-retry',
  options: { retryLimit: 0 },
  schedule: (config) => config.jobs.retryCron,
})

/**
 * `push-job-retry`, every 5 minutes by default: pg-boss already retries a failing job with
 * exponential backoff up to the configured attempts; this sweep catches work that has no job at
 * all (lost in a crash between states, or deleted) and queues it again. Dead jobs (every
 * attempt used) are left for a person: `kaixu-gateway jobs list|retry`.
 */
export function pushJobRetryJob(db: Db, queue: () => JobQueue, config: Config) {
  return pushJobRetry.definition(config, async () => {
    const finalizing = await db.query<{ id: string; customer_id: string }>(
      "SELECT id, customer_id FROM pushes WHERE state = 'finalizing'",
    )
    for (const { id, customer_id: customerId } of finalizing) {
      const data = { pushId: id }
      if ((await finalizePush.status(queue(), data)) === 'none') {
        await finalizePush.send(queue(), data, { customerId })
      }
    }
    for (const u of await assemblingUploads(db)) {
      const data = { pushId: u.push_id, sha1: u.sha1 }
      if ((await assembleFile.status(queue(), data)) === 'none') {
        await assembleFile.send(queue(), data, { customerId: u.customer_id })
      }
    }
  })
}
