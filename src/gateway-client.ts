// Browser-safe: fetch only. How file bytes are read comes from `#platform` (disk on Node, Blobs
// in browsers and edge runtimes), so the library's browser bundle holds no `node:` import.
import { batchBody, chunkBody, uploadBody } from '#platform'
import { GatewayError, getErrorMessage } from './errors.ts'
import { retry } from './retry.ts'
import * as schemas from 'kaixu-contract'
import { BATCH_CONTENT_TYPE, batchBodyBytes, encodeBatchTable } from 'kaixu-contract'
import type { z } from 'zod'
import type { RateLimitInfo } from './errors.ts'
import type { RetryOptions } from './retry.ts'
import type { ChunkPutHeaders, PushHistoryQuery, PushInitRequest } from 'kaixu-contract'

/** One file of a batch upload: its content's SHA-1 and size, and where to read it. */
export interface BatchFile {
  sha1: string
  size: number
  absPath: string
  /** The bytes of a file from an in-memory map; `absPath` is then only its name. */
  content?: Blob | undefined
}

/** How to reach the gateway. */
export interface GatewayClientOptions {
  /** The gateway's base URL; a path prefix (`https://host/kaixu`) is kept. */
  baseUrl: string
  /** The Kaixu API key, sent as a bearer token. */
  apiKey: string
  /** Sent as `User-Agent`, so gateway logs tell Action pushes from CLI pushes. */
  userAgent?: string
  /** Overrides of the retry policy (tests shorten the waits). */
  retry?: Partial<RetryOptions>
  /** Receives one line per retry. */
  log?: (message: string) => void
}

interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  route: string
  query?: Record<string, string>
  json?: unknown
  /** Builds a fresh body for every attempt: a stream can be read only once. */
  body?: () => NonNullable<RequestInit['body']>
  headers?: Record<string, string>
  signal?: AbortSignal
}

/** The only HTTP caller of the Action: the gateway's `/v1/push-*` routes, with retries. */
export class GatewayClient {
  readonly #base: URL
  readonly #apiKey: string
  readonly #userAgent: string
  readonly #retry: Partial<RetryOptions>
  readonly #log: (message: string) => void

  constructor(options: GatewayClientOptions) {
    // A trailing slash makes `new URL('v1/…', base)` keep a path prefix instead of replacing it.
    this.#base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`)
    this.#apiKey = options.apiKey
    this.#userAgent = options.userAgent ?? 'kaixu-push'
    this.#retry = options.retry ?? {}
    this.#log = options.log ?? (() => {})
  }

