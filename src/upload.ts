import pLimit from 'p-limit'
import { formatBytes } from './format.ts'
import type { Digest, FileEntry } from './files.ts'
import type { GatewayClient } from './gateway-client.ts'

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
  /** The gateway's limit for one upload (`upload.inlineMaxBytes` of `push-init`). */
  inlineMaxBytes?: number
  /** Receives the progress lines. */
  log: (message: string) => void
}

/**
 * Uploads one file per required SHA-1 (the first path with that content), `concurrency` at a time,
 * logging progress. The first failure stops new uploads from starting and is thrown once the ones
 * in flight have settled.
 */
export async function uploadRequired(
  client: Pick<GatewayClient, 'upload'>,
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
  // The gateway refuses bigger bodies (413); say which files before sending anything.
  const max = options.inlineMaxBytes
  const tooBig = max === undefined ? [] : files.filter((file) => file.size > max)
  if (max !== undefined && tooBig.length > 0) {
    const names = tooBig.slice(0, 3).map((file) => `'${file.path}' (${formatBytes(file.size)})`)
    const more = tooBig.length > 3 ? ` and ${tooBig.length - 3} more` : ''
    throw new Error(
      `${names.join(', ')}${more} exceed the gateway's upload limit of ${formatBytes(max)} per file`,
    )
  }
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

  await Promise.all(
    files.map((file) =>
      limit(async () => {
        if (failure) return
        try {
          const answer = await client.upload(pushId, file.sha1, file.absPath, file.size)
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
