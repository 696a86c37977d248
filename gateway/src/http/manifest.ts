import { Worker } from 'node:worker_threads'
import { AppError, ERRORS, ErrorCode } from '../errors.ts'
import type { InitInput } from '../services/push-context.ts'
import { initBodySchema, MAX_FUNCTIONS } from './schemas.ts'
import { parse } from './validate.ts'

/** What bounds a manifest: files per push, and the largest file a push may hold. */
export interface ManifestLimits {
  maxFiles: number
  maxFileBytes: number
}

/** A refusal as it crosses from a worker thread: turned back into an ERRORS answer there. */
export interface ManifestRefusal {
  code: string
  message: string
  details: Record<string, unknown>
}

export type ManifestResult =
  { ok: true; value: InitInput } | { ok: false; refusal: ManifestRefusal }

const schemas = new Map<number, ReturnType<typeof initBodySchema>>()

/**
 * Reads a push-init / push-plan body: JSON (an object or array at the top, as body-parser's
 * strict mode), counted before it is validated (a flood of `files` or `sizes` keys is refused
 * without walking it), then checked with the manifest schema. Pure and synchronous, so it runs
 * the same on the request thread (small bodies) and in a worker (big ones).
 */
export function readManifest(body: Uint8Array, limits: ManifestLimits): ManifestResult {
  try {
    const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')
    let value: unknown = {}
    if (text.trim() !== '') {
      const first = text.trimStart()[0]
      if (first !== '{' && first !== '[') throw ERRORS.invalidJson('The body is not valid JSON.')
      try {
        value = JSON.parse(text)
      } catch {
        throw ERRORS.invalidJson('The body is not valid JSON.')
      }
    }
    checkCounts(value, limits)
    let schema = schemas.get(limits.maxFileBytes)
    if (!schema) schemas.set(limits.maxFileBytes, (schema = initBodySchema(limits)))
    return { ok: true, value: parse(schema, value, 'body') }
  } catch (error) {
    if (!(error instanceof AppError)) throw error
    return { ok: false, refusal: { ...error.toJSON() } }
  }
}

/** Counted before validation, so an oversized manifest is refused without walking it. */
function checkCounts(body: unknown, limits: ManifestLimits) {
  const { files, sizes, functions, functionDetails } = (body ?? {}) as Record<string, unknown>
  const count = (v: unknown) => (v && typeof v === 'object' ? Object.keys(v).length : 0)
  if (count(files) > limits.maxFiles) {
    throw ERRORS.payloadTooLarge(`A push may list at most ${limits.maxFiles} files.`, {
      maxFiles: limits.maxFiles,
    })
  }
  // A size per file at most: a flood of sizes keys is refused before zod walks any of them.
  if (count(sizes) > count(files)) {
    throw ERRORS.invalidRequest('sizes has more keys than files.', {
      files: count(files),
      sizes: count(sizes),
    })
  }
  if (Math.max(count(functions), count(functionDetails)) > MAX_FUNCTIONS) {
    throw ERRORS.payloadTooLarge(`A push may carry at most ${MAX_FUNCTIONS} functions.`, {
      maxFunctions: MAX_FUNCTIONS,
    })
  }
}

/** A refusal from `readManifest`, as the AppError its code stands for. */
function refused(r: ManifestRefusal): AppError {
  switch (r.code) {
    case ErrorCode.InvalidJson:
      return ERRORS.invalidJson(r.message)
    case ErrorCode.PayloadTooLarge:
      return ERRORS.payloadTooLarge(r.message, r.details)
    default:
      return ERRORS.invalidRequest(r.message, r.details)
  }
}

export interface ManifestParserOptions {
  /** Bodies below this many bytes are read on the request thread: a worker would cost more. */
  inlineBelowBytes: number
  /** Worker threads for bigger bodies, started when first needed. */
  workers: number
}

const DEFAULTS: ManifestParserOptions = { inlineBelowBytes: 256 * 1024, workers: 2 }

/**
 * Reads manifests off the request thread once they are big: JSON.parse and validation of a
 * 100 000-file manifest take seconds of CPU on a busy machine, and on the request thread every
 * other request (health checks, other customers) would wait for them. A small pool of workers
 * takes them in turn; the event loop only copies the bytes over and the result back.
 */
export function createManifestParser(
  limits: ManifestLimits,
  options: ManifestParserOptions = DEFAULTS,
) {
  const idle: Worker[] = []
  let started = 0
  const waiting: Array<(worker: Worker) => void> = []

  function take(): Promise<Worker> {
    const worker = idle.pop()
    if (worker) return Promise.resolve(worker)
    if (started < options.workers) {
      started++
      const fresh = new Worker(new URL('./manifest-worker.ts', import.meta.url), {
        workerData: limits,
      })
      // Idle workers must not keep a stopping process alive.
      fresh.unref()
      return Promise.resolve(fresh)
    }
    return new Promise((resolve) => waiting.push(resolve))
  }

  function give(worker: Worker) {
    const next = waiting.shift()
    if (next) next(worker)
    else idle.push(worker)
  }

  async function inWorker(body: Uint8Array): Promise<ManifestResult> {
    const worker = await take()
    return new Promise<ManifestResult>((resolve, reject) => {
      const done = () => {
        worker.off('message', onMessage)
        worker.off('error', onError)
      }
      const onMessage = (result: ManifestResult) => {
        done()
        give(worker)
        resolve(result)
      }
      const onError = (error: Error) => {
        // A worker that died (out of memory, a bug) is replaced on next use.
        done()
        started--
        const next = waiting.shift()
        if (next) void take().then(next)
        reject(error)
      }
      worker.on('message', onMessage)
      worker.on('error', onError)
      worker.postMessage(body)
    })
  }

  return {
    /** The validated manifest, or the 4xx that refuses it. */
    async read(body: Uint8Array | undefined): Promise<InitInput> {
      const bytes = body ?? new Uint8Array(0)
      const result =
        bytes.byteLength < options.inlineBelowBytes
          ? readManifest(bytes, limits)
          : await inWorker(bytes)
      if (!result.ok) throw refused(result.refusal)
      return result.value
    },
  }
}

export type ManifestParser = ReturnType<typeof createManifestParser>
