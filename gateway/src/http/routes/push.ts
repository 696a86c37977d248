import { Router } from 'express'
import { jsonBody, rawJsonBody } from '../middleware/json-body.ts'
import { createManifestParser } from '../manifest.ts'
import type { Config } from '../../config.ts'
import type { PushRow } from '../../services/pushes.ts'
import { ERRORS } from '../../errors.ts'
import type { PushService } from '../../services/pushes.ts'
import { requestHash, type Idempotency } from '../../services/idempotency.ts'
import type { ChunkUploads } from '../../services/chunk-uploads.ts'
import type { BatchUploads } from '../../services/batch-uploads.ts'
import {
  BATCH_CONTENT_TYPE,
  batchHeaders,
  cancelBodySchema,
  chunkHeaders,
  chunkStatusQuery,
  completeBodySchema,
  functionUploadHeaders,
  functionUploadQuery,
  idempotencyHeader,
  pushIdQuery,
  pushStatusQuery,
  uploadHeaders,
} from 'kaixu-contract'
import { parse } from '../validate.ts'

/** Manifest bytes allowed per file the push may list (path, SHA-1 and size, JSON-quoted). */
const MANIFEST_BYTES_PER_FILE = 320

/** How long `push-status?waitFor=ready` holds the answer when no `timeout` is given. */
const DEFAULT_STATUS_WAIT_SECONDS = 30

/** The push flow's routes: thin wrappers that validate, call the service and render. */
export function pushRoutes(
  pushes: PushService,
  chunked: ChunkUploads,
  batch: BatchUploads,
  idempotency: Idempotency,
  config: Config,
  /** The process's drain flag: long-polls end early while it is set. */
  state?: { readonly draining: boolean },
): Router {
  const router = Router()
  // The largest legitimate manifest: KAIXU_MAX_FILES files with a path, a SHA-1 and a size
  // each, ~320 bytes a file (32 MB at the default 100 000 files). Parsed and validated off the
  // request thread once big, so one customer's manifest never stalls the event loop.
  const manifestBody = rawJsonBody(Math.max(1024 * 1024, config.maxFiles * MANIFEST_BYTES_PER_FILE))
  const manifests = createManifestParser(config)
  const smallJson = jsonBody('16kb')

  router.post('/push-init', manifestBody, async (req, res) => {
    const body = await manifests.read(req.body as Uint8Array | undefined)
    const key = req.get('idempotency-key')
    if (key === undefined) {
      res.status(201).json(await pushes.init(req.caller!, body))
      return
    }
    const { idempotencyKey } = parse(idempotencyHeader, { idempotencyKey: key }, 'headers')
    const result = await idempotency.run(
      req.caller!.customerId,
      idempotencyKey,
      requestHash(body),
      async () => ({
        status: 201,
        body: await pushes.init(req.caller!, body),
      }),
    )
    if (result.replayed) res.setHeader('Idempotent-Replayed', 'true')
    res.status(result.status).json(result.body)
  })

  // A dry run: the same manifest as push-init, answered with a plan; nothing is created.
  router.post('/push-plan', manifestBody, async (req, res) => {
    res.json(
      await pushes.plan(req.caller!, await manifests.read(req.body as Uint8Array | undefined)),
    )
  })

  // No body parser: the body streams through to Netlify and is never buffered.
  router.put('/push-upload', async (req, res) => {
    const { pushId } = parse(pushIdQuery, req.query, 'query')
    const headers = parse(uploadHeaders, req.headers, 'headers')
    const result = await pushes.upload(
      req.caller!,
      pushId,
      headers['x-content-sha1'],
      req,
      headers['content-length'],
    )
    res.status(200).json(result)
  })

  // One function zip, streamed through to Netlify like a file (no body parser).
  router.put('/push-upload-function', async (req, res) => {
    const { pushId, name } = parse(functionUploadQuery, req.query, 'query')
    const headers = parse(functionUploadHeaders, req.headers, 'headers')
    res.json(
      await pushes.uploadFunction(
        req.caller!,
        pushId,
        name,
        headers['x-content-sha256'],
        req,
        headers['content-length'],
      ),
    )
  })

  // Many small files in one framed body (kaixu-contract's batch-frames.ts), read as it arrives: no parser.
  router.post('/push-upload-batch', async (req, res) => {
    const { pushId } = parse(pushIdQuery, req.query, 'query')
    if (!req.is(BATCH_CONTENT_TYPE)) throw ERRORS.unsupportedMediaType(BATCH_CONTENT_TYPE)
    const headers = parse(batchHeaders, req.headers, 'headers')
    res.json(await batch.upload(req.caller!, pushId, req, headers['content-length']))
  })

  // Chunks are small enough (chunkBytes) to verify in memory before they are stored.
  router.put('/push-upload-chunk', async (req, res) => {
    const { pushId } = parse(pushIdQuery, req.query, 'query')
    const h = parse(chunkHeaders, req.headers, 'headers')
    const result = await chunked.put(
      req.caller!,
      pushId,
      {
        sha1: h['x-content-sha1'],
        chunkSha1: h['x-chunk-sha1'],
        index: h['x-chunk-index'],
        count: h['x-chunk-count'],
        fileSize: h['x-file-size'],
        contentLength: h['content-length'],
      },
      req,
    )
    res.status(result.stored ? 201 : 200).json(result)
  })

  router.get('/push-upload-chunk', async (req, res) => {
    const { pushId, sha1 } = parse(chunkStatusQuery, req.query, 'query')
    res.json(await chunked.status(req.caller!, pushId, sha1))
  })

  router.post('/push-complete', smallJson, async (req, res) => {
    const body = parse(completeBodySchema, req.body ?? {}, 'body')
    const push = await pushes.complete(req.caller!, body.pushId, body.wait ?? false)
    const final = push.state !== 'uploading' && push.state !== 'finalizing'
    res.status(body.wait && final ? 200 : 202).json(renderPush(push))
  })

  // Idempotent: a cancelled push answers 200 again; one past uploading answers 409.
  router.post('/push-cancel', smallJson, async (req, res) => {
    const body = parse(cancelBodySchema, req.body ?? {}, 'body')
    res.json(renderPush(await pushes.cancel(req.caller!, body.pushId)))
  })

  router.get('/push-status', async (req, res) => {
    const query = parse(pushStatusQuery, req.query, 'query')
    if (!query.waitFor) {
      res.json(renderPush(await pushes.status(req.caller!, query.pushId)))
      return
    }
    // A client that leaves ends its wait; a draining process answers what it knows at once.
    const left = new AbortController()
    res.on('close', () => left.abort())
    const push = await pushes.waitForFinal(req.caller!, query.pushId, {
      timeoutMs: (query.timeout ?? DEFAULT_STATUS_WAIT_SECONDS) * 1000,
      signal: left.signal,
      stop: () => state?.draining ?? false,
    })
    if (!res.destroyed) res.json(renderPush(push))
  })

  return router
}

