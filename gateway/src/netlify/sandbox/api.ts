import type { Request, Response } from 'express'
import mime from 'mime-types'
import { unlink } from 'node:fs/promises'
import { posix } from 'node:path'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { BlobStore } from './blob-store.ts'
import { ApiError, sendError } from './errors.ts'
import { applyFault } from './faults.ts'
import type { FaultQueue } from './faults.ts'
import { ConcurrencyLimiter, DeployCreationLimiter, RateLimiter } from './limits.ts'
import { branchSlug, decodeUploadPath, isSha1, normalizeDeployPath } from './paths.ts'
import { RouteTable, readJsonBody, splitUrl } from './routing.ts'
import { accountJson, deployJson, siteJson, userJson } from './serialize.ts'
import type { SandboxUrls } from './serialize.ts'
import type { StatsCounter } from './stats.ts'
import type { DeployInput, SandboxStore } from './store.ts'
import type { AccountRecord, DeployRecord, SandboxConfig, SiteRecord } from './types.ts'
import { stageArchive } from './zip-archive.ts'
import { readDeployBody } from './zip-body.ts'

/** Everything the API handlers share. */
export interface ApiDeps {
  store: SandboxStore
  blobs: BlobStore
  urls: SandboxUrls
  stats: StatsCounter
  faults: FaultQueue
  config: () => SandboxConfig
  log?: Logger
}

interface Ctx {
  req: Request
  res: Response
  params: Record<string, string>
  query: URLSearchParams
  account: AccountRecord
  token: string
  body: unknown
}

type Handler = (ctx: Ctx) => Promise<void> | void

/** The Netlify API handler plus the limiters whose state the control API can clear. */
export interface NetlifyApi {
  handle(req: Request, res: Response): Promise<void>
  /** Forgets rate-limit windows (after a config change or a reset). */
  resetLimits(): void
}

/** Mount point of the API, as in `https://api.netlify.com/api/v1`. */
export const API_PREFIX = '/api/v1'

// No field of `deployFiles` is required and clients send undeclared ones (deploy_source,
// include_upload_url, build_version…), so unknown keys are kept and ignored.
const deployBodySchema = z.looseObject({
  files: z.record(z.string(), z.unknown()).nullish(),
  // A create's base64 `zip` string never gets here (zip-body.ts takes it out of the body).
  zip: z
    .null({ error: 'send the archive as one base64 string when creating the deploy' })
    .optional(),
  functions: z.record(z.string(), z.unknown()).nullish(),
  draft: z.boolean().nullish(),
  branch: z.string().nullish(),
  async: z.boolean().nullish(),
})

const siteBodySchema = z.looseObject({
  name: z.string().min(1).nullish(),
})

/** Netlify's function bundle limit (50 MB): a bigger zip is refused with 422. */
export const FUNCTION_MAX_BYTES = 50 * 1024 * 1024

/** Netlify's zip deploy limit (1 GiB); `maxZipBytes` in the config lowers it for tests. */
export const ZIP_MAX_BYTES = 1024 * 1024 * 1024

/** Function names as netlify-cli derives them: they are a path segment of the upload URL. */
const FUNCTION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$/
const SHA256 = /^[0-9a-f]{64}$/i

