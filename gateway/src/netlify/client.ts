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

/**
 * The longest createDeploy waits for Netlify's diff. A push still without a deploy id this long
 * after its init is taken to belong to a process that died mid-creation (see push-lifecycle).
 */
export const CREATE_DEPLOY_TIMEOUT_MS = 5 * 60_000

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
  /**
   * Requests of any kind in flight per token while Netlify announces a budget (default: twice
   * `uploadConcurrency`). It bounds what another process on the same token can overspend.
   */
  maxInFlightPerToken?: number
}

/** Netlify starts diffing on its side (async) above this many files, as netlify-cli does. */
export const ASYNC_DIFF_THRESHOLD = 100

/**
 * The only module that talks to Netlify. Every call is paced per token (see `createRatePacer`).
 * JSON calls retry 429 (waiting for `X-RateLimit-Reset`), 5xx and network errors with exponential
 * backoff; file uploads stream a body that cannot be replayed, so they surface transient failures
 * for the caller to retry.
 */
export function createNetlifyClient(options: NetlifyClientOptions) {
  const base = options.baseUrl.replace(/\/+$/, '')
  const maxAttempts = options.maxAttempts ?? 5
  const maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 60_000
  const userAgent = options.userAgent ?? 'kaixu-gateway'
  const dispatcher: Dispatcher = new Agent({ keepAliveTimeout: 10_000, connections: 64 })
  // Every request, JSON or file, passes through one pacer: per-token budgets and upload slots.
  const pacer = createRatePacer({
    uploadConcurrency: options.uploadConcurrency ?? 5,
    maxInFlight: options.maxInFlightPerToken ?? 2 * (options.uploadConcurrency ?? 5),
    maxWaitMs: maxRateLimitWaitMs,
  })

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
        // A single quick attempt must not sit out a rate-limit window either.
        const holdMs = attempts === 1 ? Math.min(timeoutMs, maxRateLimitWaitMs) : undefined
        return await once<T>(token, method, path, body, timeoutMs, holdMs)
      } catch (error) {
        const e = toNetlifyError(error)
        if (!e.transient || attempt >= attempts) throw e
        // A request-window 429 holds the token in the pacer: the next attempt waits there.
        if (e.status === 429 && pacer.isHeld(token)) continue
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
    maxWaitMs?: number,
  ): Promise<T> {
    await pacer.acquire(token, maxWaitMs)
    let res: Dispatcher.ResponseData
    try {
      res = await request(base + path, {
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
    } catch (error) {
      pacer.release(token)
      throw error
    }
    pacer.release(token, rateHeaders(res.statusCode, res.headers))
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
      const deadline = Date.now() + CREATE_DEPLOY_TIMEOUT_MS
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
      return pacer.upload(token, async () => {
        // Held here, before the first body byte leaves: a 429 would waste the one-shot body.
        await pacer.acquire(token)
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
          pacer.release(token)
          throw toNetlifyError(error)
        }
        pacer.release(token, rateHeaders(res.statusCode, res.headers))
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
  // A body longer or shorter than the Content-Length we announced fails the same way every
  // time: retrying would only hold a worker (and Netlify's upload slot) again.
  if ((error as { code?: unknown } | null)?.code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    return new NetlifyApiError(
      0,
      `The body's length differs from its Content-Length: ${message}`,
      false,
    )
  }
  // Network-level failures (reset, refused, timeouts) are transient by nature.
  return new NetlifyApiError(0, `Network error talking to Netlify: ${message}`, true)
}

/** Slack after `X-RateLimit-Reset` before a held token sends again: clocks are never in step. */
const RESET_MARGIN_MS = 200
/** Shortest hold after a 429 whose reset is already past by our clock (as netlify-cli does). */
const MIN_429_HOLD_MS = 1_000
/** How often idle tokens are forgotten. */
const SWEEP_EVERY_MS = 60_000

interface TokenState {
  /** `X-RateLimit-Limit` last seen: the budget of a fresh window. */
  limit: number | undefined
  /**
   * Requests this token may still send in the current window, counting those in flight as spent.
   * `undefined` until Netlify has told us: one request at a time goes out to find out.
   */
  remaining: number | undefined
  /** Netlify's answers carry no budget at all (a lifted limit, a proxy): nothing to pace. */
  unlimited: boolean
  /** When the current window ends (epoch ms, from `X-RateLimit-Reset`). */
  resetMs: number | undefined
  inFlight: number
  /** Requests waiting for the window to reset (or for an answer that tells us more). */
  waiters: (() => void)[]
  timer: NodeJS.Timeout | undefined
  uploads: LimitFunction
}

/** What a paced request learnt from Netlify's answer. */
export interface RateHeaders {
  status: number
  limit?: number | undefined
  remaining?: number | undefined
  /** Epoch seconds. */
  reset?: number | undefined
  /** A 429 for too many file PUTs in flight (`x-concurrent-remaining: 0`), not the window. */
  concurrencyCapped?: boolean
}

/**
 * Paces each token's calls to the request budget Netlify announces in `X-RateLimit-Limit`,
 * `-Remaining` and `-Reset`: once a window's budget is spent, new requests wait for the reset
 * instead of going out into a 429. This matters most for file PUTs, whose body stream cannot be
 * replayed after a 429. The state is per token, so one customer's burst never holds another's
 * requests, and a token idle past its window is forgotten.
 *
 * Each gateway process paces on its own view. With two processes on one token, both read the
 * `Remaining` Netlify counts for the token as a whole, so each sees the other's spending within
 * one round trip and they converge. What one cannot see is the other's requests in flight, so
 * those are capped (`maxInFlight`): at the end of a window, or just after its reset when both
 * believe the budget is whole, the overspend is at most the other's in-flight requests, and each
 * 429 holds that process's queue until the reset too.
 */
export function createRatePacer(options: {
  uploadConcurrency: number
  /** Requests in flight per token while a budget is known (see `maxInFlightPerToken`). */
  maxInFlight?: number
  /** Longest hold before a request is refused with a transient 429 instead of waiting. */
  maxWaitMs: number
  now?: () => number
}) {
  const now = options.now ?? Date.now
  const maxInFlight = options.maxInFlight ?? Infinity
  const states = new Map<string, TokenState>()
  let lastSweep = now()

  const stateOf = (token: string): TokenState => {
    if (now() - lastSweep >= SWEEP_EVERY_MS) sweep()
    let s = states.get(token)
    if (!s) {
      s = {
        limit: undefined,
        remaining: undefined,
        unlimited: false,
        resetMs: undefined,
        inFlight: 0,
        waiters: [],
        timer: undefined,
        uploads: pLimit(options.uploadConcurrency),
      }
      states.set(token, s)
    }
    return s
  }

  // A token nobody is using, whose window is over, has nothing left worth remembering.
  function sweep() {
    lastSweep = now()
    for (const [token, s] of states) {
      const idle = s.inFlight === 0 && s.waiters.length === 0 && !s.timer
      const uploadsIdle = s.uploads.activeCount === 0 && s.uploads.pendingCount === 0
      if (idle && uploadsIdle && (s.resetMs === undefined || s.resetMs <= lastSweep)) {
        states.delete(token)
      }
    }
  }

  function wake(s: TokenState) {
    const waiters = s.waiters
    s.waiters = []
    for (const w of waiters) w()
  }

  /** Waits until `token` may send one more request, and counts it as spent. */
  async function acquire(token: string, maxWaitMs = options.maxWaitMs): Promise<void> {
    const s = stateOf(token)
    for (;;) {
      const t = now()
      if (s.resetMs !== undefined && t >= s.resetMs + RESET_MARGIN_MS) {
        // A new window: the full budget, less what is still in flight (it may land in it).
        s.resetMs = undefined
        s.remaining = s.limit === undefined ? undefined : s.limit - s.inFlight
      }
      // Spent, with no reset known and nothing in flight to tell us one: ask Netlify again.
      if (s.remaining !== undefined && s.resetMs === undefined && s.inFlight === 0) {
        s.remaining = undefined
      }
      // Budget unknown: a single request goes out and its answer tells the others what is left.
      const go =
        s.unlimited ||
        (s.remaining === undefined ? s.inFlight === 0 : s.remaining > 0 && s.inFlight < maxInFlight)
      if (go) {
        if (s.remaining !== undefined) s.remaining--
        s.inFlight++
        return
      }
      if (s.resetMs !== undefined && s.resetMs - t > maxWaitMs) {
        throw new NetlifyApiError(
          429,
          'Netlify API rate limit reached for this token; try again after the reset',
          true,
          Math.ceil((s.resetMs - t) / 1000),
        )
      }
      // Out of budget: wait for the reset, or (reset unknown) for an answer that tells us.
      if (s.resetMs !== undefined && !s.timer) {
        s.timer = setTimeout(
          () => {
            s.timer = undefined
            wake(s)
          },
          s.resetMs + RESET_MARGIN_MS - t,
        )
        // A held request alone must not keep a shutting-down process alive for a minute.
        s.timer.unref()
      }
      await new Promise<void>((resolve) => s.waiters.push(resolve))
    }
  }

  /** Counts a request as answered (`headers` undefined: no answer) and learns from its headers. */
  function release(token: string, headers?: RateHeaders): void {
    const s = states.get(token)
    if (!s) return
    s.inFlight = Math.max(0, s.inFlight - 1)
    if (headers) learn(s, headers)
    // Nothing to wake while a reset timer is pending: the budget only grows at the reset.
    if (!s.timer) wake(s)
  }

  function learn(s: TokenState, h: RateHeaders) {
    const t = now()
    // A 429 that still leaves budget is another limit (deploys per minute, uploads in flight):
    // it says nothing about the request window and must not hold the token's other calls.
    if (h.status === 429 && ((h.remaining ?? 0) > 0 || h.concurrencyCapped)) return
    if (h.limit !== undefined) s.limit = h.limit
    if (h.status === 429) {
      const resetMs = h.reset !== undefined ? h.reset * 1000 : 0
      // The 429's own reset is Netlify's latest word, even if sooner than the window we knew.
      s.resetMs = Math.max(resetMs, t + MIN_429_HOLD_MS)
      s.remaining = 0
      s.unlimited = false
      return
    }
    if (h.remaining === undefined || h.reset === undefined) {
      // No budget announced (a limit lifted, or a proxy in between): nothing to pace on.
      s.remaining = undefined
      s.resetMs = undefined
      s.unlimited = true
      return
    }
    s.unlimited = false
    const resetMs = h.reset * 1000
    // Answers from a window that is already over (sent before it ended) tell us nothing.
    if (resetMs + RESET_MARGIN_MS <= t) return
    // The others in flight may not have been counted yet: assume they will be, in this window.
    const left = h.remaining - s.inFlight
    if (s.resetMs === undefined || resetMs > s.resetMs) {
      s.resetMs = resetMs
      s.remaining = left
    } else {
      s.remaining = Math.min(s.remaining ?? left, left)
    }
  }

  return {
    acquire,
    release,
    /** Runs `fn` in one of `token`'s upload slots (Netlify caps file PUTs in flight per token). */
    upload: <T>(token: string, fn: () => Promise<T>): Promise<T> => stateOf(token).uploads(fn),
    /** Whether `token` is being held back until its window resets. */
    isHeld: (token: string): boolean => {
      const s = states.get(token)
      return !!s && s.remaining !== undefined && s.remaining <= 0 && s.resetMs !== undefined
    },
    /** Tokens remembered (tests: idle ones are forgotten). */
    get size() {
      return states.size
    },
    sweep,
  }
}

export type RatePacer = ReturnType<typeof createRatePacer>

function rateHeaders(
  status: number,
  headers: Record<string, string | string[] | undefined>,
): RateHeaders {
  const num = (name: string) => {
    const raw = headers[name]
    const n = Number(Array.isArray(raw) ? raw[0] : raw)
    return raw === undefined || !Number.isFinite(n) ? undefined : n
  }
  return {
    status,
    limit: num('x-ratelimit-limit'),
    remaining: num('x-ratelimit-remaining'),
    reset: num('x-ratelimit-reset'),
    concurrencyCapped: status === 429 && num('x-concurrent-remaining') === 0,
  }
}
