// How the push flow reads file contents and hashes bytes in browsers and edge runtimes: only from
// the Blobs of an in-memory file map (there is no disk), hashed with @noble/hashes (synchronous,
// and unlike Web Crypto it needs no secure context). The Node twin is ./node.ts.
import { sha1 } from '@noble/hashes/legacy.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import type { ContentRef } from './content.ts'

export type { ContentRef } from './content.ts'

/** SHA-1 of `bytes` in lowercase hex. */
export function sha1Hex(bytes: Uint8Array): string {
  return bytesToHex(sha1(bytes))
}

function contentOf(file: ContentRef): Blob {
  if (!file.content) {
    throw new Error(
      `'${file.path ?? file.absPath}': only in-memory files can be pushed here (no file system)`,
    )
  }
  return file.content
}

/**
 * The request body of a single-file upload. A Blob, never a stream: browsers send streamed
 * request bodies only over HTTP/2, and a Blob carries its length and can be sent again.
 */
export function uploadBody(file: ContentRef): Blob {
  return contentOf(file)
}

/** The request body of one chunk: its bytes (browsers stream request bodies only on HTTP/2). */
export function chunkBody(bytes: Uint8Array): Uint8Array {
  return bytes
}

/** The file's bytes from `start`, `length` of them. */
export async function readRange(
  file: ContentRef,
  start: number,
  length: number,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(
    await contentOf(file)
      .slice(start, start + length)
      .arrayBuffer(),
  )
  if (bytes.length !== length)
    throw new Error(`'${file.path ?? file.absPath}' is shorter than its digest says`)
  return bytes
}

/** The body of one batch request: `table`, then each file's bytes, as one Blob (no copy). */
export function batchBody(table: Uint8Array, files: readonly ContentRef[]): Blob {
  return new Blob([table as Uint8Array<ArrayBuffer>, ...files.map(contentOf)])
}
