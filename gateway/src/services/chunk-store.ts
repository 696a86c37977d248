import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'

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

/** Write size for a chunk file: the body's 64 KiB pieces gathered, one system call a MiB. */
const WRITE_BYTES = 1024 * 1024

/**
 * Reads a body to its end, counting and hashing it and failing past `maxBytes`, and hands its
 * pieces on to `take` about `batchBytes` at a time (one file write per batch, not per piece).
 */
async function consume(
  body: Readable,
  maxBytes: number,
  batchBytes: number,
  take: (pieces: Buffer[]) => Promise<unknown> | void,
): Promise<{ size: number; sha1: string }> {
  const hash = createHash('sha1')
  let size = 0
  let batch: Buffer[] = []
  let batched = 0
  for await (const piece of body as AsyncIterable<Buffer>) {
    size += piece.length
    if (size > maxBytes) throw new ChunkTooLargeError(`over ${maxBytes} bytes`)
    hash.update(piece)
    batch.push(piece)
    batched += piece.length
    if (batched >= batchBytes) {
      await take(batch)
      batch = []
      batched = 0
    }
  }
  if (batch.length > 0) await take(batch)
  return { size, sha1: hash.digest('hex') }
}

export const databaseChunkStore: ChunkStore = {
  inRow: true,
  async stage(_pushId, _sha1, body, maxBytes) {
    const parts: Buffer[] = []
    const { size, sha1 } = await consume(body, maxBytes, Number.POSITIVE_INFINITY, (pieces) => {
      parts.push(...pieces)
    })
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
      let received: { size: number; sha1: string }
      const handle = await open(temp, 'w')
      try {
        received = await consume(body, maxBytes, WRITE_BYTES, (pieces) => handle.writev(pieces))
        await handle.close()
      } catch (error) {
        await handle.close().catch(() => {})
        await rm(temp, { force: true })
        throw error
      }
      const { size, sha1: chunkSha1 } = received
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
