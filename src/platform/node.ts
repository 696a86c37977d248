// How the push flow reads file contents and hashes bytes on Node: from disk for a folder's files
// (streamed, re-opened for every attempt), from their Blob for an in-memory file map. The browser
// twin is ./web.ts; `#platform` in package.json picks one per build, so no `node:` import ever
// reaches the browser bundle.
import fs from 'node:fs'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { ContentRef } from './content.ts'

export type { ContentRef } from './content.ts'

/** SHA-1 of `bytes` in lowercase hex. */
export function sha1Hex(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex')
}

/** A fresh request body with the file's bytes, for one attempt of a single-file upload. */
export function uploadBody(file: ContentRef): Blob | Uint8Array | ReadableStream<Uint8Array> {
  if (file.content) return file.content
  if (file.size === 0) return new Uint8Array(0)
  return Readable.toWeb(fs.createReadStream(file.absPath)) as ReadableStream<Uint8Array>
}

/** Slices a chunk body is sent in: big enough to be few, small enough to start sending soon. */
const BODY_SLICE_BYTES = 1024 * 1024

/**
 * A fresh request body with one chunk's bytes, for one attempt. A stream of slices of `bytes`,
 * not `bytes` itself: Node's fetch copies a Uint8Array body twice before it sends it (about a
 * CPU-second per GiB, and two more chunks' worth of memory per request), a stream's pieces it
 * sends as they are.
 */
export function chunkBody(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close()
        return
      }
      controller.enqueue(bytes.subarray(offset, offset + BODY_SLICE_BYTES))
      offset += BODY_SLICE_BYTES
    },
  })
}

/** The file's bytes from `start`, `length` of them; throws when the file is shorter now. */
export async function readRange(
  file: ContentRef,
  start: number,
  length: number,
): Promise<Uint8Array> {
  if (file.content) {
    return new Uint8Array(await file.content.slice(start, start + length).arrayBuffer())
  }
  const handle = await fs.promises.open(file.absPath, 'r')
  try {
    // Not zero-filled: every byte is overwritten by the read, or the short read is refused.
    const body = Buffer.allocUnsafe(length)
    const { bytesRead } = await handle.read(body, 0, length, start)
    if (bytesRead !== length)
      throw new Error(`'${file.path ?? file.absPath}' changed while it was being uploaded`)
    return body
  } finally {
    await handle.close()
  }
}

/**
 * The body of one batch request: `table`, then each file's bytes in order, read one at a time
 * (memory holds one file, not the batch). Built anew for every attempt.
 */
export function batchBody(
  table: Uint8Array,
  files: readonly ContentRef[],
): ReadableStream<Uint8Array> {
  async function* body() {
    yield table
    for (const file of files) {
      const content = file.content
        ? new Uint8Array(await file.content.arrayBuffer())
        : await fs.promises.readFile(file.absPath)
      // A file rewritten since the digest would shift every frame after it: stop here instead.
      if (content.length !== file.size) {
        throw new Error(
          `${file.absPath} changed size during the push (${file.size} → ${content.length} bytes)`,
        )
      }
      yield content
    }
  }
  return Readable.toWeb(Readable.from(body())) as ReadableStream<Uint8Array>
}
