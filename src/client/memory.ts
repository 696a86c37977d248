// The digest of an in-memory file map: what a program that generates a site (an editor in the
// browser, a build script) pushes without writing a folder. Browser-safe: Web Crypto hashes whole
// values at native speed; @noble/hashes hashes Blobs and streams piece by piece, which Web Crypto
// cannot.
import pLimit from 'p-limit'
import { sha1 } from '@noble/hashes/legacy.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import type { Digest, FileEntry } from '../files.ts'

/** What one file of a map may be: text (sent as UTF-8), bytes, a Blob, or a stream of bytes. */
export type FileContent = string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array>

/** Deploy path (`index.html`, `assets/app.js`) → content. */
export type FileMap =
  | Readonly<Record<string, FileContent>>
  | ReadonlyMap<string, FileContent>
  | Iterable<readonly [string, FileContent]>

// Hashes at once in flight: Web Crypto runs them off the main thread, a few keep it busy.
const HASH_CONCURRENCY = 4

/**
 * Digests a file map as the folder digest does: deploy paths in code-unit order, SHA-1 and size
 * of each, the index by content. Each value becomes a Blob the upload reads and slices again for
 * retries and chunks; a stream is read once, hashed as it goes, and kept as that Blob. Throws
 * naming the path on a name Netlify would refuse.
 */
export async function digestFiles(map: FileMap): Promise<Digest> {
  const entries: (readonly [string, FileContent])[] = isIterable(map)
    ? [...map]
    : Object.entries(map)
  const seen = new Set<string>()
  const named = entries.map(([name, content]) => {
    const path = deployPath(name)
    if (seen.has(path)) throw new Error(`'${name}': the map names ${path} twice`)
    seen.add(path)
    return { path, content }
  })
  named.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const limit = pLimit(HASH_CONCURRENCY)
  const hashed = await Promise.all(
    named.map(({ path, content }) =>
      limit(async () => ({ path, ...(await hashContent(content)) })),
    ),
  )
  const files: Record<string, string> = {}
  const sizes: Record<string, number> = {}
  const byPath = new Map<string, FileEntry>()
  const bySha = new Map<string, FileEntry[]>()
  let totalBytes = 0
  for (const { path, sha1: hash, blob } of hashed) {
    const entry: FileEntry = { path, absPath: path, size: blob.size, sha1: hash, content: blob }
    files[path] = hash
    sizes[path] = blob.size
    byPath.set(path, entry)
    const same = bySha.get(hash)
    if (same) same.push(entry)
    else bySha.set(hash, [entry])
    totalBytes += blob.size
  }
  return { files, sizes, byPath, bySha, count: hashed.length, totalBytes }
}

/**
 * A map key as Netlify serves it: `/`-separated, relative, no empty, `.` or `..` part, no `#`
 * or `?` (read as a fragment or query), no backslash or control character.
 */
export function deployPath(name: string): string {
  const path = name.replace(/^\/+/, '')
  const refuse = (why: string) => new Error(`'${name}' cannot be deployed: ${why}`)
  if (path === '') throw refuse('the path is empty')
  // eslint-disable-next-line no-control-regex
  if (/[\\#?\u0000-\u001f\u007f]/.test(path)) {
    throw refuse('a deployed path has no #, ?, backslash or control character')
  }
  if (path.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw refuse('every part of the path must be a name (no empty part, . or ..)')
  }
  return path
}

async function hashContent(content: FileContent): Promise<{ sha1: string; blob: Blob }> {
  if (typeof content === 'string') content = new TextEncoder().encode(content)
  if (content instanceof ArrayBuffer) content = new Uint8Array(content)
  if (content instanceof Uint8Array) {
    // Copied once into the Blob: the caller may reuse its buffer while the push runs.
    const blob = new Blob([content as Uint8Array<ArrayBuffer>])
    return { sha1: await sha1Whole(content), blob }
  }
  if (content instanceof Blob) return { sha1: await sha1Stream(content.stream()), blob: content }
  if (content instanceof ReadableStream) {
    const parts: Uint8Array<ArrayBuffer>[] = []
    const hash = await sha1Stream(content, (part) => parts.push(part))
    return { sha1: hash, blob: new Blob(parts) }
  }
  throw new TypeError('a file is a string, Uint8Array, ArrayBuffer, Blob or ReadableStream')
}

// Web Crypto when the runtime has it (browsers only in a secure context), else @noble/hashes.
async function sha1Whole(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle
  if (subtle) {
    return bytesToHex(
      new Uint8Array(await subtle.digest('SHA-1', bytes as Uint8Array<ArrayBuffer>)),
    )
  }
  return bytesToHex(sha1(bytes))
}

async function sha1Stream(
  stream: ReadableStream<Uint8Array>,
  keep?: (part: Uint8Array<ArrayBuffer>) => void,
): Promise<string> {
  const hash = sha1.create()
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (!(value instanceof Uint8Array)) throw new TypeError('a file stream must yield Uint8Array')
    hash.update(value)
    keep?.(value as Uint8Array<ArrayBuffer>)
  }
  return bytesToHex(hash.digest())
}

function isIterable(map: FileMap): map is Iterable<readonly [string, FileContent]> {
  return typeof (map as Iterable<unknown>)[Symbol.iterator] === 'function'
}
