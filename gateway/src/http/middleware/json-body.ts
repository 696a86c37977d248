import express, { type RequestHandler } from 'express'
import { ERRORS } from '../../errors.ts'

/**
 * A JSON body parser with a limit, mounted per route. A body sent with another Content-Type
 * gets 415 rather than a confusing "field required" (express.json would just skip it).
 */
export function jsonBody(limit: string): RequestHandler {
  const parse = express.json({ limit })
  const maxBytes = limitBytes(limit)
  return (req, res, next) => {
    // Refused from its Content-Length at once: the parser would first wait for the whole body
    // to arrive (and be thrown away), which a client sending slowly can make last for ever.
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > maxBytes) {
      next(
        ERRORS.payloadTooLarge(`The body is larger than ${maxBytes} bytes.`, { limit: maxBytes }),
      )
      return
    }
    parse(req, res, (error?: unknown) => {
      if (error) {
        next(error)
        return
      }
      const length = req.headers['content-length']
      const hasBody =
        req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
      if (req.body === undefined && hasBody) {
        next(ERRORS.unsupportedMediaType('application/json'))
        return
      }
      next()
    })
  }
}

/** `16kb`, `32mb` → bytes (the forms this file is given; 1 kb = 1024 bytes, as body-parser). */
function limitBytes(limit: string): number {
  const m = /^(\d+)(kb|mb)$/.exec(limit)
  if (!m) throw new Error(`jsonBody: unsupported limit '${limit}'`)
  return Number(m[1]) * (m[2] === 'kb' ? 1024 : 1024 * 1024)
}
