import { PgBoss, fromPglite, type Job, type QueueOptions } from 'pg-boss'
import type { Logger } from 'pino'
import type { Db, Queryable } from '../db/db.ts'

export interface SendOptions {
  /** Enqueue inside this transaction, so the job exists exactly when the transaction commits. */
  tx?: Queryable
  singletonKey?: string
}

export interface JobDefinition<T extends object> {
  name: string
  options: QueueOptions
  /** Cron expression (UTC) for jobs that run on a schedule. */
  schedule?: string
  handle(data: T, job: Job<T>): Promise<void>
}

/** The only pg-boss user: starts queues and workers, and sends jobs (optionally in a tx). */
export interface JobQueue {
  send<T extends object>(name: string, data: T, options?: SendOptions): Promise<string | null>
  stop(): Promise<void>
}

export async function startJobQueue(
  db: Db,
  definitions: JobDefinition<object>[],
  options: { pollSeconds: number; logger: Logger; work: boolean },
): Promise<JobQueue> {
  const boss = db.pglite
    ? new PgBoss({ backend: 'pglite', db: fromPglite(db.pglite) })
    : new PgBoss({ connectionString: db.connectionString!, max: 4 })
  boss.on('error', (error) => options.logger.error({ err: error }, 'job queue error'))
  await boss.start()
  for (const definition of definitions) {
    await boss.createQueue(definition.name, definition.options)
    if (definition.schedule)
      await boss.schedule(definition.name, definition.schedule, {}, { tz: 'UTC' })
    if (!options.work) continue
    await boss.work<object>(
      definition.name,
      { pollingIntervalSeconds: options.pollSeconds, batchSize: 1, localConcurrency: 4 },
      async ([job]) => {
        if (!job) return
        const log = options.logger.child({ job: definition.name, jobId: job.id })
        try {
          await definition.handle(job.data, job)
        } catch (error) {
          log.warn({ err: error }, 'job failed; pg-boss will retry it if attempts remain')
          throw error
        }
      },
    )
  }
  return {
    send: (name, data, sendOptions = {}) =>
      boss.send(name, data, {
        ...(sendOptions.singletonKey ? { singletonKey: sendOptions.singletonKey } : {}),
        ...(sendOptions.tx ? { db: adapter(sendOptions.tx) } : {}),
      }),
    stop: () => boss.stop({ graceful: true, timeout: 10_000 }),
  }
}

const adapter = (tx: Queryable) => ({
  executeSql: async (text: string, values?: unknown[]) => ({ rows: await tx.query(text, values) }),
})
