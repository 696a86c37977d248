import type { Request, Response } from 'express'
import mime from 'mime-types'
import { posix } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Logger } from 'pino'
import type { BlobStore } from './blob-store.ts'
import { applyFault } from './faults.ts'
import type { FaultQueue } from './faults.ts'
import { candidatePaths } from './paths.ts'
import { splitUrl } from './routing.ts'
import { headersFor, isExternal, matchRedirect } from './rules.ts'
import type { RuleCache, SiteRules } from './rules.ts'
import type { StatsCounter } from './stats.ts'
import type { SandboxStore } from './store.ts'
import type { DeployRecord } from './types.ts'

/** What site serving needs from the rest of the sandbox. */
export interface SiteServerDeps {
  store: SandboxStore
  blobs: BlobStore
  stats: StatsCounter
  faults: FaultQueue
  rules: RuleCache
  log?: Logger
}

type Resolved = { deploy: DeployRecord } | { missing: string }

/**
 * Which deploy a host label names: `<deploy-id>--<site>` that deploy, `<branch>--<site>` the
 * branch's latest ready deploy, `<site>` the published deploy. Site names cannot contain `--`,
 * so the first `--` always splits the label.
 */
export function resolveLabel(store: SandboxStore, label: string): Resolved {
  const sep = label.indexOf('--')
  const siteName = sep === -1 ? label : label.slice(sep + 2)
  const site = store.siteByName(siteName)
  if (!site) return { missing: `No site named "${siteName}"` }
  if (sep === -1) {
    const published = site.publishedDeployId ? store.deploys.get(site.publishedDeployId) : undefined
    return published
      ? { deploy: published }
      : { missing: `Site "${siteName}" has no published deploy yet` }
  }
  const prefix = label.slice(0, sep)
  const byId = store.deploys.get(prefix)
  if (byId && byId.siteId === site.id) {
    return byId.state === 'ready'
      ? { deploy: byId }
      : { missing: `Deploy ${prefix} is not ready (state: ${byId.state})` }
  }
  const branchDeploy = site.branchDeploys.get(prefix)
  const deploy = branchDeploy ? store.deploys.get(branchDeploy) : undefined
  return deploy ? { deploy } : { missing: `No ready deploy for "${prefix}" on site "${siteName}"` }
}

/** Serves a deployed site for a request whose Host is `<label>.localhost[:port]`. */
export async function serveSite(
  deps: SiteServerDeps,
  label: string,
  req: Request,
  res: Response,
): Promise<void> {
  const { store, stats } = deps
  stats.bump('siteRequests')
  const fault = deps.faults.take('site', req.method, req.url)
  if (fault) {
    stats.bump('faultsInjected')
    if (await applyFault(fault, req, res)) return
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD')
    sendText(res, 405, 'Method Not Allowed')
    return
  }
  const resolved = resolveLabel(store, label)
  if ('missing' in resolved) {
    sendText(res, 404, `Not Found: ${resolved.missing}`)
    return
  }
  const { deploy } = resolved
  const files = deploy.files ?? new Map<string, string>()
  res.setHeader('X-Sandbox-Deploy-Id', deploy.id)
  const rules = await deps.rules.rulesOf(deploy)
  const url = splitUrl(req.url)
  const found = findFile(files, url.path)
  const match = matchRedirect(rules, { ...url, host: hostName(req.headers.host) })
  // Shadowing: a rule without `!` (force) yields to a file that exists at the requested path.
  if (match && (match.rule.force || found === undefined)) {
    const { rule, target } = match
    if (rule.status >= 300 && rule.status < 400) {
      // res.location() percent-encodes what a header cannot carry (non-ASCII, control
      // characters from a TOML string) and keeps the target's existing escapes.
      res.location(target)
      sendText(res, rule.status, `Redirecting to ${target}`)
      return
    }
    if (isExternal(target)) {
      sendText(res, 502, `Bad Gateway: the sandbox does not proxy to ${target}`)
      return
    }
    // A rewrite (200) or a custom status (404, 410, …) serves the target with the rule's status;
    // headers still follow the path the visitor asked for.
    const rewritten = findFile(files, splitUrl(target.replace(/#.*$/, '')).path)
    if (rewritten !== undefined) {
      await sendBlob(deps, req, res, rewritten, files.get(rewritten)!, rule.status, url.path, rules)
      return
    }
  } else if (found !== undefined) {
    await sendBlob(deps, req, res, found, files.get(found)!, 200, url.path, rules)
    return
  }
  await sendNotFound(deps, req, res, files, url.path, rules)
}

/** The deploy file a request path names (pretty URLs included), if there is one. */
function findFile(files: Map<string, string>, requestPath: string): string | undefined {
  return (candidatePaths(requestPath) ?? []).find((p) => files.has(p))
}

/** Netlify's fallback: the site's own `/404.html` with status 404, or a plain 404. */
async function sendNotFound(
  deps: SiteServerDeps,
  req: Request,
  res: Response,
  files: Map<string, string>,
  requestPath: string,
  rules: SiteRules,
): Promise<void> {
  const notFoundPage = files.get('404.html')
  if (notFoundPage !== undefined) {
    await sendBlob(deps, req, res, '404.html', notFoundPage, 404, requestPath, rules)
    return
  }
  sendText(res, 404, 'Not Found')
}

function hostName(host: string | undefined): string {
  return (host ?? '').replace(/:\d+$/, '')
}

async function sendBlob(
  deps: SiteServerDeps,
  req: Request,
  res: Response,
  path: string,
  sha: string,
  status: number,
  requestPath: string,
  rules: SiteRules,
): Promise<void> {
  const etag = `"${sha}"`
  res.setHeader('ETag', etag)
  // Netlify's default for static files: always revalidate, cheap thanks to the ETag.
  res.setHeader('Cache-Control', 'public, max-age=0, must-revalidate')
  const ext = posix.extname(path)
  res.setHeader('Content-Type', (ext && mime.contentType(ext)) || 'application/octet-stream')
  // Custom headers (`_headers`, `[[headers]]`) come last so they override the defaults above.
  for (const [name, value] of Object.entries(headersFor(rules, requestPath)))
    res.setHeader(name, value)
  if (status === 200 && etagMatches(req.headers['if-none-match'], sha)) {
    res.status(304).end()
    return
  }
  const size = await deps.blobs.size(sha)
  if (size === null) {
    deps.log?.error({ path, sha }, 'sandbox blob missing on disk')
    sendText(res, 500, 'Internal Server Error: file content missing')
    return
  }
  res.status(status)
  res.setHeader('Content-Length', String(size))
  if (req.method === 'HEAD') {
    res.end()
    return
  }
  try {
    await pipeline(deps.blobs.open(sha), res)
  } catch (err) {
    // Usually the client went away mid-download; nothing left to answer.
    deps.log?.debug({ err, path }, 'sandbox site download aborted')
  }
}

function etagMatches(header: string | undefined, sha: string): boolean {
  if (!header) return false
  if (header.trim() === '*') return true
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === `"${sha}"`)
}

function sendText(res: Response, status: number, text: string): void {
  res.status(status).type('text/plain; charset=utf-8').send(`${text}\n`)
}