/**
 * The public shape of a push. Netlify's own field names (`ssl_url`, `deploy_ssl_url`,
 * `error_message`) are kept so people can match them with Netlify's docs.
 */
export function renderPush(p: PushRow) {
  const deployUrl = p.deploy_ssl_url ?? p.deploy_url
  const siteUrl = p.ssl_url ?? p.url
  return {
    pushId: p.id,
    project: {
      id: p.project_id,
      name: p.project_name,
      siteId: p.site_id,
      siteName: siteNameOf(deployUrl, p.deploy_id),
    },
    deployId: p.deploy_id,
    state: p.state,
    netlifyState: p.netlify_state,
    draft: p.draft,
    alias: p.alias,
    files: { total: p.files_total, required: p.files_required, uploaded: p.files_uploaded },
    delivery: deliveryOf(p),
    bytesUploaded: p.bytes_uploaded,
    ssl_url: siteUrl,
    deploy_ssl_url: deployUrl,
    site_url: stableUrl(p, deployUrl, siteUrl),
    error_message: p.error_message,
    costCents: p.cost_cents,
    createdAt: p.created_at,
    completedAt: p.completed_at,
    finishedAt: p.finished_at,
  }
}

/** How the push's files reach Netlify: as Netlify was told, or as it turned out. */
function deliveryOf(p: PushRow): 'files' | 'zip' | 'zip-fallback' {
  if (p.zip_state === null) return 'files'
  return p.zip_state === 'fallback' || p.zip_state === 'done' ? 'zip-fallback' : 'zip'
}

/**
 * The Netlify site's name, which names the deploy's page in Netlify's admin
 * (`app.netlify.com/sites/<name>/deploys/<id>`). Netlify's deploy permalink is always
 * `<deploy id>--<site name>.<domain>`, so the name is read from the URL already stored rather
 * than kept twice. Null until the deploy has its URL, or when the URL is not of that form.
 */
function siteNameOf(deployUrl: string | null, deployId: string | null): string | null {
  if (!deployUrl || !deployId) return null
  let host: string
  try {
    host = new URL(deployUrl).hostname
  } catch {
    return null
  }
  const label = host.split('.')[0]!
  const name = label.startsWith(`${deployId}--`) ? label.slice(deployId.length + 2) : ''
  return /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(name) ? name : null
}

/**
 * The URL that keeps pointing at this line of work: the alias URL for an alias deploy, the
 * production URL for a production deploy; a draft has only its own unique URL.
 */
function stableUrl(p: PushRow, deployUrl: string | null, siteUrl: string | null): string | null {
  if (p.alias && deployUrl && p.deploy_id)
    return deployUrl.replace(`//${p.deploy_id}--`, `//${p.alias}--`)
  if (p.draft) return deployUrl
  return siteUrl
}
