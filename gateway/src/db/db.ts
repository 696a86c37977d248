import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'

/** Anything that runs SQL: the database itself or an open transaction. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>
}

/** An open transaction: queries, plus scripts of several statements (migrations). */
export interface Transaction extends Queryable {
  /**
   * Runs `sql` as one script of any number of statements, without parameters (the simple query
   * protocol), so `;` inside a function body or a `DO` block is left to the server to parse.
   */
  exec(sql: string): Promise<void>
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres'
  /**
   * Runs `fn` in one transaction. Inside it, use only `tx`: on PGlite a query on the outer handle
   * waits behind the transaction and deadlocks.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>
  /** The embedded instance, for pg-boss's PGlite backend; undefined on Postgres. */
  readonly pglite: PGlite | undefined
  readonly connectionString: string | undefined
  close(): Promise<void>
}

const INT8 = 20
/** Dates (months) stay `YYYY-MM-DD` strings: a JS Date would shift them into local time. */
const DATE = 1082
const keepText = (value: string) => value

/** bigint columns (bytes, cents) fit a JS number far beyond any realistic total (2^53). */
const parseInt8 = (value: string) => Number(value)

export interface DbOptions {
  databaseUrl: string | undefined
  dataDir: string
  /** The request pool's share of this process's Postgres connections (the job queue has its own). */
  dbPool?: { requests: number }
}

/** What the gateway's own connections call themselves in `pg_stat_activity` (pg-boss's: `pgboss`). */
export const APPLICATION_NAME = 'kaixu-gateway'

/** Postgres when a URL is given (Neon in production), else embedded PGlite in `dataDir/pgdata`. */
export async function createDb(options: DbOptions): Promise<Db> {
  return options.databaseUrl
    ? createPostgresDb(options.databaseUrl, options.dbPool?.requests)
    : createPgliteDb(join(options.dataDir, 'pgdata'))
}

/**
 * Postgres's default 128 MB of shared buffers fill as the database works and stay resident: the
 * WebAssembly heap they live in never shrinks. They were the largest part of an idle gateway on
 * PGlite (docs/benchmarks.md, "Idle memory of `npm start`"). The embedded database is one
 * laptop's; 16 MB holds a demo's working set and the OS page cache keeps the rest of its files.
 */
const PGLITE_PARAMS = ['-c', 'shared_buffers=16MB']

export async function createPgliteDb(dir: string | undefined): Promise<Db> {
  if (dir) await mkdir(dir, { recursive: true })
  const pglite = await PGlite.create(dir, {
    parsers: { [INT8]: parseInt8, [DATE]: keepText },
    startParams: [...PGlite.defaultStartParams, ...PGLITE_PARAMS],
  })
  // A new data directory's initdb runs in a second, throwaway PGlite and copies its heap: a few
  // hundred MB of garbage that V8 feels no pressure to collect in a process that then idles.
  // Collect it now when the process allows it (`npm start` does: scripts/start.ts).
  globalThis.gc?.()
  const run = async <T>(q: { query: PGlite['query'] }, sql: string, params?: readonly unknown[]) =>
    (await q.query<T>(sql, params as unknown[])).rows
  return {
    kind: 'pglite',
    pglite,
    connectionString: undefined,
    query: (sql, params) => run(pglite, sql, params),
    transaction: (fn) =>
      pglite.transaction((tx) =>
        fn({
          query: (sql, params) => run(tx, sql, params),
          exec: async (sql) => void (await tx.exec(sql)),
        }),
      ),
    close: () => pglite.close(),
  }
}

export async function createPostgresDb(connectionString: string, max = 10): Promise<Db> {
  const pool = new pg.Pool({
    connectionString,
    max,
    application_name: APPLICATION_NAME,
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === INT8
          ? parseInt8
          : oid === DATE
            ? keepText
            : pg.types.getTypeParser(oid, format as 'text')) as never,
    },
  })
  // An idle client that loses its connection emits 'error' on the pool; without a listener that
  // would crash the process. The next query simply gets a fresh connection.
  pool.on('error', () => {})
  const db: Db = {
    kind: 'postgres',
    pglite: undefined,
    connectionString,
    query: async (sql, params) => (await pool.query(sql, params as unknown[])).rows,
    async transaction(fn) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const result = await fn({
          query: async (sql, params) => (await client.query(sql, params as unknown[])).rows,
          // Without parameters node-postgres sends a simple query, which may hold many statements.
          exec: async (sql) => void (await client.query(sql)),
        })
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        throw error
      } finally {
        client.release()
      }
    },
    close: () => pool.end(),
  }
  await db.query('SELECT 1')
  return db
}
