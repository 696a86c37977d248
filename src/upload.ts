import pLimit from 'p-limit'
import { formatBytes } from './format.ts'
import type { Digest, FileEntry } from './files.ts'
import type { GatewayClient } from './gateway-client.ts'
import { uploadInChunks } from './chunked-upload.ts'

/** What `uploadRequired` did. */
export interface UploadResult {
  /** Files the gateway stored. */
  readonly files: number
  /** Bytes of those files. */
  readonly bytes: number
  /** Uploads the gateway answered with `skipped: true` (it already had the content). */
  readonly skipped: number
}

/** Options of `uploadRequired`. */
export interface UploadOptions {
  /** Uploads in flight at once. */
  concurrency: number
  /** Files above this go up in chunks (`upload.inlineMaxBytes` of `push-init`). */
  inlineMaxBytes?: number
  /** The gateway's chunk size (`upload.chunkBytes` of `push-init`). */
  chunkBytes?: number
  /** Receives the progress lines. */
  log: (message: string) => void
  /** Aborts the uploads in flight and keeps new ones from starting. */
  signal?: AbortSignal | undefined
}

/**
 * Uploads one file per required SHA-1 (the first path with that content), `concurrency` at a time,
 * logging progress. The first failure stops new uploads from starting and is thrown once the ones
 * in flight have settled.
 */
export async function uploadRequired(
  client: Pick<GatewayClient, 'upload' | 'chunkStatus' | 'putChunk'>,
  pushId: string,
  required: readonly string[],
  digest: Pick<Digest, 'bySha'>,
  options: UploadOptions,
): Promise<UploadResult> {
  const files: FileEntry[] = [...new Set(required)].map((sha1) => {
    const entry = digest.bySha.get(sha1)?.[0]
    if (!entry) throw new Error(`The gateway asked for content ${sha1}, which no file here has`)
    return entry
  })
  // The gateway takes bodies up to inlineMaxBytes in one request; bigger files go in chunks.
  const max = options.inlineMaxBytes ?? Number.POSITIVE_INFINITY
  const chunkBytes = options.chunkBytes ?? 5 * 1024 * 1024
  const totalBytes = files.reduce((sum, file) => sum + file.size, 0)
  // About 20 progress lines whatever the count: enough to see movement, few enough to read.
  const every = Math.max(1, Math.ceil(files.length / 20))
  const limit = pLimit(options.concurrency)

  let done = 0
  let doneBytes = 0
  let uploaded = 0
  let uploadedBytes = 0
  let skipped = 0
  let failure: { error: unknown } | undefined

  // A large file's chunks share the upload slots; progress counts its bytes as chunks land.
  const sendInChunks = async (file: FileEntry) => {
    const result = await uploadInChunks(client, pushId, file, {
      chunkBytes,
      concurrency: Math.max(1, Math.min(4, options.concurrency)),
      signal: options.signal,
    })
    options.log(
      `Uploaded ${file.path} in ${result.chunks} chunks` +
        (result.resumed ? ` (${result.resumed} already on the gateway)` : ''),
    )
    return { skipped: result.chunks === 0 && result.resumed > 0 }
  }

  await Promise.all(
    files.map((file) =>
      limit(async () => {
        if (failure) return
        try {
          options.signal?.throwIfAborted()
          const answer =
            file.size > max
              ? await sendInChunks(file)
              : await client.upload(pushId, file.sha1, file.absPath, file.size, options.signal)
          if (answer.skipped) {
            skipped++
          } else {
            uploaded++
            uploadedBytes += file.size
          }
        } catch (error) {
          // Settle instead of rejecting, so no upload is still running when the failure surfaces.
          failure ??= { error }
          return
        }
        done++
        doneBytes += file.size
        if (done % every === 0 || done === files.length) {
          options.log(
            `Uploaded ${done}/${files.length} files, ${formatBytes(doneBytes)}/${formatBytes(totalBytes)}`,
          )
        }
      }),
    ),
  )
  if (failure) throw failure.error
  return { files: uploaded, bytes: uploadedBytes, skipped }
}
