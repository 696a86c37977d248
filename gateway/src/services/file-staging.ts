import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { pipeline } from 'node:stream/promises'
import type { Db, Queryable } from '../db/db.ts'
import { deleteStaged, markStaged, stagedData } from '../db/zip-repo.ts'

/** Contents read from the database at once while an archive is built: bounded, not per file. */
const READ_GROUP_FILES = 64
const READ_GROUP_BYTES = 8 * 1024 * 1024

/** A content, by SHA-1, to read from staging. */
export interface StagedRef {
  sha1: string
  size: number
}

/**
 * Where the files of a zip push wait for their archive (services/zip-deploys.ts). As for chunks
 * (chunk-store.ts): on Postgres the bytes are in the staging row, so any gateway process can
 * build the archive; with the embedded database they are files under the data directory.
 */
export interface FileStaging {
  /** Keeps contents already verified against their SHA-1, in one statement however many. */
  keep(
    q: Queryable,
    pushId: string,
    files: readonly { sha1: string; bytes: Buffer }[],
  ): Promise<void>
  /**
   * Keeps one content as it streams in. `body` verifies itself (a digest gate that fails on a
   * wrong SHA-1): nothing is kept unless it ends well. With files it goes straight to disk; a
   * row needs its bytes whole (a zip push's files are at most inlineMaxBytes).
   */
  keepStream(q: Queryable, pushId: string, sha1: string, body: Readable): Promise<void>
  /** Opens some kept contents at once (one query for rows): each SHA-1's stream, on demand. */
  open(pushId: string, refs: readonly StagedRef[]): Promise<Map<string, () => Readable>>
  /** Forgets a push's contents, rows and files. */
  drop(pushId: string): Promise<void>
}

/**
 * Splits contents to read into groups of bounded files and bytes, in order: what is read from
 * the database at once while an archive is built or a fallback sends, never the whole push.
 */
export function readGroups<T extends StagedRef>(refs: readonly T[]): T[][] {
  const groups: T[][] = []
  let group: T[] = []
  let bytes = 0
  for (const ref of refs) {
    if (
      group.length >= READ_GROUP_FILES ||
      (group.length > 0 && bytes + ref.size > READ_GROUP_BYTES)
    ) {
      groups.push(group)
      group = []
      bytes = 0
    }
    group.push(ref)
    bytes += ref.size
  }
  if (group.length) groups.push(group)
  return groups
}

export function fileStagingFor(db: Db & { pglite?: unknown }, dataDir: string): FileStaging {
  return db.pglite ? filesOnDisk(db, join(dataDir, 'staged')) : bytesInRows(db)
}

function bytesInRows(db: Db): FileStaging {
  return {
    keep: async (q, pushId, files) =>
      void (await markStaged(
        q,
        pushId,
        files.map((f) => ({ sha1: f.sha1, data: f.bytes })),
      )),
    async open(pushId, refs) {
      const data = await stagedData(db, pushId, [...new Set(refs.map((r) => r.sha1))])
      return new Map(
        [...data].map(([sha1, bytes]) => [sha1, () => Readable.from(bytes.length ? [bytes] : [])]),
      )
    },
    keepStream: async (q, pushId, sha1, body) =>
      void (await markStaged(q, pushId, [{ sha1, data: await buffer(body) }])),
    drop: async (pushId) => void (await deleteStaged(db, pushId)),
  }
}

function filesOnDisk(db: Db, dir: string): FileStaging {
  // Ids are validated ([A-Za-z0-9_] and hex) before they get here; no path can escape `dir`.
  const file = (pushId: string, sha1: string) => join(dir, pushId, sha1)
  /** A file appears whole or not at all: written under a temporary name, then renamed. */
  async function write(pushId: string, sha1: string, source: Readable | Buffer[]) {
    // Taken in at once, so a body that fails (a wrong SHA-1) while the folder is made is not
    // an unhandled error; backpressure holds it until the file is open.
    const through = new PassThrough()
    const taken = pipeline(Array.isArray(source) ? Readable.from(source) : source, through)
    taken.catch(() => {}) // surfaced below, by Promise.all
    const temp = join(dir, pushId, `.${randomBytes(8).toString('hex')}.tmp`)
    try {
      await mkdir(join(dir, pushId), { recursive: true })
      await Promise.all([taken, pipeline(through, createWriteStream(temp))])
      await rename(temp, file(pushId, sha1))
    } catch (error) {
      await rm(temp, { force: true })
      throw error
    }
  }
  return {
    async keep(q, pushId, files) {
      await Promise.all(files.map((f) => write(pushId, f.sha1, [f.bytes])))
      await markStaged(
        q,
        pushId,
        files.map((f) => ({ sha1: f.sha1, data: null })),
      )
    },
    async keepStream(q, pushId, sha1, body) {
      await write(pushId, sha1, body)
      await markStaged(q, pushId, [{ sha1, data: null }])
    },
    open: async (pushId, refs) =>
      new Map(refs.map((r) => [r.sha1, () => createReadStream(file(pushId, r.sha1))])),
    async drop(pushId) {
      await rm(join(dir, pushId), { recursive: true, force: true })
      await deleteStaged(db, pushId)
    },
  }
}
