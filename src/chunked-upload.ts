import pLimit from 'p-limit'
import { readRange, sha1Hex } from '#platform'
import type { FileEntry } from './files.ts'
import type { ChunkPutHeaders, ChunkPutResponse, ChunkStatusResponse } from 'kaixu-contract'

/** The two gateway calls a chunked upload needs (GatewayClient has them). */
export interface ChunkClient {
  chunkStatus(
    pushId: string,
    sha1: string,
    signal?: AbortSignal,
  ): Promise<ChunkStatusResponse | undefined>
  putChunk(
    pushId: string,
    headers: ChunkPutHeaders,
    body: Uint8Array,
    signal?: AbortSignal,
  ): Promise<ChunkPutResponse>
}

export interface ChunkedUploadOptions {
  /** The gateway's chunk size (`upload.chunkBytes` of push-init). */
  chunkBytes: number
  /** Chunks in flight at once for this file. */
  concurrency: number
  /** Called with each chunk's size once the gateway has it. */
  onBytes?: (bytes: number) => void
  signal?: AbortSignal | undefined
}

/**
 * Sends one large file in chunks. It first asks the gateway which chunks it already holds, so a
 * re-run (after a failed chunk, a cancelled job, a crash) sends only the missing ones. Each chunk
 * is read when its turn comes: memory holds at most `concurrency` chunks.
 */
export async function uploadInChunks(
  client: ChunkClient,
  pushId: string,
  file: Pick<FileEntry, 'absPath' | 'sha1' | 'size' | 'path' | 'content'>,
  options: ChunkedUploadOptions,
): Promise<{ bytes: number; chunks: number; resumed: number }> {
  const count = Math.max(1, Math.ceil(file.size / options.chunkBytes))
  const status = await client.chunkStatus(pushId, file.sha1, options.signal)
  // A file the gateway already has (or is assembling) needs nothing more.
  if (status && (status.state === 'uploaded' || status.state === 'assembling')) {
    return { bytes: 0, chunks: 0, resumed: count }
  }
  const held = new Set(
    status?.state === 'receiving' && status.chunkCount === count ? status.received : [],
  )
  const todo = Array.from({ length: count }, (_, i) => i).filter((i) => !held.has(i))
  const limit = pLimit(options.concurrency)
  let bytes = 0
  await Promise.all(
    todo.map((index) =>
      limit(async () => {
        options.signal?.throwIfAborted()
        const start = index * options.chunkBytes
        const length = Math.min(options.chunkBytes, file.size - start)
        const body = await readRange(file, start, length)
        await client.putChunk(
          pushId,
          { sha1: file.sha1, index, count, chunkSha1: sha1Hex(body), fileSize: file.size },
          body,
          options.signal,
        )
        bytes += length
        options.onBytes?.(length)
      }),
    ),
  )
  return { bytes, chunks: todo.length, resumed: count - todo.length }
}
