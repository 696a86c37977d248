import type { Request } from 'express'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import type { WriteStream } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { PassThrough, Transform, Writable } from 'node:stream'
import type { Duplex } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import Assembler from 'stream-json/assembler.js'
import parser from 'stream-json/parser.js'
import type { Token } from 'stream-json/parser.js'
import { ApiError } from './errors.ts'
import { JSON_BODY_LIMIT_BYTES } from './routing.ts'

/** A zip archive received with a deploy request, decoded into a temporary file. */
export interface SpooledArchive {
  path: string
  /** Bytes of the archive itself (decoded, not its base64). */
  size: number
}

/** The body of `POST /sites/:id/deploys`, read without holding an archive in memory. */
export interface DeployBody {
  /**
   * The JSON body without its `zip` field, as `express.json` would give it: `undefined` when the
   * request has no JSON body (a raw zip, or another content type).
   */
  fields: unknown
  /** The archive (raw `application/zip` body, or the JSON body's base64 `zip` field), if any. */
  archive: SpooledArchive | null
}

export interface DeployBodyOptions {
  /** Where to put the archive while it is received (deleted on failure, else by the caller). */
  tempPath: string
  /** Netlify refuses archives over 1 GiB with 413; the reader stops as soon as one passes it. */
  maxArchiveBytes: number
  /**
   * Called once the body is known to carry an archive, before its first byte is kept: a limit
   * that would refuse the deploy (429) is better answered before 1 GiB arrives than after.
   */
  onArchive(): void
}

/**
 * Reads a deploy creation body. A digest (JSON without `zip`) comes back as its parsed value,
 * with express.json's rules (limit, encodings, charset, 400 on bad JSON). A zip deploy may be
 * ~1.4 GB of JSON whose `zip` string is base64, so JSON bodies are parsed as a token stream
 * (stream-json) and never held whole: the `zip` string's pieces are decoded as they come and
 * written to `tempPath`, every other value is assembled as JSON.parse would.
 */
export async function readDeployBody(
  req: Request,
  options: DeployBodyOptions,
): Promise<DeployBody> {
  // Windows names zip files application/x-zip-compressed; clients that take the type from the file
  // send that.
  if (req.is(['application/zip', 'application/x-zip-compressed'])) {
    const stages = decoding(req)
    options.onArchive()
    const spool = new ArchiveSpool(options.tempPath, options.maxArchiveBytes)
    try {
      await readInto(req, stages, new Sink(spool.write, false))
      await spool.close()
    } catch (err) {
      await spool.discard()
      throw err
    }
    return { fields: undefined, archive: { path: spool.path, size: spool.size } }
  }
  if (!req.is('application/json')) return { fields: undefined, archive: null }
  return readJson(req, options)
}

