import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import pLimit, { type LimitFunction } from 'p-limit'
import { Agent, request, type Dispatcher } from 'undici'

/** The fields of Netlify's deploy object that the gateway reads. */
export interface NetlifyDeploy {
  id: string
  site_id: string
  state: string
  required?: string[]
  error_message?: string | null
  url?: string | null
  ssl_url?: string | null
  deploy_url?: string | null
  deploy_ssl_url?: string | null
  links?: { permalink?: string; alias?: string; branch?: string } | null
  branch?: string | null
  draft?: boolean
}

export interface NetlifySite {
  id: string
  name: string
  url?: string
  ssl_url?: string
}

export interface CreateDeployInput {
  files: Record<string, string>
  draft: boolean
  branch?: string
  title?: string
}

/**
 * A failed Netlify call. `transient` failures (429, 5xx, network) are worth retrying later;
 * the others carry Netlify's own message and will fail the same way again.
 */
export class NetlifyApiError extends Error {
  override name = 'NetlifyApiError'
  readonly status: number
  readonly transient: boolean
  /** Seconds until Netlify's rate limit resets, from `X-RateLimit-Reset`. */
  readonly retryAfter: number | undefined
  constructor(status: number, message: string, transient: boolean, retryAfter?: number) {
    super(message)
    this.status = status
    this.transient = transient
    this.retryAfter = retryAfter
  }
}

export interface NetlifyClientOptions {
  /** e.g. `https://api.netlify.com/api/v1` (no trailing slash). */
  baseUrl: string
  /** Attempts per JSON call before a transient failure is surfaced. */
  maxAttempts?: number
  /** Longest wait for a rate-limit reset before giving up and surfacing the 429. */
  maxRateLimitWaitMs?: number
  userAgent?: string
  /** File PUTs in flight per token: Netlify allows 5 on free plans, 10 on paid ones. */
  uploadConcurrency?: number
}

/** Netlify starts diffing on its side (async) above this many files, as netlify-cli does. */
export const ASYNC_DIFF_THRESHOLD = 100

/**
 * The only module that talks to Netlify. JSON calls retry 429 (sleeping until
 * `X-RateLimit-Reset`), 5xx and network errors with exponential backoff; file uploads stream a
 * body that cannot be replayed, so they surface transient failures for the caller to retry.
 */