/** Creates the handler of `/api/v1/*`. */
export function createNetlifyApi(deps: ApiDeps): NetlifyApi {
  const { store, stats, faults, config } = deps
  const rateLimiter = new RateLimiter()
  const deployLimiter = new DeployCreationLimiter()
  const concurrency = new ConcurrencyLimiter()
  const routes = buildRoutes(deps, deployLimiter, concurrency)

  async function handle(req: Request, res: Response): Promise<void> {
    const { path, query } = splitUrl(req.url.slice(API_PREFIX.length))
    const params = new URLSearchParams(query)
    try {
      let match: ReturnType<typeof routes.match> = null
      let matchError: unknown = null
      try {
        match = routes.match(req.method, path || '/')
      } catch (err) {
        matchError = err
      }
      stats.request(`${req.method} ${match?.route.template ?? '(unmatched)'}`)

      const fault = faults.take('api', req.method, req.url)
      if (fault) {
        stats.bump('faultsInjected')
        deps.log?.debug({ url: req.url, fault }, 'sandbox fault injected')
        // A 429 without headers would be useless to clients that wait for X-RateLimit-Reset.
        const extra = fault.status === 429 ? rateHeaders(config(), 0, nowSeconds() + 1) : {}
        if (await applyFault(fault, req, res, extra)) return
      }

      const token = bearerToken(req, params)
      const limit = config().rateLimitPerMinute
      if (limit !== null) {
        const key = token ?? `anonymous:${req.socket.remoteAddress ?? ''}`
        const decision = rateLimiter.take(key, limit)
        for (const [k, v] of Object.entries(
          rateHeaders(config(), decision.remaining, decision.reset),
        ))
          res.setHeader(k, v)
        if (!decision.allowed) {
          stats.bump('rateLimited')
          throw new ApiError(429, `API rate limit exceeded: ${limit} requests per minute`)
        }
      }

      const account = token ? store.accountForToken(token) : null
      if (!token || !account) throw new ApiError(401, 'Access Denied: Invalid token')
      if (matchError) throw matchError
      if (!match) throw new ApiError(404, 'Not Found')
      const body = match.route.json ? await readJsonBody(req, res) : undefined
      await match.route.handler({
        req,
        res,
        params: match.params,
        query: params,
        account,
        token,
        body,
      })
    } catch (err) {
      if (!(err instanceof ApiError)) deps.log?.error({ err, url: req.url }, 'sandbox API error')
      // An unread upload body would otherwise stall a keep-alive connection.
      if (!req.complete) req.resume()
      const status = err instanceof ApiError ? err.status : 500
      if (err instanceof ApiError)
        for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v)
      sendError(res, status, err instanceof ApiError ? err.message : 'Internal Server Error')
    }
  }

  return {
    handle,
    resetLimits() {
      rateLimiter.clear()
      deployLimiter.clear()
    },
  }
}

function nowSeconds(): number {
  return Math.ceil(Date.now() / 1000)
}

function rateHeaders(
  config: SandboxConfig,
  remaining: number,
  reset: number,
): Record<string, string> {
  return {
    'X-RateLimit-Limit': String(config.rateLimitPerMinute ?? 500),
    'X-RateLimit-Remaining': String(remaining),
    'X-RateLimit-Reset': String(reset),
  }
}

function bearerToken(req: Request, query: URLSearchParams): string | null {
  const header = req.headers.authorization
  const m = header ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null
  const token = m ? m[1]!.trim() : (query.get('access_token') ?? '')
  return token === '' ? null : token
}

function zodMessage(error: z.ZodError): string {
  const issue = error.issues[0]
  if (!issue) return 'Invalid body'
  return issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message
}

/** Validates a `deployFiles` body into a DeployInput (422 on bad input, as Netlify). */
function parseDeployBody(body: unknown): DeployInput {
  const parsed = deployBodySchema.safeParse(body ?? {})
  if (!parsed.success) throw new ApiError(422, zodMessage(parsed.error))
  const { files, draft, branch } = parsed.data
  const functions = new Map<string, string>()
  for (const [name, sha] of Object.entries(parsed.data.functions ?? {})) {
    if (!FUNCTION_NAME.test(name)) {
      throw new ApiError(422, `Invalid function name: ${JSON.stringify(name)}`)
    }
    if (typeof sha !== 'string' || !SHA256.test(sha)) {
      throw new ApiError(422, `Invalid SHA256 for function ${name}: expected 64 hex characters`)
    }
    functions.set(name, sha.toLowerCase())
  }
  let digest: Map<string, string> | undefined
  if (files) {
    digest = new Map()
    for (const [rawPath, sha] of Object.entries(files)) {
      const path = normalizeDeployPath(rawPath)
      if (path === null) throw new ApiError(422, `Invalid file path: ${JSON.stringify(rawPath)}`)
      if (typeof sha !== 'string' || !isSha1(sha)) {
        throw new ApiError(422, `Invalid SHA1 for file ${path}: expected 40 hex characters`)
      }
      const lower = sha.toLowerCase()
      const previous = digest.get(path)
      if (previous !== undefined && previous !== lower) {
        throw new ApiError(422, `File ${path} is listed twice with different SHA1s`)
      }
      digest.set(path, lower)
    }
  }
  let slug: string | null = null
  if (branch) {
    slug = branchSlug(branch)
    if (slug === '') throw new ApiError(422, `Invalid branch: ${JSON.stringify(branch)}`)
  }
  return {
    ...(digest ? { files: digest } : {}),
    ...(functions.size > 0 ? { functions } : {}),
    draft: draft ?? false,
    branch: branch || null,
    branchSlug: slug,
    async: parsed.data.async ?? false,
  }
}

