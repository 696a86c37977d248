import { Readable } from 'node:stream'
import { AGAIN, poll } from '../lib/poll.ts'
import { backoff, retry } from '../lib/retry.ts'
import { Agent, request, type Dispatcher } from 'undici'
import { NetlifyApiError, errorFromResponse, retryAfterMs, toNetlifyError } from './errors.ts'
import { createRatePacer, rateHeaders } from './pacer.ts'

export { NetlifyApiError } from './errors.ts'

/** The fields of Netlify's deploy object that the gateway reads. */
export interface NetlifyDeploy {
  id: string
  site_id: string
  state: string
  required?: string[]
  /** SHA-256s of the function zips Netlify lacks (may be absent when there are none). */
  required_functions?: string[]
  error_message?: string | null
  url?: string | null
  ssl_url?: string | null
  deploy_url?: string | null
  deploy_ssl_url?: string | null
  links?: { permalink?: string; alias?: string; branch?: string } | null
  branch?: string | null
  draft?: boolean
  title?: string | null
  created_at?: string | null
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
  /** Function name → SHA-256 of its zip. */
  functions?: Record<string, string>
  function_schedules?: { name: string; cron: string }[]
  functions_config?: Record<string, Record<string, unknown>>
}

/** The fields of a zip deploy besides its archive (see `createZipDeploy`). */
export interface CreateZipDeployInput {
  draft: boolean
  branch?: string
  title?: string
}

/**
 * How long a zip deploy's POST may wait for Netlify's answer once the archive is sent, and for
 * each piece of it: Netlify answers only after taking in the whole archive (up to 1 GiB).
 */
export const ZIP_DEPLOY_TIMEOUT_MS = 10 * 60_000

/** How a function zip is announced in its upload's query, as netlify-cli sends it. */
export interface FunctionUpload {
  name: string
  runtime: string
  invocationMode?: string | undefined
  timeout?: number | undefined
  size?: number | undefined
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
    // A single quick attempt must not sit out a rate-limit window either.
    const holdMs = attempts === 1 ? Math.min(timeoutMs, maxRateLimitWaitMs) : undefined
    return retry(
      async () => {
        try {
          return await once<T>(token, method, path, body, timeoutMs, holdMs)
        } catch (error) {
          throw toNetlifyError(error)
        }
      },
      {
        attempts,
        shouldRetry: (e) => (e as NetlifyApiError).transient,
        backoffMs: backoff({ firstMs: 200, maxMs: 5_000, jitter: 'equal' }),
        serverWaitMs: (error) => {
          const e = error as NetlifyApiError
          if (e.status !== 429) return undefined
          // A request-window 429 holds the token in the pacer: the next attempt waits there.
          return pacer.isHeld(token) ? 0 : retryAfterMs(e)
        },
        maxServerWaitMs: maxRateLimitWaitMs,
      },
    )
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

  /** One paced PUT of a one-shot body (a file or a function zip); never retried here. */
  function sendBody(token: string, path: string, body: Readable, size?: number): Promise<void> {
    return pacer.upload(token, async () => {
      // Held here, before the first body byte leaves: a 429 would waste the one-shot body.
      await pacer.acquire(token)
      let res: Dispatcher.ResponseData
      try {
        res = await request(base + path, {
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
        })
      } catch (error) {
        pacer.release(token)
        throw toNetlifyError(error)
      }
      pacer.release(token, rateHeaders(res.statusCode, res.headers))
      const text = await res.body.text()
      if (res.statusCode >= 400) throw errorFromResponse(res.statusCode, res.headers, text)
    })
  }

  /**
   * One paced POST whose body is `{"draft":…,"branch":…,"zip":"<base64 of zip>"}`, streamed.
   * `draft` and `branch` exist only as JSON fields (a raw `application/zip` body would always
   * deploy to production), so the archive travels base64 in the `zip` field.
   */
  async function createZipDeploy(
    token: string,
    siteId: string,
    input: CreateZipDeployInput,
    zip: Readable,
  ): Promise<NetlifyDeploy> {
    const query = input.title ? `?title=${encodeURIComponent(input.title)}` : ''
    const fields = JSON.stringify({
      draft: input.draft,
      ...(input.branch ? { branch: input.branch } : {}),
    })
    // The archive's own failure is the one to report, not the request it cut short.
    let zipError: unknown = null
    zip.once('error', (error) => (zipError ??= error))
    const body = Readable.from(zipJsonBody(`${fields.slice(0, -1)},"zip":"`, zip, '"}'))
    // Held here, before the first byte leaves: a 429 would waste the one-shot body.
    try {
      await pacer.acquire(token)
    } catch (error) {
      zip.destroy()
      throw error
    }
    let res: Dispatcher.ResponseData
    try {
      res = await request(`${base}/sites/${encodeURIComponent(siteId)}/deploys${query}`, {
        method: 'POST',
        dispatcher,
        headers: {
          authorization: `Bearer ${token}`,
          'user-agent': userAgent,
          'content-type': 'application/json',
        },
        body,
        headersTimeout: ZIP_DEPLOY_TIMEOUT_MS,
        bodyTimeout: ZIP_DEPLOY_TIMEOUT_MS,
      })
    } catch (error) {
      pacer.release(token)
      // The archive's producer must learn that nobody reads it any more.
      body.destroy()
      zip.destroy()
      throw zipError ?? toNetlifyError(error)
    }
    pacer.release(token, rateHeaders(res.statusCode, res.headers))
    const text = await res.body.text()
    if (res.statusCode >= 400) {
      // Netlify may refuse (413, 429) before the archive is all sent.
      zip.destroy()
      throw errorFromResponse(res.statusCode, res.headers, text)
    }
    return JSON.parse(text) as NetlifyDeploy
  }

