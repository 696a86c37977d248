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

/**
 * Secrets by their shape, wherever a client put them (a query string, a path, a header, a body
 * field an error message repeats): Kaixu keys, Netlify tokens (`nfp_…`, `nfo_…`), bearer
 * credentials, and the value of any secret-looking query parameter. Applied to every finished
 * line, so no field name has to be foreseen.
 */
const SECRET_PATTERNS: [RegExp, string][] = [
  [/\b(kx_(?:live|test)_)[A-Za-z0-9]+/g, '$1[redacted]'],
  [/\b(nf[a-z]?_)[A-Za-z0-9_-]{8,}/g, '$1[redacted]'],
  [/\b(Bearer\s+)[^\s"\\]+/gi, '$1[redacted]'],
  [
    /([?&](?:key|token|access_token|api[_-]?key|netlify_?token|secret|password|auth)=)[^&\s"\\#]+/gi,
    '$1[redacted]',
  ],
]

/** A serialised log line with every secret-shaped value replaced. */
export function redactSecrets(line: string): string {
  let out = line
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement)
  return out
}

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
      hooks: { streamWrite: redactSecrets },
      base: { service: 'kaixu-gateway' },
      // A fresh object every time: pino merges each line's fields into what mixin returns, so
      // returning the stored context itself would let one line's fields (a raw `res`, say)
      // leak into every later line of the request.
      // A request's own logger (req.log) already binds reqId: adding it again would write the
      // key twice on one line.
      mixin: (_line, _level, logger) => {
        const ctx = context.getStore()
        return ctx && (logger as Logger).bindings()['reqId'] === undefined
          ? { reqId: ctx.reqId }
          : {}
      },
    },
    destination ?? process.stdout,
  )
}
