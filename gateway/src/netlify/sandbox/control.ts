import type { Request, Response } from 'express'
import type { Logger } from 'pino'
import { z } from 'zod'
import { ApiError, sendError } from './errors.ts'
import { faultSchema } from './faults.ts'
import type { FaultQueue } from './faults.ts'
import { RouteTable, readJsonBody, splitUrl } from './routing.ts'
import { deployJson, siteJson } from './serialize.ts'
import type { SandboxUrls } from './serialize.ts'
import type { StatsCounter } from './stats.ts'
import type { SandboxStore } from './store.ts'
import type { SandboxConfig, SiteRecord } from './types.ts'

/** Mount point of the control API. */
export const CONTROL_PREFIX = '/__sandbox'

/** What the control API may change. */
export interface ControlDeps {
  store: SandboxStore
  stats: StatsCounter
  faults: FaultQueue
  urls: SandboxUrls
  getConfig(): SandboxConfig
  setConfig(patch: Partial<SandboxConfig>): SandboxConfig
  /** Back to a fresh sandbox: no sites, deploys, faults, stats; default config. */
  resetAll(): void
  log?: Logger
}

interface Ctx {
  req: Request
  res: Response
  params: Record<string, string>
  body: unknown
}

type Handler = (ctx: Ctx) => Promise<void> | void

const limitSchema = z.number().int().min(1).nullable().optional()
const configSchema = z.strictObject({
  rateLimitPerMinute: limitSchema,
  concurrentUploads: limitSchema,
  deploysPerMinute: limitSchema,
  processingMs: z.number().min(0).max(600_000).optional(),
  diffMs: z.number().min(0).max(600_000).optional(),
  maxZipBytes: z.number().int().min(1).optional(),
})
const tokenSchema = z.object({ token: z.string().min(1) })
const bindSchema = z.object({ token: z.string().min(1), accountSlug: z.string().min(1) })
const failSchema = z.object({ message: z.string().min(1).optional() })
const failNextSchema = z.object({
  count: z.number().int().min(0).optional(),
  message: z.string().min(1).optional(),
})
const faultsBodySchema = z.union([
  z.array(faultSchema),
  z.object({ faults: z.array(faultSchema) }),
  faultSchema,
])

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {})
  if (!result.success) {
    const issue = result.error.issues[0]
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : ''
    throw new ApiError(422, `${where}${issue?.message ?? 'Invalid body'}`)
  }
  return result.data
}

/**
 * The unauthenticated test/dev control API at `/__sandbox/*`: revoke tokens, change limits,
 * schedule faults, fail deploys, read counters. Never expose it outside tests and demos.
 */
export function createControlApi(
  deps: ControlDeps,
): (req: Request, res: Response) => Promise<void> {
  const { store, stats, faults, urls } = deps

  const siteWithDeploys = (site: SiteRecord): Record<string, unknown> => {
    const published = site.publishedDeployId
      ? (store.deploys.get(site.publishedDeployId) ?? null)
      : null
    return {
      ...siteJson(site, store.accounts.get(site.accountId)!, published, urls),
      branch_deploys: Object.fromEntries(site.branchDeploys),
      deploys: store.deploysOfSite(site).map((d) => deployJson(d, site, urls)),
    }
  }

  const routes = new RouteTable<Handler>()
    .add(
      'POST',
      '/tokens/revoke',
      ({ res, body }) => {
        const { token } = parse(tokenSchema, body)
        store.revokeToken(token)
        res.json({ revoked: true })
      },
      { json: true },
    )
    .add(
      'POST',
      '/tokens',
      ({ res, body }) => {
        const { token, accountSlug } = parse(bindSchema, body)
        const account = store.bindToken(token, accountSlug)
        res.json({ account_id: account.id, account_slug: account.slug })
      },
      { json: true },
    )
    .add('GET', '/config', ({ res }) => {
      res.json(deps.getConfig())
    })
    .add(
      'POST',
      '/config',
      ({ res, body }) => {
        const patch = parse(configSchema, body)
        const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined))
        res.json(deps.setConfig(defined as Partial<SandboxConfig>))
      },
      { json: true },
    )
    .add('GET', '/faults', ({ res }) => {
      res.json(faults.list())
    })
    .add(
      'POST',
      '/faults',
      ({ res, body }) => {
        const parsed = parse(faultsBodySchema, body)
        const list = Array.isArray(parsed) ? parsed : 'faults' in parsed ? parsed.faults : [parsed]
        try {
          faults.add(list)
        } catch (err) {
          throw new ApiError(422, `Invalid pathRegex: ${(err as Error).message}`)
        }
        res.status(201).json(faults.list())
      },
      { json: true },
    )
    .add('DELETE', '/faults', ({ res }) => {
      faults.clear()
      res.status(204).end()
    })
    .add(
      'POST',
      '/deploys/fail-next',
      ({ res, body }) => {
        const { count, message } = parse(failNextSchema, body)
        store.failNextDeploys(count ?? 1, message)
        res.json({ count: count ?? 1 })
      },
      { json: true },
    )
    .add(
      'POST',
      '/deploys/:deploy_id/fail',
      ({ res, params, body }) => {
        const { message } = parse(failSchema, body)
        const deploy = store.deploys.get(params.deploy_id!)
        if (!deploy) throw new ApiError(404, 'Not Found')
        store.failDeploy(deploy, message ?? 'Deploy failed (sandbox fault)')
        res.json(deployJson(deploy, store.sites.get(deploy.siteId)!, urls))
      },
      { json: true },
    )
    .add('GET', '/stats', ({ res }) => {
      res.json(stats.snapshot())
    })
    .add('POST', '/stats/reset', ({ res }) => {
      stats.reset()
      res.json(stats.snapshot())
    })
    .add('GET', '/sites', ({ res }) => {
      res.json([...store.sites.values()].map(siteWithDeploys))
    })
    .add('GET', '/sites/:name', ({ res, params }) => {
      const site = store.siteByName(params.name!.toLowerCase()) ?? store.sites.get(params.name!)
      if (!site) throw new ApiError(404, 'Not Found')
      res.json(siteWithDeploys(site))
    })
    .add('POST', '/reset', ({ res }) => {
      deps.resetAll()
      res.json({ reset: true })
    })

  return async (req, res) => {
    try {
      const { path } = splitUrl(req.url.slice(CONTROL_PREFIX.length))
      const match = routes.match(req.method, path || '/')
      if (!match) throw new ApiError(404, 'Not Found')
      const body = match.route.json ? await readJsonBody(req, res) : undefined
      await match.route.handler({ req, res, params: match.params, body })
    } catch (err) {
      if (!(err instanceof ApiError))
        deps.log?.error({ err, url: req.url }, 'sandbox control error')
      if (!req.complete) req.resume()
      sendError(
        res,
        err instanceof ApiError ? err.status : 500,
        err instanceof ApiError ? err.message : undefined,
      )
    }
  }
}
