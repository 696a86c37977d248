import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { ErrorCode } from '../errors.ts'

/** Node's parser errors, in our vocabulary: which status and stable code each one gets. */
function classify(code: string | undefined): { status: number; code: string; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: ErrorCode.HeadersTooLarge,
        message: 'The request headers are too large.',
      }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        code: ErrorCode.RequestTimeout,
        message: 'The request took too long to arrive.',
      }
    default:
      return {
        status: 400,
        code: ErrorCode.InvalidRequest,
        message: 'Malformed HTTP request (bad request line, header or Content-Length).',
      }
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
    const { status, code, message } = classify(error.code)
    logger.warn({ reqId: requestId, parserError: error.code, status }, message)
    const body = JSON.stringify({ error: { code, message, details: {} }, requestId })
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
