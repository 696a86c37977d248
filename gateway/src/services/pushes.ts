import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { AGAIN, poll } from '../lib/poll.ts'
import { findProject } from '../db/accounts-repo.ts'
import { quote } from '../db/billing-repo.ts'
import { pendingAssemblies } from '../db/chunks-repo.ts'
import * as repo from '../db/pushes-repo.ts'
import * as functionsRepo from '../db/functions-repo.ts'
import { AppError, ERRORS } from '../errors.ts'
import { toAppError } from '../netlify/errors.ts'
import { newId } from '../lib/ids.ts'
import { sha1Gate } from '../lib/digest-gate.ts'
import { NetlifyApiError, type NetlifyDeploy } from '../netlify/client.ts'
import {
  createPushContext,
  type Caller,
  type InitInput,
  type PushContext,
  type PushServiceDeps,
} from './push-context.ts'
import { finalizePush } from '../jobs/finalize-push.ts'
import { createPushLifecycle } from './push-lifecycle.ts'
import { chooseDelivery, createZipDeploys } from './zip-deploys.ts'
import {
  checkFunctionSizes,
  createFunctionUploads,
  deployFunctionsInput,
  planFunctions,
} from './functions.ts'

export type { Caller, InitInput, PushServiceDeps } from './push-context.ts'
export type { PushRow, PushState } from '../db/pushes-repo.ts'

/** How long one run of the finalize job polls Netlify before it re-queues itself. */
const FINALIZE_RUN_MS = 5_000
/** Re-checks (2 s, 4 s, … then every 30 s) before the finalize job gives up: about 10 minutes. */
const FINALIZE_ROUNDS = 22

/** How often a `push-status` long-poll asks Netlify itself rather than our row. */
const STATUS_REFRESH_MS = 5_000