  /**
   * `POST /v1/push-init`: announces the digest, answers the push id and the SHA-1s to upload.
   * One `Idempotency-Key` covers all retries, so a retry after a lost answer cannot open (and
   * bill) a second push.
   */
  async init(
    request: PushInitRequest,
    idempotencyKey: string = newIdempotencyKey(),
    signal?: AbortSignal,
  ) {
    return this.#request(schemas.pushInitResponse, {
      method: 'POST',
      route: 'v1/push-init',
      json: request,
      headers: { 'Idempotency-Key': idempotencyKey },
      signal,
    })
  }

  /**
   * `POST /v1/push-plan`: the dry run of `init` with the same body. Answers what would be
   * uploaded and what it would cost; creates no deploy, reservation or charge.
   */
  async plan(request: PushInitRequest, signal?: AbortSignal) {
    return this.#request(schemas.pushPlanResponse, {
      method: 'POST',
      route: 'v1/push-plan',
      json: request,
      signal,
    })
  }

  /**
   * `PUT /v1/push-upload`: streams one file; the stream is re-opened for each attempt. `content`
   * holds the bytes of a file from an in-memory map, else they are read from `filePath`.
   */
  async upload(
    pushId: string,
    sha1: string,
    filePath: string,
    size: number,
    signal?: AbortSignal,
    content?: Blob,
  ) {
    return this.#request(schemas.pushUploadResponse, {
      method: 'PUT',
      route: 'v1/push-upload',
      query: { pushId },
      body: () => uploadBody({ absPath: filePath, size, content }),
      headers: {
        'X-Content-Sha1': sha1,
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(size),
      },
      signal,
    })
  }

  /**
   * `PUT /v1/push-upload-function`: streams one function zip, checked by its SHA-256; the stream
   * is re-opened for each attempt.
   */
  async uploadFunction(
    pushId: string,
    fn: { name: string; sha256: string; path: string; size: number },
    signal?: AbortSignal,
  ) {
    return this.#request(schemas.functionUploadResponse, {
      method: 'PUT',
      route: 'v1/push-upload-function',
      query: { pushId, name: fn.name },
      body: () => uploadBody({ absPath: fn.path, size: fn.size }),
      headers: {
        'X-Content-Sha256': fn.sha256,
        'Content-Type': 'application/zip',
        'Content-Length': String(fn.size),
      },
      signal,
    })
  }

  /**
   * `POST /v1/push-upload-batch`: many small files in one request, framed by the contract's
   * codec (the table of SHA-1s and sizes, then the bytes in table order). Each attempt reads the
   * files again, one at a time.
   */
  async uploadBatch(pushId: string, files: readonly BatchFile[], signal?: AbortSignal) {
    const table = encodeBatchTable(files)
    const bytes = batchBodyBytes(files)
    return this.#request(schemas.pushUploadBatchResponse, {
      method: 'POST',
      route: 'v1/push-upload-batch',
      query: { pushId },
      body: () => batchBody(table, files),
      headers: { 'Content-Type': BATCH_CONTENT_TYPE, 'Content-Length': String(bytes) },
      signal,
    })
  }

  /**
   * `GET /v1/push-upload-chunk`: which chunks of a file the gateway holds (to resume), or
   * undefined when no chunked upload of it exists yet.
   */
  async chunkStatus(pushId: string, sha1: string, signal?: AbortSignal) {
    try {
      return await this.#request(schemas.chunkStatusResponse, {
        method: 'GET',
        route: 'v1/push-upload-chunk',
        query: { pushId, sha1 },
        signal,
      })
    } catch (error) {
      if (error instanceof GatewayError && error.status === 404) return undefined
      throw error
    }
  }

  /** `PUT /v1/push-upload-chunk`: one chunk of a large file (re-sending a stored one is a no-op). */
  async putChunk(pushId: string, h: ChunkPutHeaders, body: Uint8Array, signal?: AbortSignal) {
    return this.#request(schemas.chunkPutResponse, {
      method: 'PUT',
      route: 'v1/push-upload-chunk',
      query: { pushId },
      body: () => chunkBody(body),
      headers: {
        // Sent as a stream on Node (see chunkBody), so the length is said here; browsers set it.
        'Content-Length': String(body.byteLength),
        'X-Content-Sha1': h.sha1,
        'X-Chunk-Index': String(h.index),
        'X-Chunk-Count': String(h.count),
        'X-Chunk-Sha1': h.chunkSha1,
        'X-File-Size': String(h.fileSize),
        'Content-Type': 'application/octet-stream',
      },
      signal,
    })
  }

  /**
   * `POST /v1/push-complete`: starts finalization. With `wait` the gateway holds the answer until
   * the deploy is final or its own wait (120 s) runs out; either way the answer is the push record.
   */
  async complete(pushId: string, wait: boolean, signal?: AbortSignal) {
    return this.#request(schemas.pushRecord, {
      method: 'POST',
      route: 'v1/push-complete',
      json: { pushId, wait },
      signal,
    })
  }

  /**
   * `POST /v1/push-cancel`: the push is abandoned (job cancelled, Ctrl-C); the gateway cancels
   * its Netlify deploy and returns its reservation. A 409 says it is past uploading.
   */
  async cancel(pushId: string, signal?: AbortSignal) {
    return this.#request(schemas.pushRecord, {
      method: 'POST',
      route: 'v1/push-cancel',
      json: { pushId },
      signal,
    })
  }

  /**
   * `GET /v1/push-status`: the push record, refreshed from Netlify while not final. With
   * `waitSeconds` (at most 60) it long-polls: the gateway answers as soon as the push is `ready`
   * or `error`, or when that many seconds pass.
   */
  async status(pushId: string, signal?: AbortSignal, waitSeconds?: number) {
    const wait: Record<string, string> =
      waitSeconds === undefined
        ? {}
        : { waitFor: 'ready', timeout: String(Math.max(0, Math.min(60, Math.ceil(waitSeconds)))) }
    return this.#request(schemas.pushRecord, {
      method: 'GET',
      route: 'v1/push-status',
      query: { pushId, ...wait },
      signal,
    })
  }

  // --- self-service with the customer's own key ---------------------------------------------

  /** `PUT /v1/netlify-token`: registers or rotates the customer's Netlify token (checked first). */
  async setNetlifyToken(token: string, signal?: AbortSignal) {
    return this.#request(schemas.netlifyTokenInfo, {
      method: 'PUT',
      route: 'v1/netlify-token',
      json: { token },
      signal,
    })
  }

  /** `GET /v1/projects`: the customer's live projects. */
  async listProjects(signal?: AbortSignal) {
    return (
      await this.#request(schemas.projectList, { method: 'GET', route: 'v1/projects', signal })
    ).projects
  }

  /** `POST /v1/projects`: registers a Netlify site the customer's token reaches. */
  async addProject(project: { siteId: string; name: string }, signal?: AbortSignal) {
    return this.#request(schemas.projectInfo, {
      method: 'POST',
      route: 'v1/projects',
      json: project,
      signal,
    })
  }

  /** `DELETE /v1/projects/:project` (id or name): new pushes are refused, history stays. */
  async removeProject(project: string, signal?: AbortSignal) {
    return this.#request(schemas.projectInfo, {
      method: 'DELETE',
      route: `v1/projects/${encodeURIComponent(project)}`,
      signal,
    })
  }

  /** `GET /v1/usage`: a month's (`YYYY-MM`, default this one) deploys, bytes, cost and budget. */
  async usage(month?: string, signal?: AbortSignal) {
    return this.#request(schemas.usageReport, {
      method: 'GET',
      route: 'v1/usage',
      query: month ? { month } : {},
      signal,
    })
  }

  /** `GET /v1/pushes`: one page of the deploy history, newest first. */
  async history(query: PushHistoryQuery = {}, signal?: AbortSignal) {
    const params: Record<string, string> = {}
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) params[name] = String(value)
    }
    return this.#request(schemas.pushPage, {
      method: 'GET',
      route: 'v1/pushes',
      query: params,
      signal,
    })
  }

  /** Sends the request with retries and answers its body once `schema` has checked it. */
  async #request<T>(schema: z.ZodType<T>, spec: RequestSpec): Promise<T> {
    const url = new URL(spec.route, this.#base)
    for (const [name, value] of Object.entries(spec.query ?? {})) url.searchParams.set(name, value)
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.#apiKey}`,
      Accept: 'application/json',
      'User-Agent': this.#userAgent,
      ...spec.headers,
    }
    if (spec.json !== undefined) headers['Content-Type'] = 'application/json'
    const label = `${spec.method} /${spec.route}`

    return retry(
      async () => {
        const body = spec.json !== undefined ? JSON.stringify(spec.json) : spec.body?.()
        const response = await fetch(url, {
          method: spec.method,
          headers,
          body,
          // Node's fetch needs this for a streamed request body.
          duplex: body instanceof ReadableStream ? 'half' : undefined,
          signal: spec.signal,
        } as RequestInit)
        if (!response.ok) throw await toGatewayError(response)
        return checkAnswer(schema, await readJson(response), label, response)
      },
      {
        signal: spec.signal,
        onRetry: (error, attempt, delayMs) =>
          this.#log(
            `${label} failed: ${getErrorMessage(error)}; retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s`,
          ),
        ...this.#retry,
      },
    )
  }
}

