import { extname } from 'node:path'
import type { Readable } from 'node:stream'
import pLimit from 'p-limit'
import yazl from 'yazl'
import type { ZipSettings } from '../config.ts'
import * as repo from '../db/pushes-repo.ts'
import * as zipRepo from '../db/zip-repo.ts'
import { AppError } from '../errors.ts'
import { backoff, retry } from '../lib/retry.ts'
import { NetlifyApiError, type NetlifyDeploy } from '../netlify/client.ts'
import { retryAfterMs, toAppError } from '../netlify/errors.ts'
import type { Queryable } from '../db/db.ts'
import { readGroups } from './file-staging.ts'
import type { PushContext, PushServiceDeps } from './push-context.ts'

/** Bytes of zip framing per entry beyond its path: local header, descriptor, central record. */
const ENTRY_OVERHEAD = 30 + 24 + 46 + 28
/** Every entry gets the same time: an archive of the same files is the same archive. */
const ENTRY_TIME = new Date(Date.UTC(2000, 0, 1))
/** Types that shrink when deflated; images, fonts and archives are stored as they are. */
const COMPRESSIBLE = new Set(
  'html htm css js mjs cjs json map svg txt xml csv md webmanifest ico wasm'.split(' '),
)
/** Netlify's clock and ours may differ; a lost zip deploy is looked for this far back. */
const CLOCK_SLACK_MS = 60_000
/** A fallback PUT reads its file again from staging, so a transient failure is simply resent. */
const FALLBACK_ATTEMPTS = 4

/** What push-init knows when it chooses how the push reaches Netlify. */
export interface DeliveryFacts {
  /** Every path of the manifest (each one is an archive entry) with its size, when given. */
  files: readonly { path: string; sha1: string; size: number | undefined }[]
  /** Distinct SHA-1s Netlify asked for. */
  required: number
  functions: number
  /** Requests the token has left in Netlify's window; undefined when no limit is announced. */
  budget: number | undefined
  inlineMaxBytes: number
}

export type Delivery = { zip: true; reason: string } | { zip: false; reason: string }

/**
 * The rule that chooses between one zip deploy and a PUT per file (docs/zip-deploys.md). A zip
 * needs every file of the site, not only those Netlify lacks, so it only pays when Netlify lacks
 * nearly all of them; and it only matters when the PUTs would have to wait for Netlify's rate
 * window to reset (about 500 requests a minute per token). It must also be possible: no
 * functions (they go by their own PUTs), every size known (the archive is reserved against the
 * byte cap at init), every file small enough to be sent inline (chunked files are assembled
 * straight to Netlify), and the archive within Netlify's size limit.
 */
export function chooseDelivery(settings: ZipSettings, facts: DeliveryFacts): Delivery {
  if (settings.mode === 'off') return { zip: false, reason: 'zip deploys are off' }
  if (facts.functions > 0) return { zip: false, reason: 'the push has functions' }
  // An archive holds each path's bytes, duplicated content included, plus its framing.
  let bytes = 0
  for (const file of facts.files) {
    if (file.size === undefined) return { zip: false, reason: 'the manifest has no sizes' }
    if (file.size > facts.inlineMaxBytes) return { zip: false, reason: 'a file needs chunks' }
    bytes += file.size + ENTRY_OVERHEAD + 2 * Buffer.byteLength(file.path)
  }
  if (bytes > settings.maxBytes) {
    return { zip: false, reason: `the archive would pass ${settings.maxBytes} bytes` }
  }
  if (settings.mode === 'always') return { zip: true, reason: 'KAIXU_ZIP=always' }
  const distinct = new Set(facts.files.map((f) => f.sha1)).size
  if (facts.required < settings.minFiles) {
    return { zip: false, reason: `Netlify needs fewer than ${settings.minFiles} files` }
  }
  if (facts.required < settings.minShare * distinct) {
    return { zip: false, reason: `Netlify needs less than ${settings.minShare} of the files` }
  }
  if (facts.budget === undefined || facts.required <= facts.budget) {
    return { zip: false, reason: 'the PUTs fit the request budget' }
  }
  return {
    zip: true,
    reason: `${facts.required} PUTs would not fit the ${facts.budget} requests left this window`,
  }
}

