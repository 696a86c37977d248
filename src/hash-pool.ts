import crypto from 'node:crypto'
import fs from 'node:fs'
import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'

/** SHA-1 and byte count of one file. */
export interface FileHash {
  sha1: string
  size: number
}

/** Why a thread stopped early: the file it could not read. */
interface Failure {
  index: number
  message: string
  code?: string
}

/**
 * `hashFiles(paths, control, digests, sizes, buffer, pause, fs, crypto)`: the hashing loop, shared
 * by this thread and the workers. Every thread claims the next file from `control[0]`, an atomic
 * counter in shared memory, so the load balances itself with no message per file or batch; the
 * digest (40 hex characters) and the size go straight into shared arrays, and `control[1]` counts
 * the files done. Returns null once no file is left, 'paused' when `pause()` says so (checked
 * between files, so this thread can let its event loop turn), or the failure, after setting the
 * counter past the end so the other threads stop.
 *
 * Files are read with sync calls into one reused 1 MiB buffer: on a thread of its own that is the
 * cheapest way through many small files, and memory stays flat however large a file is. A file
 * that fits the buffer is hashed with the one-shot `crypto.hash` to hex, which skips the Hash
 * object and the digest Buffer (~1.5 µs a file). It reads until a read returns 0, as sha1sum does,
 * so the size is always that of the bytes hashed.
 *
 * It is source text rather than a function so the workers can run it from inline source (the ncc
 * bundle then needs no second file) and the exact same loop runs on this thread.
 */
const HASH_FILES_SOURCE = `
const oneShot = crypto.hash
  ? (data) => crypto.hash('sha1', data, 'hex')
  : (data) => crypto.createHash('sha1').update(data).digest('hex')
const n = paths.length
for (;;) {
  if (pause !== undefined && pause()) return 'paused'
  const i = Atomics.add(control, 0, 1)
  if (i >= n) return null
  let fd
  try {
    fd = fs.openSync(paths[i], 'r')
    let size = 0
    let read
    do {
      read = fs.readSync(fd, buffer, size, buffer.length - size, null)
      size += read
    } while (read > 0 && size < buffer.length)
    let digest
    if (read === 0) {
      digest = oneShot(buffer.subarray(0, size))
    } else {
      const hash = crypto.createHash('sha1').update(buffer)
      while ((read = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0) {
        hash.update(buffer.subarray(0, read))
        size += read
      }
      digest = hash.digest('hex')
    }
    digests.write(digest, i * 40, 'latin1')
    sizes[i] = size
    Atomics.add(control, 1, 1)
  } catch (error) {
    Atomics.store(control, 0, n)
    return { index: i, message: String(error && error.message), code: error && error.code }
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}
`
const HASH_FILES_PARAMS = [
  'paths',
  'control',
  'digests',
  'sizes',
  'buffer',
  'pause',
  'fs',
  'crypto',
]

type HashFiles = (
  paths: readonly string[],
  control: Int32Array,
  digests: Buffer,
  sizes: Float64Array,
  buffer: Buffer,
  pause: (() => boolean) | undefined,
  fsModule: typeof fs,
  cryptoModule: typeof crypto,
) => Failure | 'paused' | null

