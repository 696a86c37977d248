import express, { type RequestHandler } from 'express'
import { ERRORS } from '../../errors.ts'

/**
 * A JSON body parser with a limit, mounted per route. A body sent with another Content-Type
 * gets 415 rather than a confusing "field required" (express.json would just skip it).
 */
export function jsonBody(limit: string): RequestHandler {
  return guarded(express.json({ limit }), limitBytes(limit))
}

/**
 * The bytes of a JSON body, unparsed (up to `limit`, gzip and deflate inflated): for manifests,
 * which are parsed off the request thread once big (see ../manifest.ts). Only UTF-8 is taken.
 */
export function rawJsonBody(limit: number): RequestHandler {
  const read = express.raw({ type: 'application/json', limit })
  const utf8: RequestHandler = (req, res, next) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]
    if (charset && !/^utf-?8$/i.test(charset)) {
      next(ERRORS.invalidRequest('Unsupported body encoding.'))
      return
    }
    read(req, res, next)
  }
  return guarded(utf8, limit)
}

/**
 * Runs a body parser with the checks every JSON route shares: an oversized body is refused at
 * once, and a body of another Content-Type is 415.
 */
function guarded(parse: RequestHandler, maxBytes: number): RequestHandler {
  return (req, res, next) => {
    // Refused from its Content-Length at once: the parser would first wait for the whole body
    // to arrive (and be thrown away), which a client sending slowly can make last for ever.
    const tooLarge = () =>
      ERRORS.payloadTooLarge(`The body is larger than ${maxBytes} bytes.`, { limit: maxBytes })
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > maxBytes) {
      next(tooLarge())
      return
    }
    let settled = false
    const settle = (error?: unknown) => {
      if (settled) return
      settled = true
      req.off('data', count)
      next(error)
    }
    // Without a Content-Length (chunked), the same: answer as soon as the limit is passed rather
    // than when the parser has drained the rest of the body.
    let received = 0
    const count = (chunk: Buffer) => {
      received += chunk.length
      if (received > maxBytes) settle(tooLarge())
    }
    void parse(req, res, (error?: unknown) => {
      if (error) {
        settle(error)
        return
      }
      const length = req.headers['content-length']
      const hasBody =
        req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
      if (req.body === undefined && hasBody) {
        settle(ERRORS.unsupportedMediaType('application/json'))
        return
      }
      settle()
    })
    // Attached after the parser's own listener (parse attaches it synchronously), so it sees
    // every chunk the parser sees and no data is read early.
    if (!settled && !Number.isFinite(declared)) req.on('data', count)
  }
}

/** `16kb`, `32mb` → bytes (the forms this file is given; 1 kb = 1024 bytes, as body-parser). */
function limitBytes(limit: string): number {
  const m = /^(\d+)(kb|mb)$/.exec(limit)
  if (!m) throw new Error(`jsonBody: unsupported limit '${limit}'`)
  return Number(m[1]) * (m[2] === 'kb' ? 1024 : 1024 * 1024)
}
