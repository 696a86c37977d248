import { access, open } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { once } from 'node:events'
import { buffer } from 'node:stream/consumers'
import type { Config } from '../config.ts'
import { tokenKeyIds } from '../db/accounts-repo.ts'
import { createDb, type Db } from '../db/db.ts'
import { migrate } from '../db/migrate.ts'
import {
  appliedMigrationNames,
  clearSeededRows,
  insertJsonRows,
  nonEmptyTables,
  readAllTables,
  resetSequences,
  tablesInOrder,
} from '../db/transfer.ts'
import { chunkStoreFor, type ChunkStore } from '../services/chunk-store.ts'
import { fileStagingFor, type FileStaging } from '../services/file-staging.ts'
import { loadKeyring } from '../services/vault.ts'
import { acquireDataDirLock } from './data-dir-lock.ts'

/** An export file that cannot go into this database; nothing was written. */
export class TransferError extends Error {
  override name = 'TransferError'
}

const FORMAT = 'kaixu-gateway-export'
const VERSION = 1
const BATCH_ROWS = 500
/** Chunk rows carry megabytes each: a batch also stops at this many characters of JSON. */
const BATCH_CHARS = 16 * 1024 * 1024

interface Header {
  format: string
  version: number
  source: 'pglite' | 'postgres'
  exportedAt: string
  migrations: string[]
  tables: string[]
}

/** Opens the configured database migrated, holding the embedded one's lock meanwhile. */
async function withDb<T>(config: Config, fn: (db: Db) => Promise<T>): Promise<T> {
  const release = config.databaseUrl ? async () => {} : await acquireDataDirLock(config.dataDir)
  try {
    const db = await createDb(config)
    try {
      await migrate(db)
      return await fn(db)
    } finally {
      await db.close()
    }
  } finally {
    await release()
  }
}

async function openFile(file: string, flags: 'r' | 'w') {
  try {
    return await open(file, flags, 0o600)
  } catch (error) {
    throw new TransferError(`cannot open ${file}: ${(error as Error).message}`)
  }
}

async function writeLine(out: Writable, line: string) {
  if (!out.write(`${line}\n`)) await once(out, 'drain')
}

/**
 * With the embedded database, chunk bytes of unfinished uploads are files beside it; the export
 * carries them in the row (where Postgres keeps them), so an upload resumes after the move.
 */
async function withChunkBytes(store: ChunkStore, row: string): Promise<string> {
  const chunk = JSON.parse(row) as {
    push_id: string
    sha1: string
    idx: number
    chunk_sha1: string
    data: string | null
  }
  if (chunk.data !== null) return row
  const parts: Buffer[] = []
  for await (const part of store.open(chunk.push_id, chunk.sha1, chunk.idx, chunk.chunk_sha1)) {
    parts.push(part as Buffer)
  }
  return JSON.stringify({ ...chunk, data: `\\x${Buffer.concat(parts).toString('hex')}` })
}

/** The same for the files a zip push keeps for its archive (services/file-staging.ts). */
async function withStagedBytes(staging: FileStaging, row: string): Promise<string> {
  const file = JSON.parse(row) as {
    push_id: string
    sha1: string
    size: number
    data: string | null
    staged_at: string | null
  }
  if (file.data !== null || file.staged_at === null) return row
  const open = (await staging.open(file.push_id, [file])).get(file.sha1)!
  const bytes = await buffer(open())
  return JSON.stringify({ ...file, data: `\\x${bytes.toString('hex')}` })
}

export async function exportDatabase(config: Config, file: string) {
  return withDb(config, async (db) => {
    const store = chunkStoreFor(db, config.dataDir)
    const staging = fileStagingFor(db, config.dataDir)
    // Rows whose bytes may live beside the embedded database, and how to put them back in.
    const withBytes: Record<string, (row: string) => Promise<string>> = {
      push_chunks: (row) => withChunkBytes(store, row),
      push_staged_files: (row) => withStagedBytes(staging, row),
    }
    // The file holds key hashes and sealed tokens: readable by the operator only.
    const out = (await openFile(file, 'w')).createWriteStream()
    const counts: Record<string, number> = {}
    try {
      // A chunk or kept file holds megabytes: those rows are read one at a time.
      await readAllTables(db, (table) => (withBytes[table] ? 1 : BATCH_ROWS), {
        onStart: (migrations, tables) => {
          const header: Header = {
            format: FORMAT,
            version: VERSION,
            source: db.kind,
            exportedAt: new Date().toISOString(),
            migrations,
            tables,
          }
          return writeLine(out, JSON.stringify(header))
        },
        onTable: (table, rows) => {
          counts[table] = rows
          return writeLine(out, JSON.stringify({ table, rows }))
        },
        onRows: async (table, rows) => {
          for (const row of rows) {
            await writeLine(out, withBytes[table] ? await withBytes[table](row) : row)
          }
        },
      })
      await writeLine(out, JSON.stringify({ end: true, tables: counts }))
    } finally {
      out.end()
      await once(out, 'close')
    }
    return { file, source: db.kind, tables: counts }
  })
}