/**
 * Turns a zip push's kept files into Netlify's deploy (the finalize job runs `deliver`), and
 * keeps the files a zip push receives until then.
 */
export function createZipDeploys(deps: PushServiceDeps, ctx: PushContext) {
  const { db, netlify, config, logger } = deps
  const { staging } = ctx

  /** The archive of every path of the push, streamed from staging a bounded group at a time. */
  function archive(pushId: string, entries: readonly zipRepo.ZipEntry[]): Readable {
    const zip = new yazl.ZipFile()
    let opened: Promise<Map<string, () => Readable>> | undefined
    for (const group of readGroups(entries)) {
      for (const [i, entry] of group.entries()) {
        zip.addReadStreamLazy(
          entry.path,
          {
            size: entry.size,
            mtime: ENTRY_TIME,
            compress: COMPRESSIBLE.has(extname(entry.path).slice(1).toLowerCase()),
          },
          (callback) => {
            // yazl asks for entries in order: the group is read when its first entry is due.
            if (i === 0) opened = staging.open(pushId, group)
            opened!.then(
              (streams) => {
                const open = streams.get(entry.sha1)
                if (!open) throw new Error(`The kept bytes of ${entry.sha1} are gone`)
                callback(null, open())
              },
              (error: unknown) => callback(error, undefined as never),
            )
          },
        )
      }
    }
    zip.end()
    const out = zip.outputStream as Readable
    zip.on('error', (error: Error) => out.destroy(error))
    return out
  }

  /**
   * After an answer lost on the way back (the connection dropped once the archive was in), the
   * zip deploy may exist: a site Netlify published that nobody would bill. A deploy of the site
   * made since the archive started, with this push's draft, alias and title, that no push of the
   * project knows, is taken to be it. None, or more than one, and the fallback goes ahead.
   */
  async function findLostDeploy(push: repo.PushRow, token: string, since: number) {
    let deploys: NetlifyDeploy[]
    try {
      deploys = await netlify.listSiteDeploys(token, push.site_id)
    } catch {
      return undefined
    }
    const candidates = deploys.filter(
      (d) =>
        d.id !== push.deploy_id &&
        d.state !== 'error' &&
        Date.parse(d.created_at ?? '') >= since - CLOCK_SLACK_MS &&
        !!d.draft === push.draft &&
        (!push.alias || d.branch === push.alias) &&
        (!push.title || d.title === push.title),
    )
    if (candidates.length === 0) return undefined
    const known = await zipRepo.knownDeployIds(
      db,
      push.project_id,
      candidates.map((d) => d.id),
    )
    const unknown = candidates.filter((d) => !known.has(d.id))
    return unknown.length === 1 ? unknown[0] : undefined
  }

  /** The push follows its zip deploy from now on; the digest deploy is cancelled. */
  async function adopt(push: repo.PushRow, token: string, deploy: NetlifyDeploy, entries: number) {
    const digestDeployId = push.deploy_id!
    await db.transaction(async (tx) => {
      const adopted = await zipRepo.adoptZipDeploy(tx, push.id, {
        deployId: deploy.id,
        netlifyState: deploy.state,
      })
      if (!adopted) return
      await ctx.audit(
        {
          action: 'push.zip',
          status: 'ok',
          customerId: push.customer_id,
          projectId: push.project_id,
          pushId: push.id,
          details: { deployId: deploy.id, cancelled: digestDeployId, entries },
        },
        tx,
      )
    })
    // The digest deploy never gets its files now; left alone it would only wait to expire.
    await netlify.cancelDeploy(token, digestDeployId).catch((error: unknown) => {
      logger.warn({ err: error, pushId: push.id }, 'cancelling the digest deploy failed')
    })
  }

  /** Sends the zip; answers false when Netlify refused it or it died on the way (fallback). */
  async function sendZip(push: repo.PushRow, token: string): Promise<boolean> {
    const entries = await zipRepo.zipEntries(db, push.id)
    const since = Date.now()
    let deploy: NetlifyDeploy
    try {
      deploy = await netlify.createZipDeploy(
        token,
        push.site_id,
        {
          draft: push.draft,
          ...(push.alias ? { branch: push.alias } : {}),
          ...(push.title ? { title: push.title } : {}),
        },
        archive(push.id, entries),
      )
    } catch (error) {
      // A deploy-creation 429 (3 a minute) or a spent request window: the zip is sent again
      // when the job retries, not given up for hundreds of PUTs into the same limit.
      if (!(error instanceof NetlifyApiError) || error.status === 429) throw error
      const lost = error.transient ? await findLostDeploy(push, token, since) : undefined
      if (!lost) {
        await fallBack(push, error)
        return false
      }
      deploy = lost
    }
    await adopt(push, token, deploy, entries.length)
    return true
  }

  async function fallBack(push: repo.PushRow, error: NetlifyApiError) {
    await db.transaction(async (tx) => {
      if (!(await zipRepo.moveZipState(tx, push.id, ['sending'], 'fallback'))) return
      await ctx.audit(
        {
          action: 'push.zip',
          status: 'error',
          customerId: push.customer_id,
          projectId: push.project_id,
          pushId: push.id,
          details: {
            code: toAppError(error).code,
            status: error.status,
            message: error.message,
            fallback: 'digest',
          },
        },
        tx,
      )
    })
    logger.warn({ err: error, pushId: push.id }, 'zip deploy failed; sending the files one by one')
  }

  /** The fallback: the files Netlify's digest asked for, PUT to the digest deploy from staging. */
  async function sendFiles(push: repo.PushRow, token: string) {
    const limit = pLimit(config.netlifyUploadConcurrency)
    for (const group of readGroups(await zipRepo.fallbackPending(db, push.id))) {
      const streams = await staging.open(push.id, group)
      await Promise.all(
        group.map((file) =>
          limit(() =>
            retry(
              () =>
                netlify.uploadFile(
                  token,
                  push.deploy_id!,
                  file.path,
                  streams.get(file.sha1)!(),
                  file.size,
                ),
              {
                attempts: FALLBACK_ATTEMPTS,
                shouldRetry: (e) => e instanceof NetlifyApiError && e.transient,
                backoffMs: backoff({ firstMs: 500, maxMs: 10_000 }),
                serverWaitMs: retryAfterMs,
              },
            ),
          ),
        ),
      )
      await zipRepo.markSent(
        db,
        push.id,
        group.map((f) => f.sha1),
      )
    }
  }

  return {
    /**
     * Makes a push a zip push (init's transaction, after `chooseDelivery` said so): answers the
     * SHA-1s the client must send, which are all of them.
     */
    startStaging: (tx: Queryable, pushId: string, netlifyRequired: readonly string[]) =>
      zipRepo.startStaging(tx, pushId, netlifyRequired),

    /**
     * The finalize job's first step for a zip push: send the archive; if Netlify refuses it,
     * PUT the files to the digest deploy instead. Either way the push then finalizes as any
     * push does, against the deploy now in `deploy_id`. Idempotent and resumable: each step is
     * a state of the push, and a retried job carries on from where the last one stopped.
     */
    async deliver(push: repo.PushRow): Promise<void> {
      if (
        push.zip_state !== 'staging' &&
        push.zip_state !== 'sending' &&
        push.zip_state !== 'fallback'
      ) {
        return
      }
      let token: string
      try {
        token = await ctx.netlifyToken(push.customer_id, push)
      } catch (error) {
        // Without a token the push has failed (netlifyToken said why); nothing more to send.
        if (error instanceof AppError) return
        throw error
      }
      let state = push.zip_state
      if (state === 'staging' || state === 'sending') {
        // A push found `sending` belongs to an attempt that died mid-send: send it again.
        await zipRepo.moveZipState(db, push.id, ['staging'], 'sending')
        if (await sendZip(push, token)) {
          await staging.drop(push.id)
          return
        }
        state = 'fallback'
      }
      if (state === 'fallback') {
        await sendFiles(push, token)
        await zipRepo.moveZipState(db, push.id, ['fallback'], 'done')
        await staging.drop(push.id)
      }
    },

    /** Drops what zip pushes that ended (or no longer need them) left in staging. */
    async dropLeftovers(limit = 100) {
      for (const { id } of await zipRepo.pushesWithLeftovers(db, limit)) await staging.drop(id)
    },
  }
}

export type ZipDeploys = ReturnType<typeof createZipDeploys>
