import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'

/** A chunk body received and hashed, not yet kept. */
export interface StagedChunk {
  size: number
  sha1: string
  /** The bytes, when they go in the database row; null when they are in a file. */
  data: Buffer | null
  /** Keeps the chunk as index `idx` (files: rename into place). */
  commit(idx: number): Promise<void>
  /** Drops it (a bad SHA-1, an empty body). */
  discard(): Promise<void>
}

/**
 * Where chunk bytes live. On Postgres they go in the chunk's row (`inRow`), so any gateway
 * instance can assemble them; with the embedded database they stream to files under the data
 * directory and never sit in memory. Either way the chunk's metadata is a database row.
 */
export interface ChunkStore {
  readonly inRow: boolean
  /** Receives a body while hashing it; fails with BodyTooLarge past `maxBytes`. */
  stage(pushId: string, sha1: string, body: Readable, maxBytes: number): Promise<StagedChunk>
  /** Streams a chunk kept out of the row. */
  open(pushId: string, sha1: string, idx: number, chunkSha1: string): Readable
  /** Drops one kept chunk (a write that lost a race), or all of an upload's. */
  remove(pushId: string, sha1: string, chunk?: { idx: number; chunkSha1: string }): Promise<void>
}

/** Read size for a kept chunk: a 5 MiB chunk in five pieces, not eighty. */
const READ_BYTES = 1024 * 1024

export class ChunkTooLargeError extends Error {
  override name = 'ChunkTooLargeError'
}

/** Counts and hashes what passes, failing past `maxBytes`. */
function meter(maxBytes: number) {
  const hash = createHash('sha1')
  let size = 0
  const stream = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      size += chunk.length
      if (size > maxBytes) return callback(new ChunkTooLargeError(`over ${maxBytes} bytes`))
      hash.update(chunk)
      callback(null, chunk)
    },
  })
  return { stream, result: () => ({ size, sha1: hash.digest('hex') }) }
}

export const databaseChunkStore: ChunkStore = {
  inRow: true,
  async stage(_pushId, _sha1, body, maxBytes) {
    const m = meter(maxBytes)
    const parts: Buffer[] = []
    m.stream.on('data', (part: Buffer) => parts.push(part))
    await pipeline(body, m.stream)
    const { size, sha1 } = m.result()
    return {
      size,
      sha1,
      data: Buffer.concat(parts, size),
      commit: async () => {},
      discard: async () => {},
    }
  },
  open: () => {
    throw new Error('chunk bytes are in the database row')
  },
  remove: async () => {},
}

/**
 * Files named by index and content (`<idx>-<chunkSha1>`): two different bodies for one index can
 * never overwrite each other, and a file appears whole (streamed to a temp name, then renamed).
 */
export function fileChunkStore(dir: string): ChunkStore {
  // Ids are validated ([A-Za-z0-9_] and hex) before they get here; no path can escape `dir`.
  const uploadDir = (pushId: string, sha1: string) => join(dir, pushId, sha1)
  const file = (pushId: string, sha1: string, idx: number, chunkSha1: string) =>
    join(uploadDir(pushId, sha1), `${idx}-${chunkSha1}`)
  return {
    inRow: false,
    async stage(pushId, sha1, body, maxBytes) {
      await mkdir(uploadDir(pushId, sha1), { recursive: true })
      const temp = join(uploadDir(pushId, sha1), `.${randomBytes(8).toString('hex')}.tmp`)
      const m = meter(maxBytes)
      try {
        await pipeline(body, m.stream, createWriteStream(temp))
      } catch (error) {
        await rm(temp, { force: true })
        throw error
      }
      const { size, sha1: chunkSha1 } = m.result()
      return {
        size,
        sha1: chunkSha1,
        data: null,
        commit: (idx) => rename(temp, file(pushId, sha1, idx, chunkSha1)),
        discard: () => rm(temp, { force: true }),
      }
    },
    open: (pushId, sha1, idx, chunkSha1) =>
      createReadStream(file(pushId, sha1, idx, chunkSha1), { highWaterMark: READ_BYTES }),
    async remove(pushId, sha1, chunk) {
      const target = chunk
        ? file(pushId, sha1, chunk.idx, chunk.chunkSha1)
        : uploadDir(pushId, sha1)
      await rm(target, { recursive: true, force: true })
    },
  }
}

/** The store a database uses: its rows on Postgres, files in the data directory with PGlite. */
export const chunkStoreFor = (db: { pglite: unknown }, dataDir: string): ChunkStore =>
  db.pglite ? fileChunkStore(join(dataDir, 'chunks')) : databaseChunkStore
