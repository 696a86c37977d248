/**
 * Netlify sandbox: a local implementation of the part of Netlify's deploy API the gateway uses
 * (see /work/shared/research/netlify-api.md), for `npm start` and every test.
 *
 * - `/api/v1/*`: sites, digest deploys (sync and async), zip deploys (raw `application/zip` or
 *   base64 in the JSON `zip` field, streamed), verified file PUTs, cancel, lock, restore;
 *   `{code,message}` errors; `X-RateLimit-*` per token and `x-concurrent-*` on uploads.
 * - `<label>.localhost[:port]`: deployed sites (`<site>`, `<deploy-id>--<site>`,
 *   `<branch>--<site>`), streamed from `<dataDir>/blobs/<sha1>`, following the deploy's
 *   `_redirects`, `_headers` and `netlify.toml` rules (`rules.ts`).
 * - `/__sandbox/*` (no auth, tests and demos only): `POST tokens/revoke {token}`,
 *   `POST tokens {token, accountSlug}`, `GET|POST config`, `GET|POST|DELETE faults`,
 *   `POST deploys/:id/fail {message}`, `POST deploys/fail-next {count, message}`,
 *   `GET stats`, `POST stats/reset`, `GET sites`, `GET sites/:name`, `POST reset`.
 */
import express from 'express'
import type { NextFunction, Request, Response, Router } from 'express'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import { API_PREFIX, ZIP_MAX_BYTES, createNetlifyApi } from './api.ts'
import { BlobStore } from './blob-store.ts'
import { CONTROL_PREFIX, createControlApi } from './control.ts'
import { FaultQueue } from './faults.ts'
import { siteLabelFromHost } from './paths.ts'
import { RuleCache } from './rules.ts'
import { SandboxUrls } from './serialize.ts'
import { serveSite } from './site-server.ts'
import { StatsCounter } from './stats.ts'
import type { SandboxStats } from './stats.ts'
import { SandboxStore } from './store.ts'
import type { SandboxConfig } from './types.ts'
import type { FaultSpec } from './faults.ts'

export type { SandboxConfig } from './types.ts'
export type { SandboxStats } from './stats.ts'
export type { FaultSpec } from './faults.ts'

/** Options of the Netlify sandbox. */
export interface SandboxOptions {
  /** Where uploaded file bodies are stored, content-addressed: `<dataDir>/blobs/<sha1>`. */
  dataDir: string
  logger?: Logger
  /** uploaded → processing → processed → ready takes this long in total (default 50 ms). */
  processingMs?: number
  /** The async diff preparing → prepared (default 20 ms). */
  diffMs?: number
  /** API requests per minute per token (default 500; `null` lifts the limit). */
  rateLimitPerMinute?: number | null
  /** File PUTs in flight per token (default 5; `null` lifts the limit). */
  concurrentUploads?: number | null
  /** Deploy creations per minute per site (default `null`: unlimited). */
  deploysPerMinute?: number | null
  /** Largest archive a zip deploy may send (default 1 GiB, as Netlify). */
  maxZipBytes?: number
}

/** A local implementation of the part of Netlify's deploy API the gateway uses. */
export interface NetlifySandbox {
  /**
   * Mount at `/` of an Express app. Handles `/api/v1/*`, `/__sandbox/*` and requests whose Host
   * is `<label>.localhost[:port]`; calls `next()` for everything else.
   */
  router: Router
  /** The URL the router is reachable at, e.g. `http://127.0.0.1:8787`; used in site/deploy URLs. */
  setBaseUrl(url: string): void
  /** Stops the deploy state machine's timers. */
  close(): Promise<void>
  /** Current limits and delays. */
  getConfig(): SandboxConfig
  /** Changes limits and delays (same as `POST /__sandbox/config`). */
  configure(patch: Partial<SandboxConfig>): SandboxConfig
  /** Schedules faults (same as `POST /__sandbox/faults`). */
  injectFaults(faults: FaultSpec[]): void
  /** Counters (same as `GET /__sandbox/stats`). */
  stats(): SandboxStats
  /** Sets the counters back to zero. */
  resetStats(): void
  /** Makes a token invalid (same as `POST /__sandbox/tokens/revoke`). */
  revokeToken(token: string): void
}

