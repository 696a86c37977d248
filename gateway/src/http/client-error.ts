import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { ERRORS, type AppError } from '../errors.ts'

/** Node's parser errors, in our vocabulary: which stable code (and so status) each one gets. */
function classify(code: string | undefined): AppError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return ERRORS.headersTooLarge()
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return ERRORS.requestTimeout()
    default:
      return ERRORS.invalidRequest(
        'Malformed HTTP request (bad request line, header or Content-Length).',
      )
  }
}

/**
 * The server's `clientError` handler: requests Node cannot even parse (bad Content-Length,
 * invalid header characters, oversized headers) get the same JSON error shape and a request id
 * instead of Node's bare 400, and the connection is closed.
 */
export function handleClientError(logger: Logger) {
  return (error: Error & { code?: string }, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    const requestId = randomUUID()
    const failure = classify(error.code)
    const { status, message } = failure
    logger.warn({ reqId: requestId, parserError: error.code, status }, message)
    const body = JSON.stringify({ error: failure.toJSON(), requestId })
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    )
  }
}
