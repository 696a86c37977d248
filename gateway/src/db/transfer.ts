import type { Db, Queryable } from './db.ts'

/**
 * Whole-database copy for `kaixu-gateway db export|import` (PGlite → Postgres, or back). Rows
 * travel as Postgres's own JSON (`row_to_json`) and come back through `json_populate_recordset`,
 * so every type (timestamps, bytea, jsonb, bigint) round-trips exactly and no column list is
 * kept here: a new migration's tables and columns are carried without touching this file. The
 * job queue's own schema is not copied: the push-job-retry sweep queues again whatever work the
 * imported rows still need.
 */

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`

/** Our tables (schema public, without the migration ledger), parents before children. */
export async function tablesInOrder(db: Queryable): Promise<string[]> {
  const tables = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'kaixu_migrations'
      ORDER BY c.relname`,
  )
  const edges = await db.query<{ child: string; parent: string }>(
    `SELECT ch.relname AS child, pa.relname AS parent
       FROM pg_constraint co
       JOIN pg_class ch ON ch.oid = co.conrelid
       JOIN pg_class pa ON pa.oid = co.confrelid
       JOIN pg_namespace n ON n.oid = ch.relnamespace
      WHERE co.contype = 'f' AND n.nspname = 'public' AND ch.relname <> pa.relname`,
  )
  const ordered: string[] = []
  const remaining = new Set(tables.map((t) => t.name))
  while (remaining.size) {
    const ready = [...remaining].filter(
      (t) => !edges.some((e) => e.child === t && remaining.has(e.parent)),
    )
    if (!ready.length) throw new Error(`foreign keys form a cycle among ${[...remaining]}`)
    for (const t of ready) {
      ordered.push(t)
      remaining.delete(t)
    }
  }
  return ordered
}

export async function appliedMigrationNames(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ name: string }>('SELECT name FROM kaixu_migrations ORDER BY name')
  return rows.map((r) => r.name)
}

/**
 * Reads every table in one snapshot (REPEATABLE READ), `batchRows(table)` rows at a time through
 * a cursor so memory stays flat with table size. `onTable` gets the count before the rows.
 */
export async function readAllTables(
  db: Db,
  batchRows: (table: string) => number,
  visit: {
    onStart(migrations: string[], tables: string[]): Promise<void>
    onTable(table: string, rows: number): Promise<void>
    onRows(table: string, rows: string[]): Promise<void>
  },
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
    const tables = await tablesInOrder(tx)
    await visit.onStart(await appliedMigrationNames(tx), tables)
    for (const table of tables) {
      const [count] = await tx.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${quote(table)}`,
      )
      await visit.onTable(table, count!.n)
      await tx.query(
        `DECLARE kaixu_export NO SCROLL CURSOR FOR SELECT row_to_json(t)::text AS row FROM ${quote(table)} t`,
      )
      for (;;) {
        const rows = await tx.query<{ row: string }>(`FETCH ${batchRows(table)} FROM kaixu_export`)
        if (!rows.length) break
        await visit.onRows(
          table,
          rows.map((r) => r.row),
        )
      }
      await tx.query('CLOSE kaixu_export')
    }
  })
}

/**
 * Tables whose rows the migrations themselves insert (0001 seeds the first pricing version). A
 * new database has them; an import replaces them with the source's.
 */
const SEEDED_BY_MIGRATIONS = ['pricing_versions']

/** Tables of `tables` holding rows a fresh database would not (an import needs a new database). */
export async function nonEmptyTables(db: Queryable, tables: string[]): Promise<string[]> {
  const out: string[] = []
  for (const table of tables.filter((t) => !SEEDED_BY_MIGRATIONS.includes(t))) {
    const rows = await db.query(`SELECT 1 FROM ${quote(table)} LIMIT 1`)
    if (rows.length) out.push(table)
  }
  return out
}

/** Drops what the migrations seeded, for the import to bring the source's rows instead. */
export async function clearSeededRows(tx: Queryable): Promise<void> {
  for (const table of SEEDED_BY_MIGRATIONS) await tx.query(`DELETE FROM ${quote(table)}`)
}

/** Inserts rows given as JSON objects (the text `row_to_json` made), unparsed. */
export async function insertJsonRows(tx: Queryable, table: string, rows: string[]): Promise<void> {
  if (!rows.length) return
  await tx.query(
    `INSERT INTO ${quote(table)} SELECT * FROM json_populate_recordset(NULL::${quote(table)}, $1::json)`,
    [`[${rows.join(',')}]`],
  )
}

/** Moves every serial/bigserial sequence past the imported ids, so new rows do not collide. */
export async function resetSequences(tx: Queryable): Promise<void> {
  const columns = await tx.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = 'public' AND column_default LIKE 'nextval(%'`,
  )
  for (const { table_name: table, column_name: column } of columns) {
    await tx.query(
      `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT max(${quote(column)}) FROM ${quote(table)}), 0) + 1, false)`,
      [quote(table), column],
    )
  }
}
