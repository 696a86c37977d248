import type { RequestHandler } from 'express'

// What a page's push sends besides the CORS-safelisted headers, and what it reads back: the
// client's retry policy needs Retry-After and the RateLimit fields, its errors the request id.
const ALLOW_HEADERS = [
  'Authorization',
  'Content-Type',
  'Idempotency-Key',
  'X-Content-Sha1',
  'X-Chunk-Index',
  'X-Chunk-Count',
  'X-Chunk-Sha1',
  'X-File-Size',
  'X-Request-Id',
  // The client names itself; Chromium drops the header, Firefox sends it and so asks first.
  'User-Agent',
].join(', ')
const EXPOSE_HEADERS = ['Retry-After', 'RateLimit', 'RateLimit-Policy', 'X-Request-Id'].join(', ')
const PREFLIGHT_MAX_AGE_S = 600

/**
 * CORS for the API, for the listed origins only (`KAIXU_CORS_ORIGINS`): a browser page on one of
 * them (an in-browser editor) may push with a customer's key. Any other origin gets no CORS
 * header at all, so its browser refuses to hand the page the answer. The key travels in
 * `Authorization`, never in a cookie, so credentials are not allowed: a page must hold the key.
 */
export function cors(origins: readonly string[]): RequestHandler {
  const allowed = new Set(origins)
  return (req, res, next) => {
    if (allowed.size === 0) return next()
    // The answer depends on Origin, so a cache must not hand one origin's answer to another.
    res.vary('Origin')
    const origin = req.get('origin')
    if (origin === undefined || !allowed.has(origin)) return next()
    res.setHeader('Access-Control-Allow-Origin', origin)
    if (req.method === 'OPTIONS' && req.get('access-control-request-method') !== undefined) {
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE')
      res.setHeader('Access-Control-Allow-Headers', ALLOW_HEADERS)
      res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_S))
      res.status(204).end()
      return
    }
    res.setHeader('Access-Control-Expose-Headers', EXPOSE_HEADERS)
    next()
  }
}
