import express from 'express'
import type { Request, Response } from 'express'
import { ApiError, bodyParserError } from './errors.ts'

/** A route of the sandbox's small dispatch table. */
export interface Route<H> {
  method: string
  /** e.g. `/sites/:site_id/deploys`; a final `*name` segment captures the raw rest of the path. */
  template: string
  json: boolean
  handler: H
}

/** A matched route and its parameters (`:name` percent-decoded, `*name` left raw). */
export interface RouteMatch<H> {
  route: Route<H>
  params: Record<string, string>
}

/**
 * A minimal method + path table. The sandbox dispatches itself rather than through Express
 * routes because it must know the route template *before* handling (for stats and fault
 * matching) and must see the raw path of file uploads, where `%2F` and `/` both separate folders.
 */
export class RouteTable<H> {
  private readonly routes: Array<{ route: Route<H>; segments: string[] }> = []

  /** Registers a route; earlier routes win. */
  add(method: string, template: string, handler: H, options: { json?: boolean } = {}): this {
    this.routes.push({
      route: { method, template, handler, json: options.json ?? false },
      segments: template.split('/').slice(1),
    })
    return this
  }

  /** Finds the route for a path without query string; throws 400 on malformed escapes. */
  match(method: string, path: string): RouteMatch<H> | null {
    const parts = path.split('/').slice(1)
    for (const { route, segments } of this.routes) {
      if (route.method !== method) continue
      const params = matchSegments(segments, parts)
      if (params) return { route, params }
    }
    return null
  }
}

function matchSegments(segments: string[], parts: string[]): Record<string, string> | null {
  const params: Record<string, string> = {}
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!
    if (seg.startsWith('*')) {
      const rest = parts.slice(i).join('/')
      if (rest === '') return null
      params[seg.slice(1)] = rest
      return params
    }
    const part = parts[i]
    if (part === undefined || part === '') return null
    if (seg.startsWith(':')) params[seg.slice(1)] = decodeSegment(part)
    else if (seg !== part) return null
  }
  return parts.length === segments.length ? params : null
}

function decodeSegment(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw new ApiError(400, 'Malformed percent-encoding in path')
  }
}

/** Splits `req.url` into path and query string (without the `?`). */
export function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?')
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) }
}

/**
 * Digests of large sites are big (10k files is ~1 MB of JSON); Express's 100 kB default is too
 * small. A zip deploy's JSON may be larger, but only by its `zip` field (see zip-body.ts).
 */
export const JSON_BODY_LIMIT_BYTES = 64 * 1024 * 1024

const jsonParser = express.json({ limit: JSON_BODY_LIMIT_BYTES })

/**
 * Runs `express.json()` for this one request (the route-level parser of the JSON routes) and
 * returns the parsed body, or `undefined` when the request had no JSON body.
 */
export function readJsonBody(req: Request, res: Response): Promise<unknown> {
  return new Promise((resolve, reject) => {
    jsonParser(req, res, (err?: unknown) => {
      if (err) reject(bodyParserError(err))
      else resolve((req as { body?: unknown }).body)
    })
  })
}
