import pLimit from 'p-limit'
import { formatBytes } from './format.ts'
import type { Digest, FileEntry } from './files.ts'
import type { BatchLimits } from 'kaixu-contract'
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
  /** `upload.batch` of `push-init`: small files then go many to a request. */
  batch?: BatchLimits | undefined
  /** Receives the progress lines. */
  log: (message: string) => void
  /** Aborts the uploads in flight and keeps new ones from starting. */
  signal?: AbortSignal | undefined
  /** Told the files and bytes stored so far each time an upload lands. */
  onProgress?: (files: number, bytes: number) => void
}

/**
 * Fewest files a batch is cut down to when spreading small files over parallel requests: below
 * this a batch saves too few requests to be worth its own.
 */
const MIN_BATCH_FILES = 50

/**
 * Groups small files into batches within the gateway's limits: as many as `concurrency` requests
 * can carry at once, but never fewer than 50 files a batch while there are that many.
 */
export function planBatches(
  files: readonly FileEntry[],
  limits: BatchLimits,
  concurrency: number,
): FileEntry[][] {
  const perBatch = Math.min(
    limits.maxFiles,
    Math.max(MIN_BATCH_FILES, Math.ceil(files.length / Math.max(1, concurrency))),
  )
  const batches: FileEntry[][] = []
  let current: FileEntry[] = []
  let bytes = 0
  for (const file of files) {
    if (
      current.length === perBatch ||
      (current.length > 0 && bytes + file.size > limits.maxBytes)
    ) {
      batches.push(current)
      current = []
      bytes = 0
    }
    current.push(file)
    bytes += file.size
  }
  if (current.length) batches.push(current)
  return batches
}

/**
 * Uploads one file per required SHA-1 (the first path with that content), `concurrency` requests
 * at a time, logging progress: small files in batches when the gateway takes them, others one
 * per request, large ones in chunks. The first failure stops new requests from starting and is
 * thrown once the ones in flight have settled.
 */
export async function uploadRequired(
  client: Pick<GatewayClient, 'upload' | 'uploadBatch' | 'chunkStatus' | 'putChunk'>,
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
  // Never batch what would otherwise go in chunks, whatever an older gateway announces.
  const batchMax = Math.min(options.batch?.fileMaxBytes ?? -1, max)
  const batches = options.batch
    ? planBatches(
        files.filter((f) => f.size <= batchMax),
        options.batch,
        options.concurrency,
      )
    : []
  // The biggest files start first, so a long one does not begin last and hold up the end.
  const single = files.filter((f) => f.size > batchMax).sort((a, b) => b.size - a.size)
  // About 20 progress lines whatever the count: enough to see movement, few enough to read.
  const every = Math.max(1, Math.ceil(files.length / 20))
  const limit = pLimit(options.concurrency)

  let done = 0
  let doneBytes = 0
  let uploaded = 0
  let uploadedBytes = 0
  let skipped = 0
  let failure: { error: unknown } | undefined

  const progress = (count: number, bytes: number) => {
    const before = Math.floor(done / every)
    done += count
    doneBytes += bytes
    if (Math.floor(done / every) > before || done === files.length) {
      options.log(
        `Uploaded ${done}/${files.length} files, ${formatBytes(doneBytes)}/${formatBytes(totalBytes)}`,
      )
    }
  }

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

  /** Runs one request's worth of work unless an earlier one failed; records its failure. */
  const step = (work: () => Promise<void>) =>
    limit(async () => {
      if (failure) return
      try {
        options.signal?.throwIfAborted()
        await work()
      } catch (error) {
        // Settle instead of rejecting, so no upload is still running when the failure surfaces.
        failure ??= { error }
      }
    })

  await Promise.all([
    ...single.map((file) =>
      step(async () => {
        const answer =
          file.size > max
            ? await sendInChunks(file)
            : await client.upload(
                pushId,
                file.sha1,
                file.absPath,
                file.size,
                options.signal,
                file.content,
              )
        if (answer.skipped) skipped++
        else {
          uploaded++
          uploadedBytes += file.size
        }
        progress(1, file.size)
        options.onProgress?.(uploaded, uploadedBytes)
      }),
    ),
    ...batches.map((batch) =>
      step(async () => {
        const answer = await client.uploadBatch(pushId, batch, options.signal)
        uploaded += answer.uploaded
        skipped += answer.skipped
        uploadedBytes += answer.bytes
        options.onProgress?.(uploaded, uploadedBytes)
        progress(
          batch.length,
          batch.reduce((n, f) => n + f.size, 0),
        )
      }),
    ),
  ])
  if (failure) throw failure.error
  return { files: uploaded, bytes: uploadedBytes, skipped }
}
