import { createHash } from 'node:crypto'
import { Transform, type Readable, type TransformCallback } from 'node:stream'

/** The digests bodies are checked with: SHA-1 for files (Netlify's), SHA-256 for function zips. */
export type DigestAlgorithm = 'sha1' | 'sha256'

/**
 * Passes a body through while hashing it, but holds back the last chunk until the digest is
 * known: when it differs from `expected` (or the body outgrows `maxBytes`) the stream fails
 * before its final bytes go out, so the receiver never sees a complete wrong file.
 */
export class DigestGate extends Transform {
  readonly algorithm: DigestAlgorithm
  readonly expected: string
  readonly maxBytes: number
  bytes = 0
  actual: string | undefined
  private readonly hash
  private held: Buffer | undefined

  constructor(algorithm: DigestAlgorithm, expected: string, maxBytes = Number.POSITIVE_INFINITY) {
    super()
    this.algorithm = algorithm
    this.hash = createHash(algorithm)
    this.expected = expected
    this.maxBytes = maxBytes
  }

  /**
   * Takes `body` in. pipe, not pipeline: on a failure the request must stay open for the error
   * answer (Node discards the rest of the body once the response is sent).
   */
  feedFrom(body: Readable): this {
    body.on('error', (error) => this.destroy(error))
    body.pipe(this)
    return this
  }

  /** Why the gate stopped the body, if it did: another digest, or more bytes than allowed. */
  get refusal(): 'mismatch' | 'too-large' | undefined {
    if (this.mismatched) return 'mismatch'
    return this.errored instanceof BodyTooLargeError ? 'too-large' : undefined
  }

  get mismatched(): boolean {
    return this.actual !== undefined && this.actual !== this.expected
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.maxBytes) {
      callback(new BodyTooLargeError(this.maxBytes))
      return
    }
    this.hash.update(chunk)
    const previous = this.held
    this.held = chunk
    callback(null, previous)
  }

  override _flush(callback: TransformCallback): void {
    this.actual = this.hash.digest('hex')
    if (this.mismatched) {
      callback(new ShaMismatchError(this.algorithm, this.expected, this.actual))
      return
    }
    callback(null, this.held)
  }
}

export class ShaMismatchError extends Error {
  override name = 'ShaMismatchError'
  readonly expected: string
  readonly actual: string
  constructor(algorithm: DigestAlgorithm, expected: string, actual: string) {
    super(`${algorithm.toUpperCase()} mismatch: expected ${expected}, got ${actual}`)
    this.expected = expected
    this.actual = actual
  }
}

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError'
  readonly maxBytes: number
  constructor(maxBytes: number) {
    super(`Body exceeds ${maxBytes} bytes`)
    this.maxBytes = maxBytes
  }
}

/** The gate of a deploy file: SHA-1, as Netlify's digest names files. */
export const sha1Gate = (expected: string, maxBytes?: number) =>
  new DigestGate('sha1', expected, maxBytes)
