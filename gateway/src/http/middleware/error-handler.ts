import type { ErrorRequestHandler, RequestHandler } from 'express'
import { AppError, ERRORS, ErrorCode } from '../../errors.ts'

/** Errors body-parser raises, by its `type`, in our vocabulary. */
function fromBodyParser(error: { type?: string; limit?: number }): AppError | undefined {
  switch (error.type) {
    case 'entity.parse.failed':
      return ERRORS.invalidJson('The body is not valid JSON.')
    case 'entity.too.large':
      return ERRORS.payloadTooLarge(`The body is larger than ${error.limit} bytes.`, {
        limit: error.limit,
      })
    case 'request.size.invalid':
      return ERRORS.invalidRequest('The body is shorter or longer than its Content-Length.')
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return ERRORS.invalidRequest('Unsupported body encoding.')
    case 'request.aborted':
      return ERRORS.invalidRequest('The request was aborted.')
    default:
      return undefined
  }
}

/** A unique violation is a conflict the client caused (a duplicate name), not a server bug. */
function fromDatabase(error: { code?: unknown; detail?: unknown }): AppError | undefined {
  if (error.code === '23505') return ERRORS.conflict('That already exists.')
  return undefined
}

export const notFoundHandler: RequestHandler = (req) => {
  throw ERRORS.notFound(`Route ${req.method} ${req.path}`)
}

/**
 * Renders every error as `{error:{code,message,details},requestId}`. Anything that is not an
 * AppError is a bug: logged with its stack, answered as an opaque 500.
 */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const known = err instanceof AppError ? err : (fromBodyParser(err) ?? fromDatabase(err))
  const error =
    known ?? new AppError(ErrorCode.Internal, 500, 'Internal error; it has been logged.')
  if (known) req.log?.info({ code: error.code, status: error.status }, error.message)
  else req.log?.error({ err }, 'unhandled error')
  if (res.headersSent) {
    res.destroy()
    return
  }
  if (error.retryAfter !== undefined) res.setHeader('Retry-After', String(error.retryAfter))
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value)
  res.status(error.status).json({ error: error.toJSON(), requestId: req.id })
}
