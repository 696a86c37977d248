import { PgBoss, fromPglite, type Job, type QueueOptions } from 'pg-boss'
import type { Logger } from 'pino'
import type { Db, Queryable } from '../db/db.ts'

/** How long a stopping queue waits for running jobs before it gives them up to another process. */
export const QUEUE_STOP_TIMEOUT_MS = 10_000

export interface SendOptions {
  /** Enqueue inside this transaction, so the job exists exactly when the transaction commits. */
  tx?: Queryable
  singletonKey?: string
  /**
   * The customer the job works for: pg-boss's group, so one customer's jobs never hold more
   * than `customerConcurrency` workers of a queue, across every process (made exact when a job
   * starts: see groupBound).
   */
  customerId?: string
  /** Not before this many seconds from now. */
  startAfterSeconds?: number
}

/**
 * What a handler answers when its work is not done but waiting would only hold a worker (Netlify
 * still processing, a Retry-After): the same job is sent again to run after `afterSeconds`, and
 * this run completes. Workers are never parked on another system's clock.
 */
export interface Recheck<T extends object> {
  afterSeconds: number
  data: T
  singletonKey?: string | undefined
  customerId?: string | undefined
}

export interface JobDefinition<T extends object> {
  name: string
  options: QueueOptions
  /** Cron expression (UTC) for jobs that run on a schedule. */
  schedule?: string
  handle(data: T, job: Job<T>): Promise<void | Recheck<T>>
}

export type JobState = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed'

export interface JobInfo {
  id: string
  queue: string
  state: JobState
  data: Record<string, unknown>
  attempts: number
  maxAttempts: number
  createdAt: Date
  startedAt: Date | null
  completedAt: Date | null
  /** What the last failure said (pg-boss stores the thrown error as the job's output). */
  error: string | null
}

/** The only pg-boss user: starts queues and workers, and sends jobs (optionally in a tx). */
export interface JobQueue {
  send<T extends object>(name: string, data: T, options?: SendOptions): Promise<string | null>
  /** Jobs of our queues, newest first; `failed` ones have used every attempt (dead). */
  list(options: { states?: JobState[]; queue?: string; limit?: number }): Promise<JobInfo[]>
  /** Whether a job for this singleton key is waiting, running or dead. */
  status(queue: string, singletonKey: string): Promise<'live' | 'dead' | 'none'>
  /** Re-runs a dead (failed) job by hand. */
  retry(queue: string, id: string): Promise<boolean>
  stop(): Promise<void>
}

export async function startJobQueue(
  db: Db,
  definitions: JobDefinition<object>[],
  options: {
    pollSeconds: number
    logger: Logger
    work: boolean
    maxConnections: number
    customerConcurrency: number
    /** Told when a job fails its last attempt (it is then dead until retried by hand). */
    onDead?: (job: { queue: string; id: string; error: string }) => Promise<void>
  },
): Promise<JobQueue> {
  // A process that only inspects or re-runs jobs (the CLI) neither supervises nor schedules.
  const roles = options.work ? {} : { supervise: false, schedule: false }
  const boss = db.pglite
    ? new PgBoss({ backend: 'pglite', db: fromPglite(db.pglite), ...roles })
    : new PgBoss({ connectionString: db.connectionString!, max: options.maxConnections, ...roles })
  boss.on('error', (error) => options.logger.error({ err: error }, 'job queue error'))
  await boss.start()
  const overGroupBound = groupBound(options.customerConcurrency)
  for (const definition of definitions) {
    await boss.createQueue(definition.name, definition.options)
    if (definition.schedule)
      await boss.schedule(definition.name, definition.schedule, {}, { tz: 'UTC' })
    if (!options.work) continue
    const handler = async ([job]: Job<object>[]) => {
      if (!job) return
      const log = options.logger.child({ job: definition.name, jobId: job.id })
      if (job.groupId && (await overGroupBound(db, definition.name, job.id))) {
        // pg-boss counts a group's active jobs when it fetches, so workers fetching at the
        // same moment can each take the customer's last slot. The bound is made exact here: a
        // job with `customerConcurrency` of its group started before it still running gives
        // its turn back, to run again shortly, and holds no worker meanwhile.
        await boss.send(
          definition.name,
          job.data,
          sendOptions(undefined, { customerId: job.groupId, startAfterSeconds: 1 }),
        )
        return
      }
      try {
        const recheck = await definition.handle(job.data, job)
        if (recheck) {
          await boss.send(
            definition.name,
            recheck.data,
            sendOptions(recheck.singletonKey, {
              customerId: recheck.customerId,
              startAfterSeconds: recheck.afterSeconds,
            }),
          )
        }
      } catch (error) {
        log.warn({ err: error }, 'job failed; pg-boss will retry it if attempts remain')
        // pg-boss's default retry limit is 2 when a queue sets none.
        if (job.retryCount >= (definition.options.retryLimit ?? 2)) {
          await options.onDead?.({
            queue: definition.name,
            id: job.id,
            error: error instanceof Error ? error.message : String(error),
          })
        }
        throw error
      }
    }
    for (const shift of shifts(definition, options.pollSeconds)) {
      await boss.work<object>(
        definition.name,
        {
          pollingIntervalSeconds: shift.pollSeconds,
          batchSize: 1,
          localConcurrency: shift.workers,
          // Jobs sent with a customer (a group) are claimed only while that customer holds fewer
          // than this many active jobs of the queue; others' jobs are claimed past them.
          groupConcurrency: options.customerConcurrency,
        },
        handler,
      )
    }
  }
  const names = definitions.map((d) => d.name)
  return {
    async list({ states, queue, limit = 100 }) {
      const rows = await db.query<{
        id: string
        name: string
        state: JobState
        data: Record<string, unknown>
        retry_count: number
        retry_limit: number
        created_on: Date
        started_on: Date | null
        completed_on: Date | null
        output: unknown
      }>(
        `SELECT id, name, state, data, retry_count, retry_limit, created_on, started_on, completed_on, output
           FROM pgboss.job
          WHERE name = ANY($1::text[]) AND ($2::text[] IS NULL OR state::text = ANY($2::text[]))
          ORDER BY created_on DESC LIMIT $3`,
        [queue ? [queue] : names, states ?? null, limit],
      )
      return rows.map((r) => ({
        id: r.id,
        queue: r.name,
        state: r.state,
        data: r.data,
        attempts: r.retry_count + (r.state === 'created' ? 0 : 1),
        maxAttempts: r.retry_limit + 1,
        createdAt: r.created_on,
        startedAt: r.started_on,
        completedAt: r.completed_on,
        error: errorText(r.output),
      }))
    },
    async status(queue, singletonKey) {
      const rows = await db.query<{ state: JobState }>(
        `SELECT state FROM pgboss.job WHERE name = $1 AND singleton_key = $2 ORDER BY created_on DESC LIMIT 1`,
        [queue, singletonKey],
      )
      const state = rows[0]?.state
      if (state === 'created' || state === 'retry' || state === 'active') return 'live'
      return state === 'failed' ? 'dead' : 'none'
    },
    async retry(queue, id) {
      const before = await db.query<{ state: JobState }>(
        'SELECT state FROM pgboss.job WHERE id = $1 AND name = $2',
        [id, queue],
      )
      if (before[0]?.state !== 'failed') return false
      await boss.retry(queue, id)
      return true
    },
    send: (name, data, options = {}) =>
      boss.send(name, data, {
        ...sendOptions(options.singletonKey, options),
        ...(options.tx ? { db: adapter(options.tx) } : {}),
      }),
    stop: () => boss.stop({ graceful: true, timeout: QUEUE_STOP_TIMEOUT_MS }),
  }
}

