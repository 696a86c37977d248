import { pino, type Logger } from 'pino'

/**
 * Paths that may carry secrets. Keys and Netlify tokens travel in headers and a few body fields;
 * pino replaces them before a line is written.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-admin-token"]',
  'res.headers["set-cookie"]',
  '*.token',
  '*.key',
  '*.netlifyToken',
  '*.ciphertext',
]

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'kaixu-gateway' },
    },
    destination ?? process.stdout,
  )
}
