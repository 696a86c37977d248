import type { Config } from '../config.ts'
import type { Db } from '../db/db.ts'
import { purgeSessions } from '../db/dashboard-repo.ts'
import { pruneIdempotencyKeys } from '../db/idempotency-repo.ts'
import { prunePacingWindows } from '../db/metering-repo.ts'
import type { Clock } from '../services/metering.ts'
import { jobKind } from './job.ts'

export const cleanup = jobKind<object>({
  name: 'push-cleanup',
  options: { retryLimit: 2, retryDelay: 60 },
  schedule: '17 * * * *',
})

/**
 * Hourly housekeeping: chunks of uploads that never completed go once their retention (48 h)
 * has passed, and so do the kept files of zip pushes that no longer need them; pacing admissions older than two days and expired admin sessions are dead weight.
 */
export function cleanupJob(
  db: Db,
  chunked: { expire(now: Date): Promise<unknown> },
  pushes: { dropZipLeftovers(): Promise<unknown> },
  clock: Clock,
  config: Config,
) {
  return cleanup.definition(config, async () => {
    const now = clock.now()
    await chunked.expire(now)
    // Files kept for zip pushes that ended, or whose archive went out but whose job stopped
    // before it could drop them.
    await pushes.dropZipLeftovers()
    await prunePacingWindows(db, new Date(now.getTime() - 2 * 86_400_000))
    await pruneIdempotencyKeys(db)
    // Expired admin sessions go even when nobody signs in or out.
    await purgeSessions(db)
  })
}
