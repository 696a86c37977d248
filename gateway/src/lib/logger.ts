import { AsyncLocalStorage } from 'node:async_hooks'
import { pino, type Logger } from 'pino'

/**
 * Paths that may carry secrets. Keys and Netlify tokens travel in headers and a few body fields;
 * pino replaces them before a line is written.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-admin-token"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'authorization',
  'token',
  'key',
  'netlifyToken',
  'ciphertext',
  '*.authorization',
  '*.token',
  '*.key',
  '*.netlifyToken',
  '*.ciphertext',
]

/** What every log line written while serving a request carries (its request id). */
export interface LogContext {
  reqId: string
}

const context = new AsyncLocalStorage<LogContext>()

/**
 * Runs `fn` (and everything it starts) with `ctx` attached to every log line, including lines
 * that services and the Netlify client write through the root logger.
 */
export const withLogContext = <T>(ctx: LogContext, fn: () => T): T => context.run(ctx, fn)

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'kaixu-gateway' },
      // A fresh object every time: pino merges each line's fields into what mixin returns, so
      // returning the stored context itself would let one line's fields (a raw `res`, say)
      // leak into every later line of the request.
      mixin: () => {
        const ctx = context.getStore()
        return ctx ? { reqId: ctx.reqId } : {}
      },
    },
    destination ?? process.stdout,
  )
}
