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
 */
export const BATCH_MAGIC = 'KXB1'
export const BATCH_CONTENT_TYPE = 'application/vnd.kaixu.batch'
const HEAD_BYTES = 8
const ENTRY_BYTES = 24

export interface BatchEntry {
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

/**
 * Reads exact byte counts from a stream, holding no more than what the caller asked for plus
 * one network chunk. A length-prefixed format needs nothing more, so no parser library.
 */
export class ByteReader {
  readonly #source: AsyncIterator<Buffer>
  #parts: Buffer[] = []
  #buffered = 0
  #ended = false

  constructor(source: AsyncIterable<Buffer>) {
    this.#source = source[Symbol.asyncIterator]()
  }

  /** Exactly `n` bytes; a `BatchFormatError` when the stream ends first. */
  async read(n: number, what: string): Promise<Buffer> {
    while (this.#buffered < n) {
      if (!(await this.#pull())) {
        throw new BatchFormatError(`The body ended inside ${what}.`, {
          missingBytes: n - this.#buffered,
        })
      }
    }
    const all = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts)
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
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value)
    if (chunk.length) {
      this.#parts.push(chunk)
      this.#buffered += chunk.length
    }
    return true
  }
}

/** Reads and checks the magic, the count (at most `maxFiles`) and the table of entries. */
export async function readBatchTable(reader: ByteReader, maxFiles: number): Promise<BatchEntry[]> {
  const head = await reader.read(HEAD_BYTES, 'the header')
  if (head.toString('latin1', 0, 4) !== BATCH_MAGIC) {
    throw new BatchFormatError(`The body must start with "${BATCH_MAGIC}".`)
  }
  const count = head.readUInt32BE(4)
  if (count < 1 || count > maxFiles) {
    throw new BatchFormatError(`A batch carries 1 to ${maxFiles} files, not ${count}.`, {
      count,
      maxFiles,
    })
  }
  const table = await reader.read(ENTRY_BYTES * count, 'the table of files')
  const entries: BatchEntry[] = []
  const seen = new Set<string>()
  for (let i = 0; i < count; i++) {
    const at = i * ENTRY_BYTES
    const sha1 = table.toString('hex', at, at + 20)
    if (seen.has(sha1)) {
      throw new BatchFormatError(`SHA-1 ${sha1} is listed twice; send each content once.`, {
        sha1,
      })
    }
    seen.add(sha1)
    entries.push({ sha1, size: table.readUInt32BE(at + 20) })
  }
  return entries
}