function paginate<T>(items: T[], query: URLSearchParams): T[] {
  const perPage = Math.min(Math.max(Number(query.get('per_page')) || 100, 1), 1000)
  const page = Math.max(Number(query.get('page')) || 1, 1)
  return items.slice((page - 1) * perPage, page * perPage)
}

function buildRoutes(
  deps: ApiDeps,
  deployLimiter: DeployCreationLimiter,
  concurrency: ConcurrencyLimiter,
): RouteTable<Handler> {
  const { store, urls, stats } = deps

  const site = (ctx: Ctx): SiteRecord => {
    const found = store.findSite(ctx.account, ctx.params.site_id!)
    if (!found) throw new ApiError(404, 'Not Found')
    return found
  }
  const deploy = (ctx: Ctx, of?: SiteRecord): DeployRecord => {
    const found = store.findDeploy(ctx.account, ctx.params.deploy_id!)
    if (!found || (of && found.siteId !== of.id)) throw new ApiError(404, 'Not Found')
    return found
  }
  const deployOut = (d: DeployRecord): Record<string, unknown> =>
    deployJson(d, store.sites.get(d.siteId)!, urls)
  const siteOut = (s: SiteRecord): Record<string, unknown> => {
    const published = s.publishedDeployId ? (store.deploys.get(s.publishedDeployId) ?? null) : null
    return siteJson(s, store.accounts.get(s.accountId)!, published, urls)
  }
  const createSite = (ctx: Ctx): void => {
    const parsed = siteBodySchema.safeParse(ctx.body ?? {})
    if (!parsed.success) throw new ApiError(422, zodMessage(parsed.error))
    const created = store.createSite(ctx.account, parsed.data.name ?? undefined)
    stats.bump('sitesCreated')
    ctx.res.status(201).json(siteOut(created))
  }

  const routes = new RouteTable<Handler>()
  routes
    .add('GET', '/user', (ctx) => {
      ctx.res.json(userJson(ctx.account, store.listSites(ctx.account).length))
    })
    .add('GET', '/accounts', (ctx) => {
      ctx.res.json([accountJson(ctx.account)])
    })
    // netlify-cli reads environment variables before deploying; the sandbox has none.
    .add('GET', '/accounts/:account_id/env', (ctx) => {
      const id = ctx.params.account_id
      if (id !== ctx.account.slug && id !== ctx.account.id) throw new ApiError(404, 'Not Found')
      ctx.res.json([])
    })
    .add('GET', '/sites', (ctx) => {
      const list = store.listSites(ctx.account, ctx.query.get('name') ?? undefined)
      ctx.res.json(paginate(list, ctx.query).map(siteOut))
    })
    .add('POST', '/sites', createSite, { json: true })
    .add(
      'POST',
      '/:account_slug/sites',
      (ctx) => {
        if (ctx.params.account_slug !== ctx.account.slug) throw new ApiError(404, 'Not Found')
        createSite(ctx)
      },
      { json: true },
    )
    .add('GET', '/sites/:site_id', (ctx) => {
      ctx.res.json(siteOut(site(ctx)))
    })
    .add('DELETE', '/sites/:site_id', (ctx) => {
      store.deleteSite(site(ctx))
      ctx.res.status(204).end()
    })
    .add('GET', '/sites/:site_id/deploys', (ctx) => {
      const s = site(ctx)
      const state = ctx.query.get('state')
      const branch = ctx.query.get('branch')
      const production = ctx.query.get('production') === 'true'
      const list = store
        .deploysOfSite(s)
        .filter((d) => !state || d.state === state)
        .filter((d) => !branch || d.branch === branch)
        .filter((d) => !production || (!d.draft && !d.branch))
      ctx.res.json(paginate(list, ctx.query).map(deployOut))
    })
    // Not a `json` route: the body may be a zip of up to 1 GiB, which createDeploy streams.
    .add('POST', '/sites/:site_id/deploys', (ctx) =>
      createDeploy(ctx, site(ctx), deps, deployLimiter, deployOut),
    )
    .add('GET', '/sites/:site_id/deploys/:deploy_id', (ctx) => {
      ctx.res.json(deployOut(deploy(ctx, site(ctx))))
    })
    .add(
      'PUT',
      '/sites/:site_id/deploys/:deploy_id',
      (ctx) => {
        const d = deploy(ctx, site(ctx))
        store.updateDeploy(d, parseDeployBody(ctx.body))
        ctx.res.json(deployOut(d))
      },
      { json: true },
    )
    .add('POST', '/sites/:site_id/deploys/:deploy_id/restore', (ctx) => {
      const s = site(ctx)
      const d = deploy(ctx, s)
      store.restoreDeploy(s, d)
      ctx.res.status(201).json(deployOut(d))
    })
    .add('GET', '/deploys/:deploy_id', (ctx) => {
      ctx.res.json(deployOut(deploy(ctx)))
    })
    .add('POST', '/deploys/:deploy_id/cancel', (ctx) => {
      const d = deploy(ctx)
      store.cancelDeploy(d)
      ctx.res.status(201).json(deployOut(d))
    })
    .add('POST', '/deploys/:deploy_id/lock', (ctx) => {
      const d = deploy(ctx)
      store.setLocked(d, true)
      ctx.res.json(deployOut(d))
    })
    .add('POST', '/deploys/:deploy_id/unlock', (ctx) => {
      const d = deploy(ctx)
      store.setLocked(d, false)
      ctx.res.json(deployOut(d))
    })
    .add('PUT', '/deploys/:deploy_id/files/*path', (ctx) => uploadFile(ctx, deps, concurrency))
    .add('PUT', '/deploys/:deploy_id/functions/:name', (ctx) => uploadFunction(ctx, deps))
  return routes
}

