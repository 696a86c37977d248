import type { ErrorRequestHandler, RequestHandler } from 'express'
import { AppError, ERRORS, ErrorCode } from '../../errors.ts'
import { VaultKeyMissingError } from '../../services/vault.ts'

/** Errors body-parser raises, by its `type`, in our vocabulary. */
function fromBodyParser(error: {
  type?: string
  limit?: number
  status?: unknown
  expose?: unknown
  message?: string
}): AppError | undefined {
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
      // Untyped but client-caused (e.g. a gzip body that does not inflate): http-errors marks
      // them `expose`, so their message is safe to show.
      if (typeof error.status === 'number' && error.status >= 400 && error.status < 500) {
        if (error.expose === true) {
          return ERRORS.invalidRequest(`The body could not be read: ${error.message}.`)
        }
      }
      return undefined
  }
}

/**
 * Database errors a client can cause: a duplicate (unique violation), and text Postgres cannot
 * store (NUL bytes, invalid UTF-8, too long). Validation should catch these first; this is the
 * backstop that keeps them 4xx, and the transaction was rolled back, so nothing changed.
 */
function fromDatabase(error: { code?: unknown; detail?: unknown }): AppError | undefined {
  switch (error.code) {
    case '23505':
      return ERRORS.conflict('That already exists.')
    case '22021': // character_not_in_repertoire (e.g. a NUL byte)
    case '22P05': // untranslatable_character
      return ERRORS.invalidRequest('The request contains text the database cannot store.')
    case '22001': // string_data_right_truncation
      return ERRORS.invalidRequest('A value in the request is too long.')
    default:
      return undefined
  }
}

/** A key this process lacks is an operations problem the operator can fix: 503, not a bug. */
function fromVault(error: unknown): AppError | undefined {
  return error instanceof VaultKeyMissingError ? ERRORS.vaultKeyMissing(error.keyId) : undefined
}

export const notFoundHandler: RequestHandler = (req) => {
  throw ERRORS.notFound(`Route ${req.method} ${req.path}`)
}

/**
 * Renders every error as `{error:{code,message,details},requestId}`. Anything that is not an
 * AppError is a bug: logged with its stack, answered as an opaque 500.
 */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const known =
    err instanceof AppError ? err : (fromBodyParser(err) ?? fromDatabase(err) ?? fromVault(err))
  const error =
    known ?? new AppError(ErrorCode.Internal, 500, 'Internal error; it has been logged.')
  if (known) req.log?.info({ code: error.code, status: error.status }, error.message)
  else req.log?.error({ err }, 'unhandled error')
  // For the metrics middleware: errors are counted by their stable code.
  res.locals['errorCode'] = error.code
  if (res.headersSent) {
    res.destroy()
    return
  }
  if (error.retryAfter !== undefined) res.setHeader('Retry-After', String(error.retryAfter))
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value)
  res.status(error.status).json({ error: error.toJSON(), requestId: req.id })
}
