import express, { type RequestHandler } from 'express'
import { ERRORS } from '../../errors.ts'

/**
 * A JSON body parser with a limit, mounted per route. A body sent with another Content-Type
 * gets 415 rather than a confusing "field required" (express.json would just skip it).
 */
export function jsonBody(limit: string): RequestHandler {
  const parse = express.json({ limit })
  return (req, res, next) => {
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