/**
 * `POST /sites/:id/deploys`: a digest deploy (JSON `files`), or a zip deploy whose archive is the
 * raw body (`application/zip`: no draft, no branch) or the base64 `zip` field of the JSON body
 * beside `draft` and `branch`. The archive's files are stored as uploads are, and the deploy
 * then goes on like a digest deploy whose last file arrived. Either counts against the site's
 * deploy creations; a zip's count is taken before its archive is read.
 */
async function createDeploy(
  ctx: Ctx,
  s: SiteRecord,
  deps: ApiDeps,
  deployLimiter: DeployCreationLimiter,
  deployOut: (d: DeployRecord) => Record<string, unknown>,
): Promise<void> {
  const { store, blobs, stats, config } = deps
  const countCreation = () => {
    const perMinute = config().deploysPerMinute
    if (perMinute === null) return
    const decision = deployLimiter.take(s.id, perMinute)
    if (!decision.allowed) {
      stats.bump('deployRateLimited')
      throw new ApiError(429, `Deploys are rate limited to ${perMinute} deploys/minute`, {
        'X-RateLimit-Reset': String(decision.reset),
      })
    }
  }
  const title = ctx.query.get('title')
  const { fields, archive } = await readDeployBody(ctx.req, {
    tempPath: blobs.tempPath('.zip'),
    maxArchiveBytes: config().maxZipBytes,
    onArchive: countCreation,
  })
  if (!archive) {
    const input = parseDeployBody(fields)
    countCreation()
    const created = store.createDeploy(s, input, title)
    stats.bump('deploysCreated')
    ctx.res.json(deployOut(created))
    return
  }
  try {
    const input = parseDeployBody(fields)
    if (input.files || input.functions)
      throw new ApiError(
        422,
        'A zip deploy takes its files from the zip: send no files or functions',
      )
    const staged = await stageArchive(archive.path, blobs)
    // The site may have been deleted (or the sandbox reset) while the archive streamed in.
    if (store.sites.get(s.id) !== s) {
      await staged.discard()
      throw new ApiError(404, 'Not Found')
    }
    await staged.commit()
    const created = store.createZipDeploy(s, { ...input, files: staged.files }, title)
    stats.bump('deploysCreated')
    stats.zipDeploy(archive.size, staged.files.size)
    ctx.res.json(deployOut(created))
  } finally {
    await unlink(archive.path).catch(() => {})
  }
}

