import type { Db } from '../db/db.ts'
import { prunePacingWindows } from '../db/metering-repo.ts'
import type { ChunkUploads } from '../services/chunk-uploads.ts'
import type { Clock } from '../services/metering.ts'
import type { JobDefinition } from './queue.ts'

/**
 * Hourly housekeeping: chunks of uploads that never completed go once their retention (48 h)
 * has passed, and pacing windows older than two days are dead weight.
 */
export function cleanupJob(db: Db, chunked: ChunkUploads, clock: Clock): JobDefinition<object> {
  return {
    name: 'push-cleanup',
    options: { retryLimit: 2, retryDelay: 60 },
    schedule: '17 * * * *',
    handle: async () => {
      const now = clock.now()
      await chunked.expire(now)
      await prunePacingWindows(db, new Date(now.getTime() - 2 * 86_400_000))
      await db.query("DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'")
    },
  }
}