/** Workers per queue in each process. */
const WORKERS_PER_QUEUE = 4

/** How often a queue that only runs its schedule looks for its job. */
const SCHEDULED_POLL_SECONDS = 5

/** How many times slower than the first worker of a queue its other workers poll. */
const SPARE_POLL_FACTOR = 4

/**
 * The workers of a queue, by how often they poll. Every poll is a query, and with the embedded
 * database a query is CPU in this process, taken from pushes. A queue that only runs its schedule
 * gets a job a minute at most (cron's grain): one worker looking every few seconds picks it up
 * in time. A queue that jobs are sent to keeps one worker at the configured interval, so a lone
 * job starts as soon as before; the others only matter when several jobs wait at once, and look
 * less often.
 */
function shifts(definition: JobDefinition<object>, pollSeconds: number) {
  if (definition.schedule !== undefined) {
    return [{ pollSeconds: Math.max(pollSeconds, SCHEDULED_POLL_SECONDS), workers: 1 }]
  }
  return [
    { pollSeconds, workers: 1 },
    { pollSeconds: pollSeconds * SPARE_POLL_FACTOR, workers: WORKERS_PER_QUEUE - 1 },
  ]
}

function sendOptions(
  singletonKey: string | undefined,
  o: { customerId?: string | undefined; startAfterSeconds?: number | undefined },
) {
  return {
    ...(singletonKey ? { singletonKey } : {}),
    ...(o.customerId ? { group: { id: o.customerId } } : {}),
    ...(o.startAfterSeconds ? { startAfter: Math.ceil(o.startAfterSeconds) } : {}),
  }
}

/**
 * Whether at least `limit` jobs of the same queue and group that started before this one are
 * still active. The order (started_on, id) is the same for every process, so of any jobs checking
 * at once only those within the bound run: a job never waits on one that started after it.
 */
function groupBound(limit: number) {
  return async (db: Queryable, queue: string, jobId: string): Promise<boolean> => {
    const [row] = await db.query<{ ahead: number }>(
      `SELECT count(o.id)::int AS ahead
         FROM pgboss.job me
         JOIN pgboss.job o ON o.name = me.name AND o.group_id = me.group_id AND o.state = 'active'
          AND (o.started_on, o.id) < (me.started_on, me.id)
        WHERE me.name = $1 AND me.id = $2`,
      [queue, jobId],
    )
    return (row?.ahead ?? 0) >= limit
  }
}

const adapter = (tx: Queryable) => ({
  executeSql: async (text: string, values?: unknown[]) => ({ rows: await tx.query(text, values) }),
})

function errorText(output: unknown): string | null {
  if (!output || typeof output !== 'object') return null
  const o = output as { message?: unknown; value?: unknown }
  if (typeof o.message === 'string') return o.message
  return typeof o.value === 'string' ? o.value : JSON.stringify(output).slice(0, 500)
}
