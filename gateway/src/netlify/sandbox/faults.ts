import { STATUS_CODES } from 'node:http'
import type { Request, Response } from 'express'
import { z } from 'zod'

/** Which requests a fault applies to. */
export type FaultTarget = 'api' | 'site' | 'any'

/** A scheduled fault, as accepted by `POST /__sandbox/faults`. */
export const faultSchema = z.object({
  match: z
    .object({
      /** HTTP method, any case; absent matches every method. */
      method: z.string().optional(),
      /** Substring of the request URL as sent (path and query, e.g. `/api/v1/deploys/x/files/`). */
      path: z.string().optional(),
      /** Regular expression source tested against the same URL. */
      pathRegex: z.string().optional(),
      /** `api` (default): `/api/v1/*`; `site`: requests to `*.localhost`; `any`: both. */
      target: z.enum(['api', 'site', 'any']).optional(),
    })
    .optional(),
  /** Answer this status instead of handling the request. */
  status: z.number().int().min(100).max(599).optional(),
  /** Answer body: an object is sent as JSON, a string as text/html. Default `{code, message}`. */
  body: z.unknown().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** Wait this long first (with no status/drop: a slow but otherwise normal answer). */
  delayMs: z.number().int().min(0).max(600_000).optional(),
  /** Destroy the socket without answering. */
  drop: z.boolean().optional(),
  /**
   * Handle the request, but destroy the socket once this many bytes of its body have been
   * received: a connection that dies mid-upload (a zip deploy cut off halfway).
   */
  dropAfterBytes: z.number().int().min(0).optional(),
  /**
   * Handle the request for real, then lose (drop) or replace (status) the answer: the case of
   * an upload that succeeded but whose response never reached the client.
   */
  after: z.boolean().optional(),
  /** How many matching requests this fault hits (default 1). */
  times: z.number().int().min(1).optional(),
  /** Let this many matching requests through first. */
  skip: z.number().int().min(0).optional(),
})

/** A fault as sent by a test. */
export type FaultSpec = z.infer<typeof faultSchema>

interface PendingFault {
  spec: FaultSpec
  regex: RegExp | null
  remaining: number
  skip: number
}

/**
 * The queue of scheduled faults. A request takes the first pending fault that matches it; a
 * fault disappears once it has hit `times` requests.
 */
export class FaultQueue {
  private pending: PendingFault[] = []

  /** Appends faults (already validated); throws on an invalid `pathRegex`. */
  add(specs: FaultSpec[]): void {
    const compiled = specs.map((spec) => ({
      spec,
      regex: spec.match?.pathRegex === undefined ? null : new RegExp(spec.match.pathRegex),
      remaining: spec.times ?? 1,
      skip: spec.skip ?? 0,
    }))
    this.pending.push(...compiled)
  }

  /** The faults still pending, with how many hits each has left. */
  list(): Array<FaultSpec & { remaining: number }> {
    return this.pending.map((p) => ({ ...p.spec, remaining: p.remaining, skip: p.skip }))
  }

  /** Removes every pending fault. */
  clear(): void {
    this.pending = []
  }

  /** Consumes and returns the fault for this request, if any. */
  take(target: Exclude<FaultTarget, 'any'>, method: string, url: string): FaultSpec | null {
    const index = this.pending.findIndex((p) => matches(p, target, method, url))
    if (index === -1) return null
    const fault = this.pending[index]!
    if (fault.skip > 0) {
      fault.skip--
      return null
    }
    if (--fault.remaining <= 0) this.pending.splice(index, 1)
    return fault.spec
  }
}

function matches(p: PendingFault, target: 'api' | 'site', method: string, url: string): boolean {
  const m = p.spec.match ?? {}
  const wanted = m.target ?? 'api'
  if (wanted !== 'any' && wanted !== target) return false
  if (m.method !== undefined && m.method.toUpperCase() !== method) return false
  if (m.path !== undefined && !url.includes(m.path)) return false
  if (p.regex && !p.regex.test(url)) return false
  return true
}

/**
 * Applies a fault. Returns true when the request is finished (answered or dropped) and false
 * when it must still be handled normally (pure delay, or an `after` fault armed on the answer).
 * `extraHeaders` is merged under the fault's own headers (rate-limit headers for a 429).
 */
export async function applyFault(
  fault: FaultSpec,
  req: Request,
  res: Response,
  extraHeaders: Record<string, string> = {},
): Promise<boolean> {
  if (fault.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs))
  if (fault.dropAfterBytes !== undefined) {
    armDropAfterBytes(fault.dropAfterBytes, req)
    return false
  }
  if (fault.status === undefined && !fault.drop) return false
  if (fault.after) {
    armAfterFault(fault, req, res, extraHeaders)
    return false
  }
  if (fault.drop) {
    req.socket.destroy()
    return true
  }
  writeFaultAnswer(fault, res, extraHeaders)
  return true
}

function writeFaultAnswer(
  fault: FaultSpec,
  res: Response,
  extraHeaders: Record<string, string>,
  end: (body: string) => void = (body) => res.end(body),
): void {
  const status = fault.status ?? 500
  const isText = typeof fault.body === 'string'
  const body = isText
    ? (fault.body as string)
    : JSON.stringify(fault.body ?? { code: status, message: STATUS_CODES[status] ?? 'Error' })
  res.statusCode = status
  for (const [k, v] of Object.entries({ ...extraHeaders, ...fault.headers })) res.setHeader(k, v)
  if (!fault.headers || !Object.keys(fault.headers).some((k) => k.toLowerCase() === 'content-type'))
    res.setHeader(
      'Content-Type',
      isText ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8',
    )
  res.setHeader('Content-Length', Buffer.byteLength(body))
  end(body)
}

function armAfterFault(
  fault: FaultSpec,
  req: Request,
  res: Response,
  extraHeaders: Record<string, string>,
): void {
  const originalEnd = res.end.bind(res) as (body?: string) => Response
  // Every answer of the API ends with res.end (res.json → res.send → res.end); swapping it lets
  // the handler's side effects happen while its answer is lost or replaced.
  res.end = ((..._args: unknown[]) => {
    if (fault.drop || res.headersSent) {
      req.socket.destroy()
      return res
    }
    for (const h of ['content-length', 'etag', 'content-type']) res.removeHeader(h)
    writeFaultAnswer(fault, res, extraHeaders, (body) => originalEnd(body))
    return res
  }) as Response['end']
}

/**
 * Lets the handler read `limit` bytes of the body, then destroys the socket. Node's HTTP parser
 * hands each piece of a body to `req.push`, so counting there sees the bytes in the order the
 * handler reads them without putting the request into flowing mode before the handler pipes it.
 */
function armDropAfterBytes(limit: number, req: Request): void {
  let received = 0
  const push = req.push.bind(req)
  req.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (!Buffer.isBuffer(chunk)) return push(chunk, encoding)
    if (received >= limit) return false
    const keep = Math.min(chunk.length, limit - received)
    received += keep
    const more = keep > 0 ? push(keep === chunk.length ? chunk : chunk.subarray(0, keep)) : true
    if (received < limit) return more
    req.socket.destroy()
    return false
  }
}