async function readJson(req: Request, options: DeployBodyOptions): Promise<DeployBody> {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]
  if (charset && charset.toLowerCase() !== 'utf-8')
    throw new ApiError(415, `unsupported charset "${charset.toUpperCase()}"`)

  let spool: ArchiveSpool | null = null
  let base64: Base64Decoder | null = null
  // Bytes of JSON that are not the archive, held to express.json's digest limit.
  let bodyBytes = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bodyBytes += chunk.length
      if (bodyBytes - (base64?.chars ?? 0) > JSON_BODY_LIMIT_BYTES) {
        callback(new ApiError(413, 'request entity too large'))
      } else callback(null, chunk)
    },
  })
  const tokens = parser.asStream({
    packStrings: false,
    streamStrings: true,
    streamKeys: false,
    streamNumbers: false,
  })

  const assembler = new Assembler()
  let depth = 0
  let key: string | null = null
  // The string being read: the archive's base64 (`zip` at the top level), or any other value.
  let inString: 'zip' | 'value' | null = null
  let text = ''
  let first = true
  const sink = new Sink<Token>(take, true)
  // Returns a promise only when the archive file asks to wait (backpressure).
  function take(token: Token): Promise<void> | null {
    // express.json is strict: only an object or an array at the top.
    if (first && token.name !== 'startObject' && token.name !== 'startArray')
      throw new ApiError(400, 'Invalid JSON body')
    first = false
    switch (token.name) {
      case 'startObject':
      case 'startArray':
        depth++
        break
      case 'endObject':
      case 'endArray':
        depth--
        break
      case 'keyValue':
        if (depth === 1) key = token.value
        break
      case 'startString':
        if (depth === 1 && key === 'zip' && !spool) {
          options.onArchive()
          spool = new ArchiveSpool(options.tempPath, options.maxArchiveBytes)
          base64 = new Base64Decoder()
          inString = 'zip'
        } else {
          inString = 'value'
          text = ''
        }
        return null
      case 'stringChunk':
        if (inString === 'zip') return spool!.write(base64!.push(token.value))
        text += token.value
        return null
      case 'endString':
        if (inString === 'zip') {
          inString = null
          return spool!.write(base64!.end())
        }
        inString = null
        assembler.consume({ name: 'stringValue', value: text })
        text = ''
        return null
    }
    assembler.consume(token)
    return null
  }

  try {
    await readInto(req, [...decoding(req), counter, tokens], sink)
  } catch (err) {
    await (spool as ArchiveSpool | null)?.discard()
    // Refusals and failures of ours (the disk), and a client gone away, are what they are.
    if (err instanceof ApiError || err === sink.failure || req.socket.destroyed) throw err
    // The rest is the parser or the decompression failing on the body itself. An empty body is
    // `{}` for express.json, and an error for the parser.
    if (bodyBytes === 0) return { fields: {}, archive: null }
    throw new ApiError(400, 'Invalid JSON body')
  }
  const done = spool as ArchiveSpool | null
  await done?.close()
  return { fields: assembler.current, archive: done ? { path: done.path, size: done.size } : null }
}

/**
 * Pipes the request through `stages` (decoding first, see `decoding`) into `sink`. The request itself stays out of the pipeline: a pipeline destroys every stream
 * on failure, and a destroyed request takes its socket along, so a 413 could not be answered.
 * On failure the request is unpiped; the API's error path drains what is left of it.
 */
async function readInto(req: Request, stages: Duplex[], sink: Writable): Promise<void> {
  const entry = new PassThrough()
  const chain = [entry, ...stages, sink]
  const aborted = () => {
    if (!req.complete) entry.destroy(new Error('The request was aborted'))
  }
  req.once('error', aborted)
  req.once('close', aborted)
  req.pipe(entry)
  try {
    await pipeline(chain)
  } catch (err) {
    req.unpipe(entry)
    throw err
  } finally {
    req.off('error', aborted)
    req.off('close', aborted)
  }
}

/**
 * The decompression express.json applies for each Content-Encoding (none for identity); 415 for
 * others. Called before anything is written, so an unknown encoding leaves nothing behind.
 */
function decoding(req: Request): Transform[] {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase()
  switch (encoding) {
    case 'identity':
      return []
    case 'gzip':
      return [createGunzip()]
    case 'deflate':
      return [createInflate()]
    case 'br':
      return [createBrotliDecompress()]
    default:
      throw new ApiError(415, `unsupported content encoding "${encoding}"`)
  }
}

/**
 * A Writable that hands each chunk to `write`, waiting when it returns a promise (the disk). It
 * remembers its own failure: that one is the sandbox's doing or a limit, never bad JSON.
 */
class Sink<T> extends Writable {
  failure: unknown = null

  constructor(write: (chunk: T) => Promise<void> | null, objectMode: boolean) {
    super({
      objectMode,
      write: (chunk: T, _encoding, callback) => {
        const fail = (err: unknown) => {
          this.failure = err
          callback(err as Error)
        }
        try {
          const wait = write(chunk)
          if (wait) wait.then(() => callback(), fail)
          else callback()
        } catch (err) {
          fail(err)
        }
      },
    })
  }
}

