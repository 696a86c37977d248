import { Transform } from 'node:stream'
import type { Readable } from 'node:stream'
import { crc32 } from 'node:zlib'
import yauzl from 'yauzl'
import type { Entry, ZipFile } from 'yauzl'
import type { BlobStore, IngestedBlob } from './blob-store.ts'
import { ApiError } from './errors.ts'
import { normalizeDeployPath } from './paths.ts'

/** A zip archive's files, in the blob store's temporary folder until committed. */
export interface StagedArchive {
  /** path (no leading slash) → sha1, like a digest. */
  files: Map<string, string>
  /** Moves every distinct content into the blob store. */
  commit(): Promise<void>
  /** Deletes the temporary files (the deploy is refused after all). */
  discard(): Promise<void>
}

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
/** `versionMadeBy` high byte of archives made on Unix, whose external attributes hold a mode. */
const MADE_ON_UNIX = 3

/**
 * Reads a zip deploy's archive (yauzl: stored and deflated entries, ZIP64) into the blob store,
 * SHA-1 per file as uploads are. Every regular file becomes a deploy file; directories are
 * skipped. The archive is refused whole (422, nothing kept) when it is not a zip, is truncated,
 * names a path no deploy can hold (`..`, absolute, control characters), holds a link or an
 * encrypted entry, an entry whose bytes fail its CRC-32, or no file at all.
 */
export async function stageArchive(path: string, blobs: BlobStore): Promise<StagedArchive> {
  let zip: ZipFile
  try {
    zip = await yauzl.openPromise(path, {
      lazyEntries: true,
      autoClose: false,
      // yauzl's own check refuses absolute paths and `..` segments; backslashes become slashes.
      strictFileNames: false,
      validateEntrySizes: true,
    })
  } catch (err) {
    throw invalidArchive(err)
  }
  const files = new Map<string, string>()
  // One temporary blob per distinct content: the same bytes under many paths are stored once.
  const staged = new Map<string, IngestedBlob>()
  const discard = async () => {
    await Promise.all([...staged.values()].map((b) => b.discard()))
  }
  try {
    for await (const entry of zip.eachEntry()) {
      if (isDirectory(entry)) continue
      const name = normalizeDeployPath(entry.fileName)
      if (name === null)
        throw new ApiError(
          422,
          `Invalid file path in the zip archive: ${JSON.stringify(entry.fileName)}`,
        )
      if (!isRegularFile(entry))
        throw new ApiError(422, `${name} in the zip archive is not a regular file (a link?)`)
      if (entry.isEncrypted()) throw new ApiError(422, `${name} in the zip archive is encrypted`)
      const blob = await blobs.ingest(withCrcCheck(await zip.openReadStreamPromise(entry), entry))
      if (staged.has(blob.sha)) await blob.discard()
      else staged.set(blob.sha, blob)
      const previous = files.get(name)
      if (previous !== undefined && previous !== blob.sha)
        throw new ApiError(422, `${name} is in the zip archive twice with different contents`)
      files.set(name, blob.sha)
    }
    if (files.size === 0) throw new ApiError(422, 'The zip archive holds no files')
  } catch (err) {
    await discard()
    throw invalidArchive(err)
  } finally {
    zip.close()
  }
  return {
    files,
    async commit() {
      for (const blob of staged.values()) await blob.commit()
    },
    discard,
  }
}

function isDirectory(entry: Entry): boolean {
  return entry.fileName.endsWith('/') || unixType(entry) === S_IFDIR
}

function isRegularFile(entry: Entry): boolean {
  const type = unixType(entry)
  return type === null || type === 0 || type === S_IFREG
}

/** The file type bits of an entry made on Unix, or null when the archive does not say. */
function unixType(entry: Entry): number | null {
  if (entry.versionMadeBy >> 8 !== MADE_ON_UNIX) return null
  return (entry.externalFileAttributes >>> 16) & S_IFMT
}

/**
 * Passes an entry's bytes on and fails at the end when they do not match the CRC-32 the archive
 * recorded: yauzl checks sizes, not checksums, and a corrupt stored entry would be served as is.
 */
function withCrcCheck(stream: Readable, entry: Entry): Readable {
  let crc = 0
  const check = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      crc = crc32(chunk, crc)
      callback(null, chunk)
    },
    flush(callback) {
      callback(
        crc >>> 0 === entry.crc32 >>> 0
          ? null
          : new ApiError(422, `${entry.fileName} in the zip archive fails its CRC-32 check`),
      )
    },
  })
  stream.once('error', (err) => check.destroy(err))
  return stream.pipe(check)
}

/** A failure reading the archive, as the 422 Netlify answers; the sandbox's own I/O stays a 500. */
function invalidArchive(err: unknown): unknown {
  if (err instanceof ApiError) return err
  if ((err as NodeJS.ErrnoException).syscall !== undefined) return err
  return new ApiError(422, `Invalid zip archive: ${(err as Error).message}`)
}