  return {
    /** Checks a token: Netlify answers the token's user or 401. */
    getCurrentUser: (token: string) => call<{ id: string; email?: string }>(token, 'GET', '/user'),

    getSite: (token: string, siteId: string) =>
      call<NetlifySite>(token, 'GET', `/sites/${encodeURIComponent(siteId)}`),

    /** The site's newest deploys, newest first: one page of `perPage`. */
    listSiteDeploys: (token: string, siteId: string, perPage = 20) =>
      call<NetlifyDeploy[]>(
        token,
        'GET',
        `/sites/${encodeURIComponent(siteId)}/deploys?per_page=${perPage}`,
      ),

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
      // The title travels in the query, as netlify-cli sends it; the rest is the body.
      let deploy = await call<NetlifyDeploy>(
        token,
        'POST',
        `/sites/${encodeURIComponent(siteId)}/deploys${query}`,
        {
          files: input.files,
          draft: input.draft,
          branch: input.branch,
          async: isAsync,
          ...(input.functions ? { functions: input.functions } : {}),
          ...(input.function_schedules ? { function_schedules: input.function_schedules } : {}),
          ...(input.functions_config ? { functions_config: input.functions_config } : {}),
        },
      )
      // Short first intervals: a small diff is done in milliseconds, and every wasted interval
      // is time the customer's CI sits idle.
      const deadline = Date.now() + CREATE_DEPLOY_TIMEOUT_MS
      deploy = await poll(
        async ({ round }) => {
          if (round > 1) {
            deploy = await call<NetlifyDeploy>(
              token,
              'GET',
              `/deploys/${encodeURIComponent(deploy.id)}`,
            )
          }
          if (isDiffDone(deploy.state) || deploy.state === 'error') return deploy
          if (Date.now() > deadline) {
            throw new NetlifyApiError(504, 'Timed out waiting for Netlify to diff the files', true)
          }
          return AGAIN
        },
        { firstDelayMs: 25, maxDelayMs: 1_000 },
      )
      if (deploy.state === 'error') {
        throw new NetlifyApiError(422, deploy.error_message || 'Netlify failed the deploy', false)
      }
      return deploy
    },

    /**
     * Creates a deploy from a zip archive in one POST (one attempt: `zip` is consumed once). The
     * deploy comes back `uploaded` or later with nothing required; the caller polls it to ready.
     * A dropped connection is a transient NetlifyApiError, a refused archive (413, 422) a
     * permanent one, and a failing `zip` stream aborts the request with its own error.
     */
    createZipDeploy,

    /**
     * Streams one file into a deploy. `body` is consumed once, so failures are not retried here:
     * a transient one reaches the caller (and the client re-sends the file).
     */
    uploadFile: (token: string, deployId: string, path: string, body: Readable, size?: number) =>
      sendBody(
        token,
        `/deploys/${encodeURIComponent(deployId)}/files/${path.split('/').map(encodeURIComponent).join('/')}`,
        body,
        size,
      ),

    /** Streams one function zip into a deploy, like uploadFile (one attempt). */
    uploadFunction(
      token: string,
      deployId: string,
      fn: FunctionUpload,
      body: Readable,
    ): Promise<void> {
      const query = new URLSearchParams({ runtime: fn.runtime })
      if (fn.invocationMode) query.set('invocation_mode', fn.invocationMode)
      if (fn.timeout !== undefined) query.set('timeout', String(fn.timeout))
      if (fn.size !== undefined) query.set('size', String(fn.size))
      return sendBody(
        token,
        `/deploys/${encodeURIComponent(deployId)}/functions/${encodeURIComponent(fn.name)}?${query}`,
        body,
        fn.size,
      )
    },

    /**
     * File PUTs (or any requests) `token` can still send in Netlify's current rate window
     * before one must wait for the reset; undefined when no limit is announced.
     */
    requestBudget: (token: string): number | undefined => pacer.remaining(token),

    close: () => dispatcher.close(),
  }
}

export type NetlifyClient = ReturnType<typeof createNetlifyClient>

/**
 * `head`, then `zip` as base64, then `tail`. Base64 turns every 3 bytes into 4 characters, so
 * the 0–2 bytes of a chunk that do not fill a group wait for the next chunk.
 */
async function* zipJsonBody(head: string, zip: Readable, tail: string): AsyncGenerator<Buffer> {
  yield Buffer.from(head)
  let carry = Buffer.alloc(0)
  for await (const chunk of zip as AsyncIterable<Buffer>) {
    const bytes = carry.length === 0 ? chunk : Buffer.concat([carry, chunk])
    const whole = bytes.length - (bytes.length % 3)
    carry = Buffer.from(bytes.subarray(whole))
    if (whole > 0) yield Buffer.from(bytes.subarray(0, whole).toString('base64'), 'latin1')
  }
  yield Buffer.from(carry.toString('base64') + tail)
}

const isDiffDone = (state: string) =>
  ['prepared', 'uploading', 'uploaded', 'processing', 'processed', 'ready'].includes(state)