/** The archive's temporary file, with Netlify's size limit applied as bytes arrive. */
class ArchiveSpool {
  size = 0
  readonly path: string
  private readonly max: number
  private readonly file: WriteStream

  constructor(path: string, max: number) {
    this.path = path
    this.max = max
    this.file = createWriteStream(path)
  }

  /** Appends bytes; a promise means wait for the disk. Throws 413 once past the limit. */
  write = (chunk: Buffer): Promise<void> | null => {
    this.size += chunk.length
    if (this.size > this.max)
      throw new ApiError(413, `The zip archive is larger than the ${this.max} bytes allowed`)
    if (chunk.length === 0 || this.file.write(chunk)) return null
    return once(this.file, 'drain').then(() => undefined)
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    if (this.file.closed) return
    this.file.end()
    await once(this.file, 'close')
  }

  /** Closes and deletes the file (the request failed). */
  async discard(): Promise<void> {
    this.file.destroy()
    if (!this.file.closed) await once(this.file, 'close').catch(() => {})
    await unlink(this.path).catch(() => {})
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
const WHITESPACE = /[\t\n\r ]/g
/** Decode this many characters at a time: one Buffer per JSON string piece would be slow. */
const DECODE_BLOCK = 64 * 1024

/**
 * Decodes base64 text that arrives in pieces of any length, keeping the 0–3 characters of an
 * unfinished quantum for the next piece. Line breaks (MIME-style base64) are skipped; any other
 * character, or padding before the end, is a 422 as for any invalid deploy body.
 *
 * Validating every character with a regular expression cost more than the rest of the sandbox
 * together (8 of 28 CPU seconds for a 1 GiB archive). Node's decoder skips what is not base64, so
 * a block that decodes to exactly 3 bytes per 4 characters held nothing else; only a block that
 * does not is looked at closely.
 */
export class Base64Decoder {
  /** Characters received, the archive's share of the JSON body. */
  chars = 0
  private pending = ''
  private padded = false

  /** Takes a piece; returns the bytes decoded so far (often none: they are decoded in blocks). */
  push(piece: string): Buffer {
    this.chars += piece.length
    this.pending += piece
    return this.pending.length < DECODE_BLOCK ? EMPTY : this.decode(false)
  }

  /** The last bytes; unpadded endings are accepted, a lone trailing character is not. */
  end(): Buffer {
    return this.decode(true)
  }

  private decode(final: boolean): Buffer {
    let text = this.pending
    let bytes = decodeWhole(text, final)
    if (bytes === null) {
      // Whitespace, or something that is not base64: the slow and exact way.
      text = text.replace(WHITESPACE, '')
      if (!BASE64.test(text)) throw invalidBase64()
      bytes = decodeWhole(text, final)
      if (bytes === null) throw invalidBase64()
    }
    if (bytes.length > 0 && this.padded) throw invalidBase64()
    const used = final ? text.length : text.length - (text.length % 4)
    if (text.slice(0, used).endsWith('=')) this.padded = true
    this.pending = text.slice(used)
    return bytes
  }
}

/**
 * Decodes the whole quanta of `text` (all of it when `final`), or returns null when the bytes
 * are fewer than its characters promise: Node skipped something that is not base64.
 */
function decodeWhole(text: string, final: boolean): Buffer | null {
  const used = final ? text.length : text.length - (text.length % 4)
  if (final && used % 4 === 1) return null
  const quanta = text.slice(0, used)
  const padding = quanta.endsWith('==') ? 2 : quanta.endsWith('=') ? 1 : 0
  const bytes = Buffer.from(quanta, 'base64')
  return bytes.length === Math.floor(((used - padding) * 3) / 4) ? bytes : null
}

const EMPTY = Buffer.alloc(0)

function invalidBase64(): ApiError {
  return new ApiError(422, 'zip: not valid base64')
}