function defaultConfig(options: SandboxOptions): SandboxConfig {
  const processingMs = options.processingMs ?? 50
  return {
    rateLimitPerMinute: options.rateLimitPerMinute === undefined ? 500 : options.rateLimitPerMinute,
    concurrentUploads: options.concurrentUploads === undefined ? 5 : options.concurrentUploads,
    deploysPerMinute: options.deploysPerMinute ?? null,
    processingMs,
    diffMs: options.diffMs ?? (options.processingMs === undefined ? 20 : processingMs * 0.4),
    maxZipBytes: options.maxZipBytes ?? ZIP_MAX_BYTES,
  }
}

/** Creates a Netlify sandbox whose router can be mounted in any Express app. */
export function createNetlifySandbox(options: SandboxOptions): NetlifySandbox {
  const log = options.logger?.child({ component: 'netlify-sandbox' })
  let config = defaultConfig(options)
  const getConfig = (): SandboxConfig => config
  const store = new SandboxStore(getConfig, log)
  const blobs = new BlobStore(options.dataDir)
  const urls = new SandboxUrls()
  const stats = new StatsCounter()
  const faults = new FaultQueue()
  const rules = new RuleCache(blobs, log)
  const api = createNetlifyApi({ store, blobs, urls, stats, faults, config: getConfig, log })

  const setConfig = (patch: Partial<SandboxConfig>): SandboxConfig => {
    config = { ...config, ...patch }
    // Old windows counted against another limit; a test that sets a limit wants it from zero.
    if (patch.rateLimitPerMinute !== undefined || patch.deploysPerMinute !== undefined)
      api.resetLimits()
    return config
  }
  const control = createControlApi({
    store,
    stats,
    faults,
    urls,
    getConfig,
    setConfig,
    resetAll() {
      store.reset()
      faults.clear()
      stats.reset()
      config = defaultConfig(options)
      api.resetLimits()
    },
    log,
  })

  const router = express.Router()
  router.use((req: Request, res: Response, next: NextFunction) => {
    // A Host of *.localhost is a deployed site whatever the path: sites may have /api/ folders.
    const label = siteLabelFromHost(req.headers.host)
    if (label !== null) {
      void serveSite({ store, blobs, stats, faults, rules, log }, label, req, res).catch(next)
      return
    }
    if (isUnder(req.url, API_PREFIX)) {
      void api.handle(req, res).catch(next)
      return
    }
    if (isUnder(req.url, CONTROL_PREFIX)) {
      void control(req, res).catch(next)
      return
    }
    next()
  })

  return {
    router,
    setBaseUrl: (url) => urls.set(url),
    close: async () => store.close(),
    getConfig,
    configure: setConfig,
    injectFaults: (list) => faults.add(list),
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    revokeToken: (token) => store.revokeToken(token),
  }
}

function isUnder(url: string, prefix: string): boolean {
  if (!url.startsWith(prefix)) return false
  const next = url.charAt(prefix.length)
  return next === '' || next === '/' || next === '?'
}

/**
 * Runs the sandbox on its own HTTP server (tests, and Netlify-only demos). Anything the sandbox
 * does not handle answers a JSON 404.
 */
export async function startSandboxServer(
  options: SandboxOptions & { port: number; host?: string },
): Promise<{ url: string; sandbox: NetlifySandbox; close(): Promise<void> }> {
  const host = options.host ?? '127.0.0.1'
  const sandbox = createNetlifySandbox(options)
  const app = express()
  app.disable('x-powered-by')
  app.use(sandbox.router)
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ code: 404, message: 'Not Found' })
  })
  const server = createServer(app)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const urlHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  const url = `http://${urlHost}:${port}`
  sandbox.setBaseUrl(url)
  return {
    url,
    sandbox,
    async close() {
      await sandbox.close()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }
}