/** Reads the export's lines in order; fails with a TransferError where the file is not one. */
function lineReader(input: Readable) {
  const lines = createInterface({ input, crlfDelay: Infinity })[Symbol.asyncIterator]()
  let number = 0
  return {
    async next(what: string): Promise<string> {
      const { value, done } = await lines.next()
      number++
      if (done) throw new TransferError(`the export ends early (line ${number}: ${what} expected)`)
      return value
    },
    json<T>(line: string, what: string): T {
      try {
        return JSON.parse(line) as T
      } catch {
        throw new TransferError(`line ${number} is not JSON (${what} expected)`)
      }
    },
    close: () => void lines.return?.(),
  }
}

export async function importDatabase(config: Config, file: string) {
  const keyring = await loadKeyring({ ...config, warn: () => {} })
  return withDb(config, async (db) => {
    const input = (await openFile(file, 'r')).createReadStream()
    const reader = lineReader(input)
    try {
      const header = reader.json<Header>(await reader.next('the header'), 'the header')
      if (header.format !== FORMAT || header.version !== VERSION) {
        throw new TransferError(`${file} is not a ${FORMAT} (version ${VERSION}) file`)
      }
      const migrations = await appliedMigrationNames(db)
      if (JSON.stringify(migrations) !== JSON.stringify(header.migrations)) {
        throw new TransferError(
          `the export was made at migrations ${header.migrations.join(', ')} and this database is at ${migrations.join(', ')}: export and import with the same gateway version`,
        )
      }
      const tables = await tablesInOrder(db)
      const busy = await nonEmptyTables(db, tables)
      if (busy.length) {
        throw new TransferError(
          `this database is not empty (${busy.join(', ')} hold rows): import only into a new database`,
        )
      }
      const counts: Record<string, number> = {}
      await db.transaction(async (tx) => {
        await clearSeededRows(tx)
        for (;;) {
          const line = reader.json<{ table?: string; rows?: number; end?: boolean }>(
            await reader.next('a table or the end'),
            'a table or the end',
          )
          if (line.end) break
          const { table, rows } = line
          if (!table || !tables.includes(table) || !Number.isSafeInteger(rows) || rows! < 0) {
            throw new TransferError(`unexpected table entry ${JSON.stringify(line)}`)
          }
          let batch: string[] = []
          let chars = 0
          for (let i = 0; i < rows!; i++) {
            const row = await reader.next(`row ${i + 1} of ${rows} of ${table}`)
            batch.push(row)
            chars += row.length
            if (batch.length === BATCH_ROWS || chars >= BATCH_CHARS) {
              await insertJsonRows(tx, table, batch)
              batch = []
              chars = 0
            }
          }
          await insertJsonRows(tx, table, batch)
          counts[table] = rows!
        }
        await resetSequences(tx)
        // A token sealed with a key this gateway lacks could never be opened: refuse the lot.
        const missing = (await tokenKeyIds(tx)).filter((k) => !keyring.has(k.key_id))
        if (missing.length) {
          throw new TransferError(
            `KAIXU_VAULT_KEYS lacks ${missing.map((k) => `'${k.key_id}'`).join(', ')} that the imported Netlify tokens are sealed with: set it to the source gateway's keys (with the embedded database and no KAIXU_VAULT_KEYS, the key is in ${join('<its KAIXU_DATA_DIR>', 'vault.key')})`,
          )
        }
      })
      return { file, target: db.kind, tables: counts }
    } finally {
      reader.close()
      input.destroy()
    }
  })
}

export interface DbCommandContext {
  values: Readonly<Record<string, string | boolean | undefined>>
  print(value: Record<string, unknown>, human: string): void
  usageError(message: string): Error
}

const total = (tables: Record<string, number>) => Object.values(tables).reduce((a, b) => a + b, 0)

/** `db export` and `db import`; answers false for any other command. */
export async function runDbCommand(
  command: string,
  config: Config,
  ctx: DbCommandContext,
): Promise<boolean> {
  if (command === 'db export') {
    const file = ctx.values['out']
    if (typeof file !== 'string' || !file) throw ctx.usageError('--out FILE is required')
    const result = await exportDatabase(config, file)
    // The embedded gateway's generated key (if it made one) must go where the export goes.
    const generated = join(config.dataDir, 'vault.key')
    const vaultKeyFile =
      !config.databaseUrl &&
      !config.vaultKeys &&
      (await access(generated).then(
        () => true,
        () => false,
      ))
        ? generated
        : undefined
    ctx.print(
      { ...result, ...(vaultKeyFile ? { vaultKeyFile } : {}) },
      `Exported ${total(result.tables)} rows of ${Object.keys(result.tables).length} tables to ${file}` +
        (vaultKeyFile
          ? `\nThe Netlify tokens in it are sealed with the key in ${vaultKeyFile}: set KAIXU_VAULT_KEYS="$(cat ${vaultKeyFile})" where you import it`
          : ''),
    )
    return true
  }
  if (command === 'db import') {
    const file = ctx.values['in']
    if (typeof file !== 'string' || !file) throw ctx.usageError('--in FILE is required')
    const result = await importDatabase(config, file)
    ctx.print(
      result,
      `Imported ${total(result.tables)} rows of ${Object.keys(result.tables).length} tables into ${result.target}`,
    )
    return true
  }
  return false
}
