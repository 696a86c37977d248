import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

/** SHA-1 and byte count of one file. */
export interface FileHash {
  sha1: string
  size: number
}

// The worker is inline source, so the ncc bundle needs no second file. It reads with sync calls
// into one reused 1 MiB buffer: on its own thread that is the cheapest way through many small
// files, and memory stays flat however large a file is.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const fs = require('node:fs')
const { createHash } = require('node:crypto')
const buffer = Buffer.allocUnsafe(1 << 20)
parentPort.on('message', ({ id, paths }) => {
  const out = []
  for (const path of paths) {
    let fd
    try {
      fd = fs.openSync(path, 'r')
      const hash = createHash('sha1')
      let size = 0
      let n
      while ((n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0) {
        hash.update(buffer.subarray(0, n))
        size += n
      }
      out.push({ sha1: hash.digest('hex'), size })
    } catch (error) {
      out.push({ error: String(error && error.message), code: error && error.code })
    } finally {
      if (fd !== undefined) fs.closeSync(fd)
    }
  }
  parentPort.postMessage({ id, out })
})
`

type Answer = { sha1: string; size: number } | { error: string; code?: string }

/**
 * Hashes files on worker threads, one per core by default: SHA-1 runs on the thread that calls
 * `update`, so a single thread caps the digest at one core however many reads are in flight.
 * Threads start when the pool is made (a thread takes ~0.1 s to boot), so a caller can walk the
 * folder meanwhile. (Hashing on this thread as well was measured slower: three busy threads on
 * two cores.) `close()` must be called once done.
 */
export class HashPool {
  readonly #workers: Worker[]

  constructor(threads: number = availableParallelism()) {
    this.#workers = Array.from(
      { length: Math.max(1, threads) },
      () => new Worker(WORKER_SOURCE, { eval: true }),
    )
  }

  /**
   * SHA-1 and size of each file, in the order of `paths`. Files go out in batches so thousands
   * of small files do not cost a message each; a file that cannot be read rejects, naming it.
   */
  async hash(paths: readonly string[]): Promise<FileHash[]> {
    if (paths.length === 0) return []
    const workers = this.#workers.slice(0, paths.length)
    // Several batches per thread balance the load when sizes differ; at most 64 files a batch
    // keeps a large file from holding many small ones hostage.
    const batchSize = Math.max(1, Math.min(64, Math.ceil(paths.length / (workers.length * 8))))
    const results: FileHash[] = new Array<FileHash>(paths.length)
    let next = 0
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const done = (error?: Error) => {
              worker.off('message', onMessage)
              worker.off('error', done)
              if (error) reject(error)
              else resolve()
            }
            const send = () => {
              if (next >= paths.length) return done()
              const start = next
              next = Math.min(paths.length, next + batchSize)
              worker.postMessage({ id: start, paths: paths.slice(start, next) })
            }
            const onMessage = ({ id, out }: { id: number; out: Answer[] }) => {
              for (let i = 0; i < out.length; i++) {
                const answer = out[i]!
                if ('error' in answer) {
                  next = paths.length // hand out no more work
                  const error = new Error(`Cannot read '${paths[id + i]}': ${answer.error}`)
                  return done(Object.assign(error, { code: answer.code }))
                }
                results[id + i] = answer
              }
              send()
            }
            worker.on('message', onMessage)
            worker.on('error', done)
            send()
          }),
      ),
    )
    return results
  }

  /** Stops the threads. */
  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()))
  }
}