// A job names its paths as one '\0'-joined string (a name cannot hold '\0'): one copy to clone
// instead of one per path. A worker answers once it finds no file left, or on a failure.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const fs = require('node:fs')
const crypto = require('node:crypto')
const hashFiles = (${HASH_FILES_PARAMS.join(', ')}) => {${HASH_FILES_SOURCE}}
const buffer = Buffer.allocUnsafe(1 << 20)
parentPort.on('message', ({ job, paths, control, digests, sizes }) => {
  const failure = hashFiles(paths.split('\\0'), new Int32Array(control), Buffer.from(digests),
    new Float64Array(sizes), buffer, undefined, fs, crypto)
  parentPort.postMessage({ job, failure })
})
`

// Between files, this thread turns its event loop at least this often while it hashes.
const SLICE_MS = 10

/**
 * Hashes files on this thread and `threads - 1` worker threads, one thread per core by default:
 * SHA-1 runs on the thread that calls `update`, so one thread caps the digest at one core however
 * many reads are in flight. Workers start when the pool is made (one takes ~40 ms of CPU to boot,
 * more on a loaded machine), so a caller can walk the folder meanwhile; this thread hashes from
 * the first moment instead of waiting for them, which on thousands of small files is a large part
 * of the whole. (A worker per core *plus* this thread was measured slower: three busy threads and
 * one more boot on two cores.) `close()` must be called once done.
 */
export class HashPool {
  readonly #workers: Worker[]
  #buffer: Buffer | undefined
  #jobs = 0
  #crashed: Error | undefined
  readonly #crashListeners = new Set<(error: Error) => void>()

  constructor(threads: number = availableParallelism()) {
    this.#workers = Array.from({ length: Math.max(1, threads) - 1 }, () => {
      const worker = new Worker(WORKER_SOURCE, { eval: true })
      // Kept for the pool's life: a crash between jobs fails the next one instead of the process,
      // and a thread that stops (crash or `close()`) fails the job it was part of, not hang it.
      const stopped = (error: Error) => {
        this.#crashed ??= error
        for (const listener of this.#crashListeners) listener(error)
      }
      worker.on('error', stopped)
      worker.on('exit', () => stopped(new Error('A hashing thread has stopped')))
      return worker
    })
  }

  /**
   * SHA-1 and size of each file, in the order of `paths`; a file that cannot be read rejects,
   * naming it. This thread takes its share in slices of ~10 ms (or one large file), so its event
   * loop still turns while it hashes.
   */
  async hash(paths: readonly string[]): Promise<FileHash[]> {
    const n = paths.length
    if (n === 0) return []
    if (this.#crashed) throw this.#crashed
    // The workers get the paths '\0'-joined, so one holding '\0' would shift every index after it.
    const nul = paths.find((path) => path.includes('\0'))
    if (nul !== undefined) throw new Error(`Cannot read '${nul}': a path cannot hold '\\0'`)
    const job = ++this.#jobs
    const shared = {
      control: new SharedArrayBuffer(8),
      digests: new SharedArrayBuffer(40 * n),
      sizes: new SharedArrayBuffer(8 * n),
    }
    const control = new Int32Array(shared.control)
    const digests = Buffer.from(shared.digests)
    const sizes = new Float64Array(shared.sizes)
    const fail = (failure: Failure) =>
      Object.assign(new Error(`Cannot read '${paths[failure.index]}': ${failure.message}`), {
        code: failure.code,
      })

    // Listen before posting: a worker already up can answer before this thread's first slice ends.
    let settle!: (error?: Error) => void
    const workersDone = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve())
    })
    // Awaited only if this thread finishes its share cleanly; a failure of its own wins.
    workersDone.catch(() => {})
    const onMessage = (message: { job: number; failure: Failure | null }) => {
      if (message.job !== job) return // a late answer to an earlier job that failed
      if (message.failure) settle(fail(message.failure))
      else if (Atomics.load(control, 1) === n) settle()
    }
    const onCrash = (error: Error) => settle(error)
    this.#crashListeners.add(onCrash)
    const joined = this.#workers.length > 0 ? paths.join('\0') : ''
    for (const worker of this.#workers) {
      worker.on('message', onMessage)
      worker.postMessage({ job, paths: joined, ...shared })
    }
    try {
      this.#buffer ??= Buffer.allocUnsafe(1 << 20)
      const hashFiles = compileHashFiles()
      for (;;) {
        const until = performance.now() + SLICE_MS
        const result = hashFiles(
          paths,
          control,
          digests,
          sizes,
          this.#buffer,
          () => performance.now() > until,
          fs,
          crypto,
        )
        if (result === 'paused') await nextTurn()
        else if (result) throw fail(result)
        else break
      }
      // The files still out are with workers; the one that finishes the last of them says so.
      if (Atomics.load(control, 1) !== n) await workersDone
    } finally {
      this.#crashListeners.delete(onCrash)
      for (const worker of this.#workers) worker.off('message', onMessage)
    }

    const hex = digests.toString('latin1')
    const out = new Array<FileHash>(n)
    for (let i = 0; i < n; i++) out[i] = { sha1: hex.slice(i * 40, i * 40 + 40), size: sizes[i]! }
    return out
  }

  /** Stops the threads. */
  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()))
  }
}

let compiled: HashFiles | undefined
function compileHashFiles(): HashFiles {
  compiled ??= new Function(...HASH_FILES_PARAMS, HASH_FILES_SOURCE) as HashFiles
  return compiled
}
