import type { Response } from 'express'
import { STATUS_CODES } from 'node:http'

/** An error that becomes a Netlify-style `{code, message}` JSON answer. */
export class ApiError extends Error {
  readonly status: number
  readonly headers: Record<string, string>

  constructor(status: number, message?: string, headers: Record<string, string> = {}) {
    super(message ?? STATUS_CODES[status] ?? 'Error')
    this.status = status
    this.headers = headers
  }
}

/** Answers `{code, message}` with the given status, the shape of Netlify's `error` definition. */
export function sendError(res: Response, status: number, message?: string): void {
  if (res.headersSent) {
    // Too late for a JSON error: cutting the connection is the only honest signal left.
    res.destroy()
    return
  }
  res.status(status).json({ code: status, message: message ?? STATUS_CODES[status] ?? 'Error' })
}

/** Turns a body-parser error (which carries `status`/`type`) into an ApiError. */
export function bodyParserError(err: unknown): ApiError {
  const e = err as { status?: unknown; type?: unknown; message?: unknown }
  const status = typeof e.status === 'number' && e.status >= 400 && e.status < 500 ? e.status : 400
  if (e.type === 'entity.parse.failed') return new ApiError(400, 'Invalid JSON body')
  return new ApiError(status, typeof e.message === 'string' ? e.message : undefined)
}
