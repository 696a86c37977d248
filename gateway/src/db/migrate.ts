import { readFile, readdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Db } from './db.ts'

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url))

// The folder ships with the code and does not change while a process runs: read it once, so
// /readyz (which load balancers call every few seconds) costs one query and no disk access.
let migrationFiles: Promise<string[]> | undefined
const listMigrations = () =>
  (migrationFiles ??= readdir(MIGRATIONS_DIR).then(
    (names) => names.filter((f) => f.endsWith('.sql')).sort(),
    (error: unknown) => {
      migrationFiles = undefined // a failed read is tried again next time
      throw error
    },
  ))

/** An arbitrary constant: the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK = 7_414_212_001

/**
 * Applies pending `migrations/*.sql` in name order, all in one transaction. On Postgres an
 * advisory transaction lock makes two gateways starting at once apply each file exactly once; on
 * PGlite the lock is a no-op and the single process is the guard.
 */
export async function migrate(db: Db): Promise<string[]> {
  const files = await listMigrations()
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    await tx.query(
      `CREATE TABLE IF NOT EXISTS kaixu_migrations (
         name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    )
    const done = new Set(
      (await tx.query<{ name: string }>('SELECT name FROM kaixu_migrations')).map((r) => r.name),
    )
    const applied: string[] = []
    for (const file of files) {
      if (done.has(file)) continue
      const sql = await readFile(MIGRATIONS_DIR + file, 'utf8')
      for (const statement of splitStatements(sql)) await tx.query(statement)
      await tx.query('INSERT INTO kaixu_migrations (name) VALUES ($1)', [file])
      applied.push(file)
    }
    return applied
  })
}

/** Names of migrations not yet applied (for /readyz). */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const files = await listMigrations()
  const rows = await db
    .query<{ name: string }>('SELECT name FROM kaixu_migrations')
    .catch(() => [] as { name: string }[])
  const done = new Set(rows.map((r) => r.name))
  return files.filter((f) => !done.has(f))
}

/**
 * Splits a migration into statements: extended-protocol queries (what both drivers use with
 * parameters) take one statement each. Our migrations keep `;` out of strings and bodies.
 */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean)
}