// Web Crypto's randomUUID exists only in secure contexts; a page on plain http (a LAN gateway)
// still gets 122 random bits from getRandomValues, which every runtime has.
function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * The answer as `schema` describes it, or a `GatewayError` (`invalid_response`, never retried)
 * naming the first fields that are wrong: a gateway that answers nonsense stops the push here,
 * before its answer reaches an upload plan, an output, a comment or a log.
 */
function checkAnswer<T>(schema: z.ZodType<T>, body: unknown, label: string, response: Response): T {
  const parsed = schema.safeParse(body)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
    .join('; ')
  throw new GatewayError(
    response.status,
    'invalid_response',
    `The gateway's answer to ${label} is not valid, so the push stops: ${problems}`,
    undefined,
    undefined,
    response.headers.get('x-request-id') ?? undefined,
  )
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text()
  try {
    return JSON.parse(text)
  } catch {
    throw new GatewayError(
      response.status,
      'invalid_response',
      `The gateway answered ${response.status} with a body that is not JSON: ${excerpt(text)}`,
      undefined,
      undefined,
      response.headers.get('x-request-id') ?? undefined,
    )
  }
}

/** Builds a `GatewayError` from a non-2xx answer, whatever its body looks like. */
export async function toGatewayError(response: Response): Promise<GatewayError> {
  const text = await response.text().catch(() => '')
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'))
  const rateLimit =
    response.status === 429
      ? parseRateLimit(response.headers.get('ratelimit-policy'), response.headers.get('ratelimit'))
      : undefined
  let requestId = response.headers.get('x-request-id') ?? undefined
  try {
    const parsed = JSON.parse(text) as {
      error?: { code?: unknown; message?: unknown; details?: unknown }
      requestId?: unknown
    }
    if (typeof parsed.requestId === 'string') requestId = parsed.requestId
    const error = parsed.error
    if (error && typeof error.code === 'string') {
      const message = typeof error.message === 'string' ? error.message : error.code
      return new GatewayError(
        response.status,
        error.code,
        message,
        error.details,
        retryAfter,
        requestId,
        rateLimit,
      )
    }
  } catch {
    // Not JSON: a proxy's error page, for instance. Fall through to a generic error.
  }
  const reason = response.statusText || 'error'
  const body = text ? `: ${excerpt(text)}` : ''
  return new GatewayError(
    response.status,
    'http_error',
    `The gateway answered ${response.status} ${reason}${body}`,
    undefined,
    retryAfter,
    requestId,
    rateLimit,
  )
}

