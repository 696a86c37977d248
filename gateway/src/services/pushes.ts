import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import { findNetlifyToken, findProject } from '../db/accounts-repo.ts'
import { insertAudit, type AuditEntry } from '../db/audit-repo.ts'
import type { Db, Queryable } from '../db/db.ts'
import * as repo from '../db/pushes-repo.ts'
import { AppError, ERRORS } from '../errors.ts'
import type { JobQueue } from '../jobs/queue.ts'
import { newId } from '../lib/ids.ts'
import { BodyTooLargeError, Sha1Gate } from '../lib/sha1-gate.ts'
import { NetlifyApiError, type NetlifyClient, type NetlifyDeploy } from '../netlify/client.ts'
import { monthOf, type Clock, type Metering } from './metering.ts'
import { quote, recordUsageEvent } from '../db/billing-repo.ts'
import type { Vault } from './vault.ts'

/** Who is calling: resolved from the API key by the auth middleware. */
export interface Caller {
  customerId: string
  apiKeyId: string
  requestId: string
}

export interface InitInput {
  project: string
  files: Record<string, string>
  sizes?: Record<string, number> | undefined
  draft?: boolean | undefined
  alias?: string | undefined
  title?: string | undefined
}

export const FINALIZE_QUEUE = 'push-finalize'

const TERMINAL = new Set<repo.PushState>(['ready', 'error'])

export interface PushServiceDeps {
  db: Db
  netlify: NetlifyClient
  vault: Vault
  queue: () => JobQueue
  config: Config
  logger: Logger
  metering: Metering
  clock: Clock
}

