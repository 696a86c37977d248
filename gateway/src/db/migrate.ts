import { createHash } from 'node:crypto'
import { readFile, readdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Db, Queryable } from './db.ts'

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url))

/** A migration file: its name (which orders it) and the sha256 of its text. */
interface MigrationFile {
  name: string
  sql: string
  checksum: string
}

// The folder ships with the code and does not change while a process runs: read it once, so
// /readyz (which load balancers call every few seconds) costs one query and no disk access.
const migrationFiles = new Map<string, Promise<MigrationFile[]>>()
const listMigrations = (dir: string) => {
  let files = migrationFiles.get(dir)
  if (!files) {
    files = readMigrations(dir)
    // A failed read is tried again next time.
    files.catch(() => migrationFiles.delete(dir))
    migrationFiles.set(dir, files)
  }
  return files
}

async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort()
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(dir + name, 'utf8')
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
    }),
  )
}

/** An arbitrary constant: the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK = 7_414_212_001

export interface MigrateOptions {
  /** The folder of `*.sql` files (with a trailing slash); the shipped `migrations/` by default. */
  dir?: string
}

/**
 * Applies pending `migrations/*.sql` in name order, all in one transaction. On Postgres an
 * advisory transaction lock makes two gateways starting at once apply each file exactly once; on
 * PGlite the lock is a no-op and the single process is the guard.
 *
 * Each file runs whole as one multi-statement script, so a function body or a `DO` block (whose
 * `;`s are not statement ends) works. A file already applied must not change: its sha256 is kept
 * in `kaixu_migrations.checksum`, and a mismatch stops the gateway before it serves anything,
 * because the database no longer matches what the code believes it ran.
 */
export async function migrate(db: Db, options: MigrateOptions = {}): Promise<string[]> {
  const files = await listMigrations(options.dir ?? MIGRATIONS_DIR)
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    await tx.query(
      `CREATE TABLE IF NOT EXISTS kaixu_migrations (
         name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    )
    // Databases migrated before checksums were kept get the column here, and their rows are
    // backfilled from the files as they are now (the first run of this runner trusts them).
    await tx.query('ALTER TABLE kaixu_migrations ADD COLUMN IF NOT EXISTS checksum text')
    await backfillChecksums(tx, files)
    const done = new Map(
      (
        await tx.query<{ name: string; checksum: string | null }>(
          'SELECT name, checksum FROM kaixu_migrations',
        )
      ).map((r) => [r.name, r.checksum]),
    )
    const changed = files.filter((f) => done.has(f.name) && done.get(f.name) !== f.checksum)
    if (changed.length) {
      throw new Error(
        `Applied migrations were edited since they ran: ${changed.map((f) => f.name).join(', ')}. ` +
          'Restore them and put the change in a new migration file.',
      )
    }
    const applied: string[] = []
    for (const file of files) {
      if (done.has(file.name)) continue
      await tx.exec(file.sql)
      await tx.query('INSERT INTO kaixu_migrations (name, checksum) VALUES ($1, $2)', [
        file.name,
        file.checksum,
      ])
      applied.push(file.name)
    }
    return applied
  })
}

async function backfillChecksums(tx: Queryable, files: MigrationFile[]): Promise<void> {
  for (const file of files) {
    await tx.query(
      'UPDATE kaixu_migrations SET checksum = $2 WHERE name = $1 AND checksum IS NULL',
      [file.name, file.checksum],
    )
  }
}

/** Names of migrations not yet applied (for /readyz). */
export async function pendingMigrations(db: Db, options: MigrateOptions = {}): Promise<string[]> {
  const files = await listMigrations(options.dir ?? MIGRATIONS_DIR)
  const rows = await db
    .query<{ name: string }>('SELECT name FROM kaixu_migrations')
    .catch(() => [] as { name: string }[])
  const done = new Set(rows.map((r) => r.name))
  return files.map((f) => f.name).filter((name) => !done.has(name))
}