/**
 * The window a 429 names in its `RateLimit` header (`"minute";r=0;t=42`), with its quota and
 * length from `RateLimit-Policy` (`"minute";q=3;w=60, "day";q=100;w=86400`), as the IETF
 * RateLimit header fields draft defines them. Undefined without either header.
 */
export function parseRateLimit(
  policyHeader: string | null,
  limitHeader: string | null,
): RateLimitInfo | undefined {
  const limits = parseItems(limitHeader)
  const policies = parseItems(policyHeader)
  // The exhausted window has no requests left; a lone policy needs no RateLimit to name it.
  const current = limits.find((item) => item.params['r'] === 0) ?? limits[0]
  const policy = current
    ? policies.find((item) => item.name === current.name)
    : policies.length === 1
      ? policies[0]
      : undefined
  const name = current?.name ?? policy?.name
  if (name === undefined) return undefined
  return {
    policy: name,
    quota: policy?.params['q'],
    windowSeconds: policy?.params['w'],
    resetSeconds: current?.params['t'],
  }
}

// A structured-field list of `"name";key=number` items; other parameters are ignored.
function parseItems(value: string | null): { name: string; params: Record<string, number> }[] {
  if (!value) return []
  return value
    .split(',')
    .map((item) => {
      const [name = '', ...params] = item.split(';').map((part) => part.trim())
      const numbers: Record<string, number> = {}
      for (const param of params) {
        const match = /^([a-z][a-z0-9_.*-]*)=(\d+)$/.exec(param)
        if (match) numbers[match[1]!] = Number(match[2])
      }
      return { name: name.replace(/^"(.*)"$/, '$1'), params: numbers }
    })
    .filter((item) => item.name !== '')
}

/** `Retry-After` as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value.trim() === '') return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const date = Date.parse(trimmed)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, Math.ceil((date - now) / 1000))
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat
}
