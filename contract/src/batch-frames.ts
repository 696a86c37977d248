/**
 * The body of `POST /v1/push-upload-batch`: many small files in one request, as raw bytes.
 *
 *   "KXB1"                        4 bytes, format and version
 *   count                         uint32, big-endian
 *   count × (sha1, size)          20 raw SHA-1 bytes + uint32 big-endian size, in body order
 *   the files' bytes              concatenated in the same order, nothing between them
 *
 * The table comes first so the gateway can check every entry (known SHA-1, declared size, caps)
 * before it reads a byte of content, and so one query answers for the whole batch. Sizes are
 * uint32 because a batch only carries small files; large ones go through push-upload-chunk.
 *
 * Both sides use this one codec: a client writes the table with `encodeBatchTable` and appends
 * the files; the gateway reads it with `ByteReader` and `readBatchTable`. Uint8Array only, so a
 * browser can frame a batch too.
 */
export const BATCH_MAGIC = 'KXB1'
export const BATCH_CONTENT_TYPE = 'application/vnd.kaixu.batch'
const HEAD_BYTES = 8
const ENTRY_BYTES = 24
const SHA1_BYTES = 20
/** The largest size a table entry can say. */
export const BATCH_FILE_MAX_BYTES = 0xffff_ffff

export interface BatchEntry {
  /** Lowercase hex. */
  sha1: string
  size: number
}

/** The body does not follow the format; `details` says where. */
export class BatchFormatError extends Error {
  override name = 'BatchFormatError'
  readonly details: Record<string, unknown>
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.details = details
  }
}

/** Bytes of a batch body with these entries (its Content-Length). */
export const batchBodyBytes = (entries: readonly BatchEntry[]) =>
  HEAD_BYTES + ENTRY_BYTES * entries.length + entries.reduce((n, e) => n + e.size, 0)

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/**
 * The head and table of a batch with these entries, in this order: what goes on the wire before
 * the files' bytes. Throws on an entry the format cannot carry (a SHA-1 that is not 40 hex
 * digits, a size that is not a uint32), since it would shift every frame after it.
 */
export function encodeBatchTable(entries: readonly BatchEntry[]): Uint8Array {
  const out = new Uint8Array(HEAD_BYTES + ENTRY_BYTES * entries.length)
  const view = new DataView(out.buffer)
  for (let i = 0; i < 4; i++) out[i] = BATCH_MAGIC.charCodeAt(i)
  view.setUint32(4, entries.length)
  entries.forEach((entry, i) => {
    const at = HEAD_BYTES + ENTRY_BYTES * i
    if (!/^[0-9a-fA-F]{40}$/.test(entry.sha1)) {
      throw new BatchFormatError(`Entry ${i} has no valid SHA-1: ${JSON.stringify(entry.sha1)}.`)
    }
    if (!Number.isInteger(entry.size) || entry.size < 0 || entry.size > BATCH_FILE_MAX_BYTES) {
      throw new BatchFormatError(`Entry ${i} has a size a batch cannot carry: ${entry.size}.`)
    }
    for (let b = 0; b < SHA1_BYTES; b++) {
      out[at + b] = parseInt(entry.sha1.slice(2 * b, 2 * b + 2), 16)
    }
    view.setUint32(at + SHA1_BYTES, entry.size)
  })
  return out
}

/**
 * Reads exact byte counts from a stream, holding no more than what the caller asked for plus
 * one network chunk. A length-prefixed format needs nothing more, so no parser library. What it
 * answers is a view of the chunks it was given (a Node `Buffer` stays a `Buffer` when one chunk
 * holds the whole read).
 */
export class ByteReader {
  readonly #source: AsyncIterator<Uint8Array>
  #parts: Uint8Array[] = []
  #buffered = 0
  #ended = false

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source[Symbol.asyncIterator]()
  }

  /** Exactly `n` bytes; a `BatchFormatError` when the stream ends first. */
  async read(n: number, what: string): Promise<Uint8Array> {
    while (this.#buffered < n) {
      if (!(await this.#pull())) {
        throw new BatchFormatError(`The body ended inside ${what}.`, {
          missingBytes: n - this.#buffered,
        })
      }
    }
    const all = this.#parts.length === 1 ? this.#parts[0]! : concat(this.#parts, this.#buffered)
    const out = all.subarray(0, n)
    const rest = all.subarray(n)
    this.#parts = rest.length ? [rest] : []
    this.#buffered = rest.length
    return out
  }

  /** True when the stream has no byte left. */
  async atEnd(): Promise<boolean> {
    return this.#buffered === 0 && !(await this.#pull())
  }

  async #pull(): Promise<boolean> {
    if (this.#ended) return false
    const next = await this.#source.next()
    if (next.done) {
      this.#ended = true
      return false
    }
    const chunk = next.value
    if (chunk.length) {
      this.#parts.push(chunk)
      this.#buffered += chunk.length
    }
    return true
  }
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** Reads and checks the magic, the count (at most `maxFiles`) and the table of entries. */
export async function readBatchTable(reader: ByteReader, maxFiles: number): Promise<BatchEntry[]> {
  const head = await reader.read(HEAD_BYTES, 'the header')
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  if (String.fromCharCode(head[0]!, head[1]!, head[2]!, head[3]!) !== BATCH_MAGIC) {
    throw new BatchFormatError(`The body must start with "${BATCH_MAGIC}".`)
  }
  const count = view.getUint32(4)
  if (count < 1 || count > maxFiles) {
    throw new BatchFormatError(`A batch carries 1 to ${maxFiles} files, not ${count}.`, {
      count,
      maxFiles,
    })
  }
  const table = await reader.read(ENTRY_BYTES * count, 'the table of files')
  const tableView = new DataView(table.buffer, table.byteOffset, table.byteLength)
  const entries: BatchEntry[] = []
  const seen = new Set<string>()
  for (let i = 0; i < count; i++) {
    const at = i * ENTRY_BYTES
    let sha1 = ''
    for (let b = 0; b < SHA1_BYTES; b++) sha1 += HEX[table[at + b]!]
    if (seen.has(sha1)) {
      throw new BatchFormatError(`SHA-1 ${sha1} is listed twice; send each content once.`, {
        sha1,
      })
    }
    seen.add(sha1)
    entries.push({ sha1, size: tableView.getUint32(at + SHA1_BYTES) })
  }
  return entries
}
