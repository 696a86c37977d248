import express, { type RequestHandler } from 'express'
import { ERRORS } from '../../errors.ts'

/**
 * A JSON body parser with a limit, mounted per route. A body sent with another Content-Type
 * gets 415 rather than a confusing "field required" (express.json would just skip it).
 */
export function jsonBody(limit: string): RequestHandler {
  return refuseOtherTypes(express.json({ limit }))
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
  return refuseOtherTypes(utf8)
}

function refuseOtherTypes(parse: RequestHandler): RequestHandler {
  return (req, res, next) => {
    void parse(req, res, (error?: unknown) => {
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
