import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals'
import { createPgliteDb, createPostgresDb, type Db } from '../src/db/db.ts'
import { migrate, pendingMigrations } from '../src/db/migrate.ts'
import { databases, scratchPostgres } from './helpers/gateway.ts'

/**
 * The migration runner on its own, against folders of migrations written per test (so each test
 * sees a fresh file list), on PGlite and on Postgres.
 */
describe.each(databases())('migrate on %s', (database) => {
  let db: Db
  let drop: (() => Promise<void>) | undefined
  let dir: string
  let n = 0

  beforeEach(async () => {
    if (database === 'postgres') {
      const scratch = await scratchPostgres()
      drop = scratch.drop
      db = await createPostgresDb(scratch.url, 2)
    } else {
      db = await createPgliteDb(undefined)
    }
    // A new folder per test: the runner reads each folder once per process.
    dir = (await mkdtemp(join(tmpdir(), `kaixu-migrations-${n++}-`))) + '/'
  })

  afterEach(async () => {
    await db.close()
    await drop?.()
    drop = undefined
    await rm(dir, { recursive: true, force: true })
  })

  test('a migration with a function body and a DO block runs whole', async () => {
    await writeFile(
      join(dir, '0001_fn.sql'),
      `CREATE TABLE things (id int PRIMARY KEY, label text NOT NULL);
-- A function body holds ';' that are not statement ends.
CREATE FUNCTION label_of(i int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF i < 0 THEN
    RETURN 'negative';
  END IF;
  RETURN 'n' || i::text;
END;
$$;
DO $$
BEGIN
  INSERT INTO things VALUES (1, label_of(1));
  INSERT INTO things VALUES (2, label_of(-2));
END
$$;
`,
    )
    expect(await migrate(db, { dir })).toEqual(['0001_fn.sql'])
    expect(await db.query('SELECT id, label FROM things ORDER BY id')).toEqual([
      { id: 1, label: 'n1' },
      { id: 2, label: 'negative' },
    ])
    expect(await migrate(db, { dir })).toEqual([])
  })

  test('a failing migration leaves nothing applied', async () => {
    await writeFile(join(dir, '0001_ok.sql'), 'CREATE TABLE a (id int);\n')
    await writeFile(join(dir, '0002_bad.sql'), 'CREATE TABLE b (id int);\nSELECT nope FROM a;\n')
    await expect(migrate(db, { dir })).rejects.toThrow(/nope/)
    expect(await pendingMigrations(db, { dir })).toEqual(['0001_ok.sql', '0002_bad.sql'])
    expect(
      await db.query("SELECT 1 FROM information_schema.tables WHERE table_name IN ('a', 'b')"),
    ).toEqual([])
  })

  test('an applied migration whose text changed stops the runner', async () => {
    await writeFile(join(dir, '0001_a.sql'), 'CREATE TABLE a (id int);\n')
    expect(await migrate(db, { dir })).toEqual(['0001_a.sql'])

    const edited = (await mkdtemp(join(tmpdir(), 'kaixu-migrations-edited-'))) + '/'
    try {
      await writeFile(join(edited, '0001_a.sql'), 'CREATE TABLE a (id bigint);\n')
      await writeFile(join(edited, '0002_b.sql'), 'CREATE TABLE b (id int);\n')
      await expect(migrate(db, { dir: edited })).rejects.toThrow(
        /Applied migrations were edited since they ran: 0001_a\.sql\b/,
      )
      // Nothing after the edited file was applied either.
      expect(await pendingMigrations(db, { dir: edited })).toEqual(['0002_b.sql'])
    } finally {
      await rm(edited, { recursive: true, force: true })
    }
  })

  test('a database migrated before checksums were kept is backfilled, then guarded', async () => {
    await writeFile(join(dir, '0001_a.sql'), 'CREATE TABLE a (id int);\n')
    // What the previous runner left: the table without a checksum column, one row applied.
    await db.query('CREATE TABLE a (id int)')
    await db.query(
      `CREATE TABLE kaixu_migrations (
         name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    )
    await db.query("INSERT INTO kaixu_migrations (name) VALUES ('0001_a.sql')")

    expect(await migrate(db, { dir })).toEqual([])
    const [row] = await db.query<{ checksum: string }>('SELECT checksum FROM kaixu_migrations')
    expect(row?.checksum).toMatch(/^[0-9a-f]{64}$/)

    const edited = (await mkdtemp(join(tmpdir(), 'kaixu-migrations-edited-'))) + '/'
    try {
      await writeFile(join(edited, '0001_a.sql'), 'CREATE TABLE a (id int); -- edited\n')
      await expect(migrate(db, { dir: edited })).rejects.toThrow(/0001_a\.sql/)
    } finally {
      await rm(edited, { recursive: true, force: true })
    }
  })

  test('the shipped migrations apply and record a checksum each', async () => {
    const applied = await migrate(db)
    expect(applied.length).toBeGreaterThan(0)
    expect(await pendingMigrations(db)).toEqual([])
    const rows = await db.query<{ checksum: string | null }>(
      'SELECT checksum FROM kaixu_migrations',
    )
    expect(rows).toHaveLength(applied.length)
    for (const r of rows) expect(r.checksum).toMatch(/^[0-9a-f]{64}$/)
  })
})
