import type { Config } from '../config.ts'
import type { Db } from '../db/db.ts'
import { assemblingUploads } from '../db/chunks-repo.ts'
import { finalizingPushes } from '../db/pushes-repo.ts'
import { ASSEMBLE_QUEUE } from '../services/chunk-uploads.ts'
import { FINALIZE_QUEUE } from '../services/pushes.ts'
import type { JobDefinition, JobQueue } from './queue.ts'

/**
 * `push-job-retry`, every 5 minutes by default: pg-boss already retries a failing job with
 * exponential backoff up to the configured attempts; this sweep catches work that has no job at
 * all (lost in a crash between states, or deleted) and queues it again. Dead jobs (every
 * attempt used) are left for a person: `kaixu-gateway jobs list|retry`.
 */
export function pushJobRetryJob(
  db: Db,
  queue: () => JobQueue,
  config: Config,
): JobDefinition<object> {
  return {
    name: 'push-job-retry',
    options: { retryLimit: 0 },
    schedule: config.jobs.retryCron,
    handle: async () => {
      for (const { id, customer_id: customerId } of await finalizingPushes(db)) {
        if ((await queue().status(FINALIZE_QUEUE, id)) === 'none') {
          await queue().send(FINALIZE_QUEUE, { pushId: id }, { singletonKey: id, customerId })
        }
      }
      for (const u of await assemblingUploads(db)) {
        const key = `${u.push_id}:${u.sha1}`
        if ((await queue().status(ASSEMBLE_QUEUE, key)) === 'none') {
          await queue().send(
            ASSEMBLE_QUEUE,
            { pushId: u.push_id, sha1: u.sha1 },
            { singletonKey: key, customerId: u.customer_id },
          )
        }
      }
    },
  }
}
