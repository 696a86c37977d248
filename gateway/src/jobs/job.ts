import type { Job, QueueOptions } from 'pg-boss'
import type { Config } from '../config.ts'
import type { Queryable } from '../db/db.ts'
import type { JobDefinition, JobQueue } from './queue.ts'

/** A handler's answer when its work must wait: run this data again after so many seconds. */
export interface Later<T extends object> {
  afterSeconds: number
  data: T
  customerId?: string | undefined
}

export interface JobSend {
  /** Enqueue inside this transaction, so the job exists exactly when the transaction commits. */
  tx?: Queryable
  /** The customer the job works for (bounded per customer; see SendOptions in ./queue.ts). */
  customerId?: string | undefined
}

/**
 * One kind of background job: its queue name, the singleton key that makes the same work one
 * job, its options and schedule. Services send through it and the job module defines its handler
 * with it, so none of these is written twice.
 */
export interface JobKind<T extends object> {
  readonly name: string
  send(queue: JobQueue, data: T, options?: JobSend): Promise<string | null>
  /** Whether the work `data` names has a job waiting, running or dead (singleton kinds only). */
  status(queue: JobQueue, data: T): Promise<'live' | 'dead' | 'none'>
  /** The queue's definition, with `handle` as its worker. */
  definition(
    config: Config,
    handle: (data: T, job: Job<T>) => Promise<void | Later<T>>,
  ): JobDefinition<T>
}

export function jobKind<T extends object>(spec: {
  name: string
  /** One live job per key: sending the same work again while it waits or runs is a no-op. */
  singletonKey?: (data: T) => string
  options: QueueOptions | ((config: Config) => QueueOptions)
  /** Cron expression (UTC) for a job that runs on a schedule. */
  schedule?: string | ((config: Config) => string)
}): JobKind<T> {
  const key = (data: T) => spec.singletonKey?.(data)
  return {
    name: spec.name,
    send: (queue, data, options = {}) => {
      const singletonKey = key(data)
      return queue.send(spec.name, data, {
        ...(options.tx ? { tx: options.tx } : {}),
        ...(singletonKey ? { singletonKey } : {}),
        ...(options.customerId ? { customerId: options.customerId } : {}),
      })
    },
    status: (queue, data) => {
      const singletonKey = key(data)
      if (!singletonKey) throw new Error(`${spec.name} jobs have no singleton key`)
      return queue.status(spec.name, singletonKey)
    },
    definition: (config, handle) => ({
      name: spec.name,
      options: typeof spec.options === 'function' ? spec.options(config) : spec.options,
      ...(spec.schedule
        ? { schedule: typeof spec.schedule === 'function' ? spec.schedule(config) : spec.schedule }
        : {}),
      handle: async (data, job) => {
        const later = await handle(data, job)
        if (!later) return undefined
        return { ...later, singletonKey: key(later.data) ?? '' }
      },
    }),
  }
}

/**
 * The retry policy of the push jobs: `attempts` runs in all (pg-boss counts retries, hence the
 * -1), exponential backoff from `retryDelaySeconds`, and a heartbeat so a job whose worker died
 * (a crash, kill -9) is retried within about two heartbeats instead of at its expiry.
 */
export function pushRetryPolicy(config: Config, expireInSeconds: number): QueueOptions {
  return {
    retryLimit: config.jobs.attempts - 1,
    retryDelay: config.jobs.retryDelaySeconds,
    retryBackoff: true,
    retryDelayMax: 3600,
    expireInSeconds,
    heartbeatSeconds: config.jobs.heartbeatSeconds,
  }
}
