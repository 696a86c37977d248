import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs'
import type { ReadStream } from 'node:fs'
import { rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/** The outcome of streaming one upload to a temporary file. */
export interface IngestedBlob {
  sha: string
  size: number
  /** Moves the temporary file to `blobs/<sha>`; only call once the sha was checked. */
  commit(): Promise<void>
  /** Deletes the temporary file (upload rejected). */
  discard(): Promise<void>
}

/**
 * Content-addressed file bodies on disk: `<dataDir>/blobs/<sha1>` (function zips: their SHA-256,
 * 64 characters, so the two never collide). Uploads stream through SHA-1
 * into `<dataDir>/tmp/` and are renamed into place only once verified, so a blob file always
 * holds exactly the content its name promises, whatever the client sent or when it hung up.
 */
export class BlobStore {
  private readonly blobDir: string
  private readonly tmpDir: string

  constructor(dataDir: string) {
    this.blobDir = join(dataDir, 'blobs')
    this.tmpDir = join(dataDir, 'tmp')
    mkdirSync(this.blobDir, { recursive: true })
    mkdirSync(this.tmpDir, { recursive: true })
  }

  /**
   * A fresh path in the temporary folder, for a file that is not a blob yet (a zip archive being
   * received). The caller deletes it; it is on the blobs' filesystem, so nothing is copied twice.
   */
  tempPath(suffix: string): string {
    return join(this.tmpDir, `${randomUUID()}${suffix}`)
  }

  /** Streams `body` to a temporary file, hashing it on the way; never buffers the whole body. */
  async ingest(body: Readable, algorithm: 'sha1' | 'sha256' = 'sha1'): Promise<IngestedBlob> {
    const tmp = this.tempPath('.part')
    const hash = createHash(algorithm)
    let size = 0
    const hasher = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk)
        size += chunk.length
        callback(null, chunk)
      },
    })
    try {
      await pipeline(body, hasher, createWriteStream(tmp))
    } catch (err) {
      await unlink(tmp).catch(() => {})
      throw err
    }
    const sha = hash.digest('hex')
    return {
      sha,
      size,
      // rename() is atomic on one filesystem and replacing a blob with identical bytes is
      // harmless, so concurrent uploads of the same content need no lock.
      commit: () => rename(tmp, this.pathOf(sha)),
      discard: () => unlink(tmp).catch(() => {}),
    }
  }

  /** Size of a stored blob, or null when it is missing. */
  async size(sha: string): Promise<number | null> {
    try {
      return (await stat(this.pathOf(sha))).size
    } catch {
      return null
    }
  }

  /** Opens a stored blob for reading. */
  open(sha: string): ReadStream {
    return createReadStream(this.pathOf(sha))
  }

  /** Where a blob lives on disk (it may not exist); parsers that read files by path use it. */
  pathOf(sha: string): string {
    return join(this.blobDir, sha.toLowerCase())
  }
}