/**
 * `PUT /deploys/:id/files/*path`: streams the body through SHA-1 to disk and keeps it only if
 * it hashes to the sha the digest gave for that path.
 */
async function uploadFile(ctx: Ctx, deps: ApiDeps, concurrency: ConcurrencyLimiter): Promise<void> {
  const { req, res, account, token } = ctx
  const { store, blobs, stats } = deps
  const limit = deps.config().concurrentUploads
  const remaining = concurrency.acquire(token, limit)
  if (limit !== null) res.setHeader('x-concurrent-limit', String(limit))
  res.setHeader('x-concurrent-status', 'checked')
  if (remaining === null) {
    stats.bump('concurrencyLimited')
    res.setHeader('x-concurrent-remaining', '0')
    throw new ApiError(429, `Too many concurrent uploads: the limit is ${limit}`)
  }
  if (limit !== null) res.setHeader('x-concurrent-remaining', String(remaining))
  res.once('close', () => concurrency.release(token))

  const d = store.findDeploy(account, ctx.params.deploy_id!)
  if (!d) throw new ApiError(404, 'Not Found')
  const path = decodeUploadPath(ctx.params.path!)
  if (path === null) throw new ApiError(422, 'Invalid file path')
  if (isClosed(d)) throw new ApiError(422, 'No records matched')
  const expected = d.files?.get(path)
  if (expected === undefined) throw new ApiError(422, 'No records matched')

  const blob = await blobs.ingest(req)
  if (blob.sha !== expected) {
    await blob.discard()
    stats.bump('uploadMismatches')
    throw new ApiError(422, `Uploaded file ${path} did not match deploy`)
  }
  // The deploy may have been cancelled while the body streamed in.
  if (isClosed(d)) {
    await blob.discard()
    throw new ApiError(422, 'No records matched')
  }
  await blob.commit()
  store.acceptUpload(d, blob.sha)
  stats.filePut(blob.sha, path, blob.size)
  const ext = posix.extname(path)
  res.json({
    id: `/${path}`,
    path: `/${path}`,
    sha: blob.sha,
    mime_type: (ext && mime.lookup(ext)) || 'application/octet-stream',
    size: blob.size,
  })
}

/**
 * `PUT /deploys/:id/functions/:name?runtime=…`: streams the zip through SHA-256 to disk and keeps
 * it only if it hashes to the sha the digest gave that function. The sandbox stores functions so
 * deploys complete as on Netlify; it never runs them.
 */
async function uploadFunction(ctx: Ctx, deps: ApiDeps): Promise<void> {
  const { req, res, account, query } = ctx
  const { store, blobs, stats } = deps
  const d = store.findDeploy(account, ctx.params.deploy_id!)
  if (!d) throw new ApiError(404, 'Not Found')
  const name = ctx.params.name!
  if (!query.get('runtime')) throw new ApiError(422, 'runtime is required')
  if (isClosed(d)) throw new ApiError(422, 'No records matched')
  const expected = d.functions.get(name)
  if (expected === undefined) throw new ApiError(422, 'No records matched')
  const blob = await blobs.ingest(req, 'sha256')
  if (blob.size > FUNCTION_MAX_BYTES) {
    await blob.discard()
    throw new ApiError(422, `Function ${name} is larger than the 50MB limit`)
  }
  if (blob.sha !== expected) {
    await blob.discard()
    stats.bump('uploadMismatches')
    throw new ApiError(422, `Uploaded function ${name} did not match deploy`)
  }
  if (isClosed(d)) {
    await blob.discard()
    throw new ApiError(422, 'No records matched')
  }
  await blob.commit()
  store.acceptFunction(d, blob.sha)
  stats.functionPut(name, blob.size)
  res.json({ id: name, name, sha: blob.sha, region: 'us-east-1' })
}

/** Cancelled or failed: the deploy takes no more files. */
function isClosed(d: DeployRecord): boolean {
  return d.cancelled || d.state === 'error'
}