/** The push flow: init → upload → complete → status, and the finalization the job runs. */
export function createPushService(
  deps: PushServiceDeps,
  ctx: PushContext = createPushContext(deps),
) {
  const { db, netlify, config, logger, metering, clock } = deps

  const {
    audit,
    callerAudit,
    netlifyToken,
    loadPush,
    openForUpload,
    noteActivity,
    settle,
    failPush,
    reserveUpload,
    releaseUpload,
    TERMINAL,
  } = ctx
  const lifecycle = createPushLifecycle(deps, ctx)
  const zip = createZipDeploys(deps, ctx)

  /** The record, refreshed from Netlify while the push is still moving. */
  async function status(caller: Caller, pushId: string) {
    return refresh(caller, await loadPush(caller, pushId))
  }

  /**
   * The record, refreshed from Netlify only when no other status waiter (here or in another
   * process) has done so within STATUS_REFRESH_MS: many waiters cost one Netlify call each
   * interval, not one each.
   */
  async function coalescedStatus(caller: Caller, pushId: string) {
    const push = await loadPush(caller, pushId)
    if (TERMINAL.has(push.state) || !push.deploy_id) return push
    if (!(await repo.claimNetlifyRefresh(db, push.id, STATUS_REFRESH_MS))) return push
    return refresh(caller, push)
  }

  /** Asks Netlify for the deploy of a push still moving, settles it, answers the fresh row. */
  async function refresh(caller: Caller, push: repo.PushRow) {
    const pushId = push.id
    if (TERMINAL.has(push.state) || !push.deploy_id) return push
    try {
      const deploy = await netlify.getDeploy(
        await netlifyToken(caller.customerId, push),
        push.deploy_id,
        true,
      )
      await settle(push, deploy)
    } catch (error) {
      // A slow or failing Netlify must not break status reads: answer what we know.
      logger.warn({ err: error, pushId }, 'live Netlify refresh failed')
      return loadPush(caller, pushId)
    }
    return loadPush(caller, pushId)
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
      const fns = await planFunctions(db, project.id, input.functions ?? [])
      const bytes = upload.reduce((n, [, size]) => n + (size ?? 0), 0) + fns.bytes
      const price = await quote(db, clock.now(), bytes)
      return {
        project: { id: project.id, name: project.name, siteId: project.site_id },
        files: { total: byPath.length, distinct: distinct.size },
        wouldUpload: {
          files: upload.length,
          bytes: sized ? bytes : null,
          shas: upload.map(([sha]) => sha),
          functions: fns.names,
          functionBytes: fns.bytes,
        },
        functions: { total: input.functions?.length ?? 0 },
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
      const functions = input.functions ?? []
      checkFunctionSizes(functions, config.functionMaxBytes)
      const token = await netlifyToken(caller.customerId)
      const paths = Object.keys(input.files)
      const pushId = newId('push')
      // The customer's idle pushes end before admission counts the month: an abandoned push
      // must not hold a deploy of the cap until the next sweep.
      await lifecycle.expireIdle(caller.customerId)
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
          activeAt: clock.now(),
        })
        await repo.insertPushFiles(tx, pushId, {
          paths,
          shas: paths.map((p) => input.files[p]!),
          sizes: paths.map((p) => input.sizes?.[p] ?? null),
        })
        await functionsRepo.insertPushFunctions(tx, pushId, functions)
        return admission
      })
      let deploy: NetlifyDeploy
      try {
        deploy = await netlify.createDeploy(token, project.site_id, {
          files: input.files,
          draft: input.draft ?? false,
          ...(input.alias ? { branch: input.alias } : {}),
          ...(input.title ? { title: input.title } : {}),
          ...deployFunctionsInput(functions),
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
      const recorded = await repo.setDeployCreated(db, pushId, {
        deployId: deploy.id,
        netlifyState: deploy.state,
        required,
      })
      if (!recorded) {
        // Netlify took longer than a push may sit idle, and the sweep expired it meanwhile (its
        // reservation is back): the deploy nobody will upload to is cancelled too.
        await netlify.cancelDeploy(token, deploy.id).catch(() => {})
        const push = await repo.findPushById(db, pushId)
        throw ERRORS.invalidState(
          `Push is ${push?.state ?? 'gone'}; start a new one.`,
          push?.state ?? 'expired',
        )
      }
      let requiredFunctions: string[] = []
      // One zip deploy instead of a PUT per file, when that pays (zip-deploys.ts): the client
      // then sends every distinct file, since the archive holds the whole site.
      const delivery = chooseDelivery(config.zip, {
        files: paths.map((path) => ({ path, sha1: input.files[path]!, size: input.sizes?.[path] })),
        required: required.length,
        functions: functions.length,
        budget: netlify.requestBudget(token),
        inlineMaxBytes: config.inlineMaxBytes,
      })
      let wanted = required
      try {
        await db.transaction(async (tx) => {
          if (delivery.zip) wanted = await zip.startStaging(tx, pushId, required)
          // With sizes in the manifest, the bytes Netlify asked for are checked now; a function
          // zip always has its size, so each zip Netlify asked for is reserved now, once.
          const fns = await functionsRepo.markRequiredFunctions(tx, pushId, [
            ...new Set(deploy.required_functions ?? []),
          ])
          requiredFunctions = fns.names
          if (fns.bytes > 0) await repo.addBytesReserved(tx, pushId, fns.bytes)
          const bytes = (await repo.reserveKnownSizes(tx, pushId)) + fns.bytes
          await metering.reserveBytes(tx, caller.customerId, admitted.month, bytes)
          await audit(
            {
              ...callerAudit(caller),
              action: 'push.init',
              status: 'ok',
              projectId: project.id,
              pushId,
              details: {
                files: paths.length,
                required: required.length,
                ...(delivery.zip ? { zip: delivery.reason } : {}),
                ...(functions.length > 0 ? { functions: functions.length, requiredFunctions } : {}),
              },
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
        required: wanted,
        requiredFunctions,
        delivery: delivery.zip ? ('zip' as const) : ('files' as const),
        upload: {
          inlineMaxBytes: config.inlineMaxBytes,
          chunkBytes: config.chunkBytes,
          batch: config.batch,
        },
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
      const push = await openForUpload(caller, pushId)
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
      const reserved = await reserveUpload(push, target, contentLength)
      if (!reserved) return { sha1, bytes: 0, skipped: true }
      const { size } = reserved
      const token = await netlifyToken(caller.customerId, push)
      // The body may not outgrow what was reserved for it: bytes past the cap never leave.
      const gate = sha1Gate(sha1, size).feedFrom(body)
      try {
        if (push.zip_state === 'staging') {
          // Kept for the archive (zip-deploys.ts), and only if the gate lets it end.
          await ctx.staging.keepStream(db, pushId, sha1, gate)
        } else {
          await netlify.uploadFile(token, push.deploy_id!, target.path, gate, contentLength)
        }
      } catch (error) {
        await releaseUpload(push, target.path)
        const appError =
          gate.refusal === 'mismatch'
            ? ERRORS.shaMismatch(sha1, gate.actual!)
            : gate.refusal === 'too-large'
              ? ERRORS.payloadTooLarge(
                  `The body is larger than the ${size} bytes declared for this file.`,
                )
              : toAppError(error)
        // Netlify refusing the file for good (a revoked token, a cancelled deploy) dooms the push:
        // fail it now with Netlify's message, which also returns its reservation.
        if (error instanceof NetlifyApiError && !error.transient && !gate.mismatched) {
          await failPush(push, appError.message)
        }
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
        await releaseUpload(push, target.path)
        throw ERRORS.shaMismatch(sha1, gate.actual!)
      }
      await db.transaction(async (tx) => {
        await repo.markUploaded(tx, pushId, sha1, gate.bytes)
        await noteActivity(tx, pushId)
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
        // Files still being assembled from chunks count as in: finalization waits for them.
        const assembling = new Set(
          (await pendingAssemblies(db, pushId))
            .filter((a) => a.state === 'assembling')
            .map((a) => a.sha1),
        )
        const missing = (await repo.missingRequiredShas(db, pushId)).filter(
          (sha) => !assembling.has(sha),
        )
        const missingFunctions = await functionsRepo.missingFunctions(db, pushId)
        if (missing.length + missingFunctions.length > 0) {
          throw ERRORS.uploadsIncomplete(missing, missingFunctions)
        }
        await db.transaction(async (tx) => {
          if (!(await repo.startFinalizing(tx, pushId))) return
          await finalizePush.send(deps.queue(), { pushId }, { tx, customerId: push.customer_id })
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
      return poll(
        async ({ nextDelayMs }) => {
          const current = await loadPush(caller, pushId)
          return TERMINAL.has(current.state) || Date.now() + nextDelayMs > deadline
            ? current
            : AGAIN
        },
        { firstDelayMs: 25, maxDelayMs: 500 },
      )
    },

    status,

    /** `PUT /v1/push-upload-function`: one function zip, verified by SHA-256 (functions.ts). */
    uploadFunction: createFunctionUploads(deps, ctx, toAppError),

    cancel: lifecycle.cancel,

    /** Drops the staged files zip pushes no longer need (the hourly cleanup). */
    dropZipLeftovers: zip.dropLeftovers,

    /** The minute sweep (a job): bill what Netlify published, expire what sits idle. */
    sweep: lifecycle.sweep,

    /**
     * The long-poll of `push-status`: answers as soon as the push is final, or when `timeoutMs`
     * passes, `signal` aborts (the client left) or `stop()` says so (the process is draining).
     * Waits on our own row with short backoff, like `complete` with `wait`, and holds no
     * transaction meanwhile; Netlify is asked again only every few seconds, in case the finalize
     * job is between retries, and then by one waiter of the push for all of them (a claim in the
     * database), so many waiters do not spend the customer's Netlify budget.
     */
    async waitForFinal(
      caller: Caller,
      pushId: string,
      options: { timeoutMs: number; signal?: AbortSignal; stop?: () => boolean },
    ) {
      const deadline = Date.now() + options.timeoutMs
      let refreshedAt = Date.now()
      let current = await coalescedStatus(caller, pushId)
      return poll(
        async ({ round }) => {
          if (round > 1 && Date.now() - refreshedAt >= STATUS_REFRESH_MS) {
            current = await coalescedStatus(caller, pushId)
            refreshedAt = Date.now()
          } else if (round > 1) {
            current = await loadPush(caller, pushId)
          }
          if (TERMINAL.has(current.state) || deadline - Date.now() <= 0) return current
          if (options.signal?.aborted || options.stop?.()) return current
          return AGAIN
        },
        {
          firstDelayMs: 25,
          maxDelayMs: 500,
          // Never past the deadline, and cut short when the client leaves.
          wait: (ms) =>
            sleep(Math.max(0, Math.min(ms, deadline - Date.now())), undefined, {
              signal: options.signal,
            }).catch(() => {}),
        },
      )
    },

    /**
     * The finalize job: polls Netlify for a few seconds until the deploy is ready or failed. A
     * deploy still processing after that is not waited for in the worker: the answer says when
     * to look again (round `round` of the re-checks), and the job re-queues itself for then. A
     * transient failure throws, and pg-boss retries the job with backoff; a permanent one fails
     * the push.
     */
    async finalize(
      pushId: string,
      round = 0,
    ): Promise<{ afterSeconds: number; customerId: string } | undefined> {
      let push = await repo.findPushById(db, pushId)
      if (!push || push.state !== 'finalizing') return undefined
      if (push.zip_state) {
        // A zip push's files reach Netlify first: as the archive, or by PUT if it was refused.
        await zip.deliver(push)
        push = await repo.findPushById(db, pushId)
        if (!push || push.state !== 'finalizing') return undefined
      }
      const runUntil = Date.now() + FINALIZE_RUN_MS
      return poll(
        async ({ nextDelayMs: delay }) => {
          // Read every round: a rotated token takes over mid-poll; a revoked one fails the push.
          let token: string
          try {
            token = await netlifyToken(push.customer_id, push)
          } catch (error) {
            if (error instanceof AppError) return undefined
            throw error
          }
          let deploy: NetlifyDeploy
          try {
            deploy = await netlify.getDeploy(token, push.deploy_id!)
          } catch (error) {
            if (error instanceof NetlifyApiError && !error.transient) {
              await failPush(push, toAppError(error).message)
              return undefined
            }
            throw error
          }
          await settle(push, deploy)
          push = (await repo.findPushById(db, pushId))!
          if (TERMINAL.has(push.state)) return undefined
          const failed = (await pendingAssemblies(db, pushId)).find((a) => a.state === 'failed')
          if (failed) {
            await failPush(push, failed.error ?? `Assembling ${failed.sha1} failed`)
            return undefined
          }
          if (Date.now() + delay > runUntil) {
            // Past ~10 minutes of re-checks the job fails instead, and pg-boss's retries (with
            // their backoff, then a dead job for a person) take over.
            if (round >= FINALIZE_ROUNDS) {
              throw new Error(`Deploy ${push.deploy_id} still ${deploy.state}`)
            }
            return { afterSeconds: Math.min(2 ** (round + 1), 30), customerId: push.customer_id }
          }
          return AGAIN
        },
        { firstDelayMs: 25, maxDelayMs: 1_000 },
      )
    },
  }
}

export type PushService = ReturnType<typeof createPushService>
