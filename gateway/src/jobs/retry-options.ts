import type { QueueOptions } from 'pg-boss'
import type { Config } from '../config.ts'

/**
 * The retry policy every job shares: `attempts` runs in all (pg-boss counts retries, hence
 * the -1), exponential backoff from `retryDelaySeconds`, and a heartbeat so a job whose worker
 * died (a crash, kill -9) is retried within about two heartbeats instead of at its expiry.
 */
export function retryOptions(config: Config, expireInSeconds: number): QueueOptions {
  return {
    retryLimit: config.jobs.attempts - 1,
    retryDelay: config.jobs.retryDelaySeconds,
    retryBackoff: true,
    retryDelayMax: 3600,
    expireInSeconds,
    heartbeatSeconds: config.jobs.heartbeatSeconds,
  }
}