export function createNetlifyClient(options: NetlifyClientOptions) {
  const base = options.baseUrl.replace(/\/+$/, '')
  const maxAttempts = options.maxAttempts ?? 5
  const maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 60_000
  const userAgent = options.userAgent ?? 'kaixu-gateway'
  const dispatcher: Dispatcher = new Agent({ keepAliveTimeout: 10_000, connections: 64 })
  // One limiter per token: each customer's uploads queue behind their own, never another's.
  const uploadLimits = new Map<string, LimitFunction>()
  const uploadLimit = (token: string) => {
    let limit = uploadLimits.get(token)
    if (!limit) {
      limit = pLimit(options.uploadConcurrency ?? 5)
      uploadLimits.set(token, limit)
    }
    return limit
  }

  async function call<T>(
    token: string,
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
    attempts = maxAttempts,
    timeoutMs = 30_000,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await once<T>(token, method, path, body, timeoutMs)
      } catch (error) {
        const e = toNetlifyError(error)
        if (!e.transient || attempt >= attempts) throw e
        const waitMs =
          e.status === 429 && e.retryAfter !== undefined
            ? Math.min(e.retryAfter * 1000, maxRateLimitWaitMs)
            : Math.min(200 * 2 ** (attempt - 1), 5_000) * (0.5 + Math.random() / 2)
        if (
          e.status === 429 &&
          e.retryAfter !== undefined &&
          e.retryAfter * 1000 > maxRateLimitWaitMs
        ) {
          throw e
        }
        await sleep(waitMs)
      }
    }
  }

  async function once<T>(
    token: string,
    method: Dispatcher.HttpMethod,
    path: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<T> {
    const res = await request(base + path, {
      method,
      dispatcher,
      headers: {
        authorization: `Bearer ${token}`,
        'user-agent': userAgent,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    })
    const text = await res.body.text()
    if (res.statusCode >= 400) throw errorFromResponse(res.statusCode, res.headers, text)
    return (text ? JSON.parse(text) : {}) as T
  }

  return {
    /** Checks a token: Netlify answers the token's user or 401. */
    getCurrentUser: (token: string) => call<{ id: string; email?: string }>(token, 'GET', '/user'),

    getSite: (token: string, siteId: string) =>
      call<NetlifySite>(token, 'GET', `/sites/${encodeURIComponent(siteId)}`),

    /** `quick`: one short attempt, for reads that must not hold a client (push-status). */
    getDeploy: (token: string, deployId: string, quick = false) =>
      quick
        ? call<NetlifyDeploy>(
            token,
            'GET',
            `/deploys/${encodeURIComponent(deployId)}`,
            undefined,
            1,
            3_000,
          )
        : call<NetlifyDeploy>(token, 'GET', `/deploys/${encodeURIComponent(deployId)}`),

    cancelDeploy: (token: string, deployId: string) =>
      call<NetlifyDeploy>(token, 'POST', `/deploys/${encodeURIComponent(deployId)}/cancel`),

    /**
     * Creates a digest deploy. Above 100 files Netlify diffs asynchronously: the deploy comes back
     * `preparing` and we poll until `required` is known.
     */
    async createDeploy(
      token: string,
      siteId: string,
      input: CreateDeployInput,
    ): Promise<NetlifyDeploy> {
      const isAsync = Object.keys(input.files).length > ASYNC_DIFF_THRESHOLD
      const query = input.title ? `?title=${encodeURIComponent(input.title)}` : ''
      let deploy = await call<NetlifyDeploy>(
        token,
        'POST',
        `/sites/${encodeURIComponent(siteId)}/deploys${query}`,
        { files: input.files, draft: input.draft, branch: input.branch, async: isAsync },
      )
      // Short first intervals: a small diff is done in milliseconds, and every wasted interval
      // is time the customer's CI sits idle.
      const deadline = Date.now() + 5 * 60_000
      for (let delay = 25; !isDiffDone(deploy.state); delay = Math.min(delay * 2, 1_000)) {
        if (deploy.state === 'error') break
        if (Date.now() > deadline) {
          throw new NetlifyApiError(504, 'Timed out waiting for Netlify to diff the files', true)
        }
        await sleep(delay)
        deploy = await call<NetlifyDeploy>(
          token,
          'GET',
          `/deploys/${encodeURIComponent(deploy.id)}`,
        )
      }
      if (deploy.state === 'error') {
        throw new NetlifyApiError(422, deploy.error_message || 'Netlify failed the deploy', false)
      }
      return deploy
    },

    /**
     * Streams one file into a deploy. `body` is consumed once, so failures are not retried here:
     * a transient one reaches the caller (and the client re-sends the file).
     */
    async uploadFile(
      token: string,
      deployId: string,
      path: string,
      body: Readable,
      size?: number,
    ): Promise<void> {
      const encodedPath = path.split('/').map(encodeURIComponent).join('/')
      return uploadLimit(token)(async () => {
        let res: Dispatcher.ResponseData
        try {
          res = await request(
            `${base}/deploys/${encodeURIComponent(deployId)}/files/${encodedPath}`,
            {
              method: 'PUT',
              dispatcher,
              headers: {
                authorization: `Bearer ${token}`,
                'user-agent': userAgent,
                'content-type': 'application/octet-stream',
                ...(size === undefined ? {} : { 'content-length': String(size) }),
              },
              body,
              headersTimeout: 120_000,
              bodyTimeout: 120_000,
            },
          )
        } catch (error) {
          throw toNetlifyError(error)
        }
        const text = await res.body.text()
        if (res.statusCode >= 400) throw errorFromResponse(res.statusCode, res.headers, text)
      })
    },

    close: () => dispatcher.close(),
  }
}

export type NetlifyClient = ReturnType<typeof createNetlifyClient>

const isDiffDone = (state: string) =>
  ['prepared', 'uploading', 'uploaded', 'processing', 'processed', 'ready'].includes(state)

function errorFromResponse(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
): NetlifyApiError {
  let message = text.slice(0, 500) || `HTTP ${status}`
  try {
    const json = JSON.parse(text) as { message?: unknown; error?: unknown }
    if (typeof json.message === 'string') message = json.message
    else if (typeof json.error === 'string') message = json.error
  } catch {
    // Netlify's edge answers HTML on some 502s; keep the text.
  }
  const reset = Number(headers['x-ratelimit-reset'])
  const retryAfter =
    status === 429 && Number.isFinite(reset) && reset > 0
      ? Math.max(1, Math.ceil(reset - Date.now() / 1000))
      : undefined
  const transient = status === 429 || status === 408 || status >= 500
  return new NetlifyApiError(status, message, transient, retryAfter)
}

function toNetlifyError(error: unknown): NetlifyApiError {
  if (error instanceof NetlifyApiError) return error
  const message = error instanceof Error ? error.message : String(error)
  // Network-level failures (reset, refused, timeouts) are transient by nature.
  return new NetlifyApiError(0, `Network error talking to Netlify: ${message}`, true)
}
