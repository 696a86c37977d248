import { createHash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'

/**
 * Passes a body through while hashing it, but holds back the last chunk until the SHA-1 is
 * known: when the digest differs from `expected` (or the body outgrows `maxBytes`) the stream
 * fails before its final bytes go out, so the receiver never sees a complete wrong file.
 */
export class Sha1Gate extends Transform {
  readonly expected: string
  readonly maxBytes: number
  bytes = 0
  actual: string | undefined
  private readonly hash = createHash('sha1')
  private held: Buffer | undefined

  constructor(expected: string, maxBytes = Number.POSITIVE_INFINITY) {
    super()
    this.expected = expected
    this.maxBytes = maxBytes
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
      callback(new ShaMismatchError(this.expected, this.actual))
      return
    }
    callback(null, this.held)
  }
}

export class ShaMismatchError extends Error {
  override name = 'ShaMismatchError'
  readonly expected: string
  readonly actual: string
  constructor(expected: string, actual: string) {
    super(`SHA-1 mismatch: expected ${expected}, got ${actual}`)
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
