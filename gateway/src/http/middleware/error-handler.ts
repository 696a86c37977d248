import type { ErrorRequestHandler, RequestHandler, Response } from 'express'
import { ERRORS, type AppError } from '../../errors.ts'
import { knownFailure } from '../../services/errors.ts'

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
    case 'parameters.too.many':
      return ERRORS.payloadTooLarge(`The form has more than ${error.limit} fields.`, {
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
 * The one classifier of everything a route can throw, for both renderers (JSON here, HTML in
 * the dashboard): a known failure keeps its code and status; anything else is a bug, answered as
 * an opaque 500 (`known` false, so the caller logs its stack).
 */
export function classifyError(err: unknown): { error: AppError; known: boolean } {
  const known =
    knownFailure(err) ?? (err !== null && typeof err === 'object' ? fromBodyParser(err) : undefined)
  return known ? { error: known, known: true } : { error: ERRORS.internal(), known: false }
}

/**
 * Classifies and logs a failed request, and sets what every answer carries (its headers, the
 * code for the metrics middleware). Answers undefined when the response is already under way:
 * the connection is then cut, the only honest signal left.
 */
export function prepareErrorAnswer(
  err: unknown,
  req: Parameters<RequestHandler>[0],
  res: Response,
): AppError | undefined {
  const { error, known } = classifyError(err)
  if (known) req.log?.info({ code: error.code, status: error.status }, error.message)
  else req.log?.error({ err }, 'unhandled error')
  res.locals['errorCode'] = error.code
  if (res.headersSent) {
    res.destroy()
    return undefined
  }
  if (error.retryAfter !== undefined) res.setHeader('Retry-After', String(error.retryAfter))
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value)
  return error
}

export const notFoundHandler: RequestHandler = (req) => {
  throw ERRORS.notFound(`Route ${req.method} ${req.path}`)
}

/** Renders every error as `{error:{code,message,details},requestId}`. */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const error = prepareErrorAnswer(err, req, res)
  if (error) res.status(error.status).json({ error: error.toJSON(), requestId: req.id })
}