/** The push flow: init → upload → complete → status, and the finalization the job runs. */
export function createPushService(deps: PushServiceDeps) {
  const { db, netlify, vault, config, logger, metering, clock } = deps

  const audit = (entry: Omit<AuditEntry, 'actor'> & { actor?: string }, q: Queryable = db) =>
    insertAudit(q, { actor: 'system', ...entry })

  const callerAudit = (caller: Caller) => ({
    actor: `key:${caller.apiKeyId}`,
    customerId: caller.customerId,
    apiKeyId: caller.apiKeyId,
    requestId: caller.requestId,
  })

  async function netlifyToken(customerId: string): Promise<string> {
    const row = await findNetlifyToken(db, customerId)
    if (!row) throw ERRORS.netlifyTokenMissing()
    return vault.open(customerId, row.ciphertext)
  }

  async function loadPush(caller: Caller, pushId: string): Promise<repo.PushRow> {
    const push = await repo.findPush(db, caller.customerId, pushId)
    if (!push) throw ERRORS.notFound(`Push '${pushId}'`)
    return push
  }

  /**
   * Settles a push from a fresh Netlify deploy object: ready writes the usage event in the same
   * transaction (once, by the unique push id), error records Netlify's message.
   */
  async function settle(push: repo.PushRow, deploy: NetlifyDeploy): Promise<void> {
    const urls = deployUrls(deploy)
    if (deploy.state === 'ready' && push.state === 'finalizing') {
      await db.transaction(async (tx) => {
        if (!(await repo.markReady(tx, push.id, urls))) return
        // Keep the bytes actually uploaded; give back any reserved but not needed.
        const held = await repo.endReservation(tx, push.id, 'settled')
        if (held && held.bytes_reserved > held.bytes_uploaded) {
          await metering.unreserve(tx, held.customer_id, held.billing_month, {
            deploys: 0,
            bytes: held.bytes_reserved - held.bytes_uploaded,
          })
        }
        const now = clock.now()
        await recordUsageEvent(tx, push.id, now, monthOf(now))
        await audit(
          {
            action: 'push.ready',
            status: 'ok',
            customerId: push.customer_id,
            projectId: push.project_id,
            pushId: push.id,
            bytes: push.bytes_uploaded,
          },
          tx,
        )
      })
    } else if (deploy.state === 'error') {
      await failPush(push, deploy.error_message || 'Netlify reported an error', 'error')
    } else {
      await repo.updateNetlifyState(db, push.id, urls)
    }
  }

  async function failPush(push: repo.PushRow, message: string, netlifyState?: string) {
    await db.transaction(async (tx) => {
      if (!(await repo.markError(tx, push.id, message, netlifyState))) return
      // A failed push gives its deploy and bytes back to the month's budget, once.
      const held = await repo.endReservation(tx, push.id, 'released')
      if (held) {
        await metering.unreserve(tx, held.customer_id, held.billing_month, {
          deploys: 1,
          bytes: held.bytes_reserved,
        })
      }
      await audit(
        {
          action: 'push.error',
          status: 'error',
          customerId: push.customer_id,
          projectId: push.project_id,
          pushId: push.id,
          details: { message },
        },
        tx,
      )
    })
  }

  /**
   * Reserves an upload's bytes against the monthly cap before any of them moves: the size
   * reserved at init when the manifest carried it, else the request's Content-Length.
   */
  async function reserveUpload(
    push: repo.PushRow,
    sha1: string,
    target: repo.UploadTarget,
    contentLength?: number,
  ): Promise<{ size: number; reservedNow: boolean }> {
    if (target.reserved_bytes !== null) {
      if (contentLength !== undefined && contentLength !== target.reserved_bytes) {
        throw ERRORS.invalidRequest(
          `Content-Length ${contentLength} differs from the manifest's size ${target.reserved_bytes} for this file.`,
        )
      }
      return { size: target.reserved_bytes, reservedNow: false }
    }
    if (contentLength === undefined) throw ERRORS.lengthRequired()
    const reserved = await db.transaction(async (tx) => {
      if (!(await repo.reservePathBytes(tx, push.id, target.path, contentLength))) return false
      await metering.reserveBytes(tx, push.customer_id, push.billing_month, contentLength)
      await repo.addBytesReserved(tx, push.id, contentLength)
      return true
    })
    if (reserved) return { size: contentLength, reservedNow: true }
    // A concurrent upload of the same content reserved it first.
    const size = (await repo.findUploadTarget(db, push.id, sha1))?.reserved_bytes ?? contentLength
    return { size, reservedNow: false }
  }

  /** A failed upload gives back what it reserved itself, so a bad request changes nothing. */
  async function unreserveUpload(push: repo.PushRow, path: string, size: number) {
    await db.transaction(async (tx) => {
      if (!(await repo.unreservePathBytes(tx, push.id, path, size))) return
      await metering.unreserve(tx, push.customer_id, push.billing_month, {
        deploys: 0,
        bytes: size,
      })
    })
  }

  return {
    /**
     * A dry run of init: what a push of this manifest would upload and cost, from what the
     * project's last ready deploy holds. Creates no deploy, reserves and charges nothing.
     */
    async plan(caller: Caller, input: InitInput) {
      const project = await findProject(db, caller.customerId, input.project)
      if (!project) throw ERRORS.projectNotFound(input.project)
      const byPath = Object.entries(input.files)
      const distinct = new Map<string, number | undefined>()
      for (const [path, sha] of byPath) {
        if (!distinct.has(sha)) distinct.set(sha, input.sizes?.[path])
      }
      const known = await repo.shasKnownToProject(db, project.id, [...distinct.keys()])
      const upload = [...distinct].filter(([sha]) => !known.has(sha))
      const sized = upload.every(([, size]) => size !== undefined)
      const bytes = upload.reduce((n, [, size]) => n + (size ?? 0), 0)
      const price = await quote(db, clock.now(), bytes)
      return {
        project: { id: project.id, name: project.name, siteId: project.site_id },
        files: { total: byPath.length, distinct: distinct.size },
        wouldUpload: {
          files: upload.length,
          bytes: sized ? bytes : null,
          shas: upload.map(([sha]) => sha),
        },
        estimatedCostCents: sized ? (price?.cost_cents ?? null) : null,
        pricingVersion: price?.version ?? null,
        limits: await metering.report(db, caller.customerId),
      }
    },

    /**
     * Creates the Netlify digest deploy for a manifest and records the push with its files.
     * Answers the SHA-1s Netlify still needs, each once.
     */
    async init(caller: Caller, input: InitInput) {
      const project = await findProject(db, caller.customerId, input.project)
      if (!project) throw ERRORS.projectNotFound(input.project)
      const token = await netlifyToken(caller.customerId)
      const paths = Object.keys(input.files)
      const pushId = newId('push')
      // Pacing and the deploy cap are decided in the transaction that creates the push, so a
      // rejected init leaves nothing behind and concurrent inits cannot overshoot the cap.
      const admitted = await db.transaction(async (tx) => {
        const admission = await metering.admitDeploy(tx, caller.customerId)
        await repo.insertPush(tx, {
          id: pushId,
          customerId: caller.customerId,
          projectId: project.id,
          apiKeyId: caller.apiKeyId,
          siteId: project.site_id,
          draft: input.draft ?? false,
          alias: input.alias,
          title: input.title,
          filesTotal: paths.length,
          billingMonth: admission.month,
        })
        await repo.insertPushFiles(tx, pushId, {
          paths,
          shas: paths.map((p) => input.files[p]!),
          sizes: paths.map((p) => input.sizes?.[p] ?? null),
        })
        return admission
      })
      let deploy: NetlifyDeploy
      try {
        deploy = await netlify.createDeploy(token, project.site_id, {
          files: input.files,
          draft: input.draft ?? false,
          ...(input.alias ? { branch: input.alias } : {}),
          ...(input.title ? { title: input.title } : {}),
        })
      } catch (error) {
        const appError = toAppError(error)
        const push = await repo.findPushById(db, pushId)
        if (push) await failPush(push, appError.message)
        await audit({
          ...callerAudit(caller),
          action: 'push.init',
          status: 'error',
          projectId: project.id,
          pushId,
          details: { code: appError.code },
        })
        throw appError
      }
      const required = [...new Set(deploy.required ?? [])]
      await repo.setDeployCreated(db, pushId, {
        deployId: deploy.id,
        netlifyState: deploy.state,
        required,
      })
      try {
        await db.transaction(async (tx) => {
          // With sizes in the manifest, the bytes Netlify asked for are checked now.
          const bytes = await repo.reserveKnownSizes(tx, pushId)
          await metering.reserveBytes(tx, caller.customerId, admitted.month, bytes)
          await audit(
            {
              ...callerAudit(caller),
              action: 'push.init',
              status: 'ok',
              projectId: project.id,
              pushId,
              details: { files: paths.length, required: required.length },
            },
            tx,
          )
        })
      } catch (error) {
        // Over the byte cap: the Netlify deploy is abandoned and the reservation returned.
        const push = await repo.findPushById(db, pushId)
        const message = error instanceof AppError ? error.message : 'init failed'
        if (push) await failPush(push, message)
        await netlify.cancelDeploy(token, deploy.id).catch(() => {})
        await audit({
          ...callerAudit(caller),
          action: 'push.init',
          status: 'error',
          projectId: project.id,
          pushId,
          details: { message },
        })
        throw error
      }
      return {
        pushId,
        deployId: deploy.id,
        state: 'uploading' as const,
        required,
        upload: { inlineMaxBytes: config.inlineMaxBytes, chunkBytes: config.chunkBytes },
        limits: await metering.report(db, caller.customerId),
      }
    },

    /**
     * Streams one file body to Netlify while hashing it. A body whose SHA-1 is not the one
     * announced fails before its last bytes leave, so it never becomes a deploy file.
     */
    async upload(
      caller: Caller,
      pushId: string,
      sha1: string,
      body: Readable,
      contentLength?: number,
    ) {
      const push = await loadPush(caller, pushId)
      if (push.state !== 'uploading') {
        throw ERRORS.invalidState(`Push is ${push.state}; uploads are closed.`, push.state)
      }
      const target = await repo.findUploadTarget(db, pushId, sha1)
      if (!target) throw ERRORS.shaNotInPush(sha1)
      if (!target.required || target.uploaded) {
        return { sha1, bytes: 0, skipped: true }
      }
      if (contentLength !== undefined && contentLength > config.inlineMaxBytes) {
        throw ERRORS.payloadTooLarge(
          `Inline uploads are limited to ${config.inlineMaxBytes} bytes.`,
          {
            inlineMaxBytes: config.inlineMaxBytes,
          },
        )
      }
      const { size, reservedNow } = await reserveUpload(push, sha1, target, contentLength)
      const token = await netlifyToken(caller.customerId)
      // The body may not outgrow what was reserved for it: bytes past the cap never leave.
      const gate = new Sha1Gate(sha1, size)
      // pipe, not pipeline: on a failure the request must stay open for our error answer (Node
      // discards the rest of the body once the response is sent).
      body.on('error', (error) => gate.destroy(error))
      body.pipe(gate)
      try {
        await netlify.uploadFile(token, push.deploy_id!, target.path, gate, contentLength)
      } catch (error) {
        if (reservedNow) await unreserveUpload(push, target.path, size)
        const appError = gate.mismatched
          ? ERRORS.shaMismatch(sha1, gate.actual!)
          : gate.errored instanceof BodyTooLargeError
            ? ERRORS.payloadTooLarge(
                `Inline uploads are limited to ${config.inlineMaxBytes} bytes.`,
              )
            : toAppError(error)
        await audit({
          ...callerAudit(caller),
          action: 'push.upload',
          status: 'error',
          projectId: push.project_id,
          pushId,
          bytes: gate.bytes,
          details: { sha1, code: appError.code },
        })
        throw appError
      }
      if (gate.mismatched) {
        if (reservedNow) await unreserveUpload(push, target.path, size)
        throw ERRORS.shaMismatch(sha1, gate.actual!)
      }
      await db.transaction(async (tx) => {
        await repo.markUploaded(tx, pushId, sha1, gate.bytes)
        await audit(
          {
            ...callerAudit(caller),
            action: 'push.upload',
            status: 'ok',
            projectId: push.project_id,
            pushId,
            bytes: gate.bytes,
            details: { sha1 },
          },
          tx,
        )
      })
      return { sha1, bytes: gate.bytes, skipped: false }
    },

    /**
     * Closes uploads and queues finalization (once, however often it is called). With `wait`,
     * holds the request until the push is final or the wait budget runs out.
     */
    async complete(caller: Caller, pushId: string, wait: boolean) {
      const push = await loadPush(caller, pushId)
      if (push.state === 'uploading') {
        const missing = await repo.missingRequiredShas(db, pushId)
        if (missing.length > 0) throw ERRORS.uploadsIncomplete(missing)
        await db.transaction(async (tx) => {
          if (!(await repo.startFinalizing(tx, pushId))) return
          await deps.queue().send(FINALIZE_QUEUE, { pushId }, { tx, singletonKey: pushId })
          await audit(
            {
              ...callerAudit(caller),
              action: 'push.complete',
              status: 'ok',
              projectId: push.project_id,
              pushId,
              bytes: push.bytes_uploaded,
            },
            tx,
          )
        })
      }
      if (!wait) return loadPush(caller, pushId)
      // Poll our own row, not Netlify: the worker (in this or another process) settles it.
      const deadline = Date.now() + config.waitTimeoutMs
      for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
        const current = await loadPush(caller, pushId)
        if (TERMINAL.has(current.state) || Date.now() + delay > deadline) return current
        await sleep(delay)
      }
    },

    /** The record, refreshed from Netlify while the push is still moving. */
    async status(caller: Caller, pushId: string) {
      const push = await loadPush(caller, pushId)
      if (TERMINAL.has(push.state) || !push.deploy_id) return push
      try {
        const deploy = await netlify.getDeploy(
          await netlifyToken(caller.customerId),
          push.deploy_id,
        )
        await settle(push, deploy)
      } catch (error) {
        // A slow or failing Netlify must not break status reads: answer what we know.
        logger.warn({ err: error, pushId }, 'live Netlify refresh failed')
        return push
      }
      return loadPush(caller, pushId)
    },

    /**
     * The finalize job: polls Netlify until the deploy is ready or failed. A transient failure
     * throws, and pg-boss retries the job with backoff; a permanent one fails the push.
     */
    async finalize(pushId: string) {
      let push = await repo.findPushById(db, pushId)
      if (!push || push.state !== 'finalizing') return
      let token: string
      try {
        token = await netlifyToken(push.customer_id)
      } catch (error) {
        await failPush(push, toAppError(error).message)
        return
      }
      const deadline = Date.now() + 10 * 60_000
      for (let delay = 25; ; delay = Math.min(delay * 2, 2_000)) {
        let deploy: NetlifyDeploy
        try {
          deploy = await netlify.getDeploy(token, push.deploy_id!)
        } catch (error) {
          if (error instanceof NetlifyApiError && !error.transient) {
            await failPush(push, `Netlify answered ${error.status}: ${error.message}`)
            return
          }
          throw error
        }
        await settle(push, deploy)
        push = (await repo.findPushById(db, pushId))!
        if (TERMINAL.has(push.state)) return
        if (Date.now() > deadline) throw new Error(`Deploy ${push.deploy_id} still ${deploy.state}`)
        await sleep(delay)
      }
    },
  }
}

export type PushService = ReturnType<typeof createPushService>

function deployUrls(deploy: NetlifyDeploy): repo.DeployUrls {
  return {
    netlifyState: deploy.state,
    url: deploy.url,
    sslUrl: deploy.ssl_url,
    deployUrl: deploy.deploy_url,
    deploySslUrl: deploy.deploy_ssl_url,
  }
}

/** Netlify failures in the gateway's vocabulary: retry later (503) or Netlify said no (502). */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error
  if (error instanceof NetlifyApiError) {
    return error.transient
      ? ERRORS.netlifyUnavailable(
          `Netlify is unavailable for now: ${error.message}`,
          error.retryAfter ?? 5,
        )
      : ERRORS.netlifyError(error.status, error.message)
  }
  throw error
}
