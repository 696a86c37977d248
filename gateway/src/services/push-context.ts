import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import { findNetlifyToken } from '../db/accounts-repo.ts'
import { insertAudit, type AuditEntry } from '../db/audit-repo.ts'
import { recordUsageEvent } from '../db/billing-repo.ts'
import type { Db, Queryable } from '../db/db.ts'
import * as repo from '../db/pushes-repo.ts'
import { settleUnseenFunctions, type PushFunction } from '../db/functions-repo.ts'
import { ERRORS } from '../errors.ts'
import type { JobQueue } from '../jobs/queue.ts'
import type { NetlifyClient, NetlifyDeploy } from '../netlify/client.ts'
import { fileStagingFor } from './file-staging.ts'
import { monthOf, type Clock, type Metering } from './metering.ts'
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
  /** Netlify Functions: one zip each, named by SHA-256 (none when absent). */
  functions?: FunctionInput[] | undefined
}

/** A function of push-init: its zip's digest and size, and what Netlify needs to run it. */
export interface FunctionInput extends PushFunction {
  /** Cron expression: Netlify's `function_schedules`. */
  schedule?: string | undefined
  /** Netlify's `functions_config` entry, passed on as given. */
  config?: Record<string, unknown> | undefined
}

const TERMINAL = new Set<repo.PushState>(['ready', 'error', 'cancelled', 'expired'])

export interface PushServiceDeps {
  db: Db
  netlify: NetlifyClient
  vault: Vault
  queue: () => JobQueue
  config: Config
  logger: Logger
  metering: Metering
  clock: Clock
  /**
   * Told in the transaction that ends a push (webhooks: push.ready/failed/expired). Idempotent,
   * so every path that ends a push calls it.
   */
  onPushEnded?: (tx: Queryable, pushId: string) => Promise<void>
}

/**
 * What the push routes, chunked uploads and background jobs share: loading a caller's push, the
 * customer's Netlify token, byte reservations, settling a push and auditing its steps.
 */
export function createPushContext(deps: PushServiceDeps) {
  const { db, vault, metering, clock } = deps
  // Where the files of zip pushes wait for their archive (services/zip-deploys.ts).
  const staging = fileStagingFor(db, deps.config.dataDir)

  const audit = (entry: Omit<AuditEntry, 'actor'> & { actor?: string }, q: Queryable = db) =>
    insertAudit(q, { actor: 'system', ...entry })

  const callerAudit = (caller: Caller) => ({
    actor: `key:${caller.apiKeyId}`,
    customerId: caller.customerId,
    apiKeyId: caller.apiKeyId,
    requestId: caller.requestId,
  })

  /**
   * The customer's Netlify token, read each time it is needed so a rotated token takes over at
   * once. Without a live token, `push` (when given) fails with the reason, so an in-flight push
   * ends clearly and gives its reservation back.
   */
  async function netlifyToken(customerId: string, push?: repo.PushRow): Promise<string> {
    const row = await findNetlifyToken(db, customerId)
    if (row?.ciphertext) return vault.open(customerId, row.ciphertext)
    const error = row ? ERRORS.netlifyTokenRevoked() : ERRORS.netlifyTokenMissing()
    if (push) await failPush(push, error.message)
    throw error
  }

  async function loadPush(caller: Caller, pushId: string): Promise<repo.PushRow> {
    const push = await repo.findPush(db, caller.customerId, pushId)
    if (!push) throw ERRORS.notFound(`Push '${pushId}'`)
    return push
  }

  /** The caller's push for an upload of any kind (inline, batch, chunk): 409 unless uploading. */
  async function openForUpload(caller: Caller, pushId: string): Promise<repo.PushRow> {
    const push = await loadPush(caller, pushId)
    if (push.state !== 'uploading') {
      throw ERRORS.invalidState(`Push is ${push.state}; uploads are closed.`, push.state)
    }
    return push
  }

  /**
   * An upload of any kind landed (a file, a batch, a chunk): the push's idle clock starts again.
   * Called in the transaction that records it, so a refused upload is no activity: a client
   * cannot keep a push alive with bad requests, and a refused request changes nothing.
   */
  const noteActivity = (tx: Queryable, pushId: string) => repo.touchPush(tx, pushId, clock.now())

  /**
   * Settles a push from a fresh Netlify deploy object: ready writes the usage event in the same
   * transaction (once, by the unique push id), error records Netlify's message. Ready bills an
   * uploading push too: Netlify publishes once the last file is in, whether or not the client
   * ever calls `push-complete`, so every path that sees `ready` (status, long-poll, sweep,
   * finalize) bills it.
   */
  async function settle(push: repo.PushRow, deploy: NetlifyDeploy): Promise<void> {
    const urls = deployUrls(deploy)
    if (deploy.state === 'ready' && (push.state === 'uploading' || push.state === 'finalizing')) {
      await db.transaction(async (tx) => {
        if (!(await repo.markReady(tx, push.id, urls))) return
        // Netlify is ready only with every required function: one whose answer we lost is
        // billed here, once, before the bytes are read below.
        await settleUnseenFunctions(tx, push.id)
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
        await deps.onPushEnded?.(tx, push.id)
      })
    } else if (deploy.state === 'error') {
      await failPush(push, deploy.error_message || 'Netlify reported an error', 'error')
    } else {
      await repo.updateNetlifyState(db, push.id, urls)
    }
  }

  /** A push fails (Netlify's or our reason): it ends as `error` and gives its reservation back. */
  const failPush = (push: repo.PushRow, message: string, netlifyState?: string) =>
    endPush(push, 'error', message, { netlifyState })

  /**
   * Ends a push that will not become ready (`error`, `cancelled`, `expired`) and gives its deploy
   * and bytes back to the month's budget, once, with an audit row in the same transaction.
   * Answers false when the push had already moved on.
   */
  async function endPush(
    push: repo.PushRow,
    to: repo.EndState,
    message: string,
    options: { netlifyState?: string | undefined; by?: Caller | undefined } = {},
  ): Promise<boolean> {
    return db.transaction(async (tx) => {
      if (!(await repo.markEnded(tx, push.id, to, message, options.netlifyState))) return false
      const held = await repo.endReservation(tx, push.id, 'released')
      if (held) {
        await metering.unreserve(tx, held.customer_id, held.billing_month, {
          deploys: 1,
          bytes: held.bytes_reserved,
        })
      }
      await audit(
        {
          ...(options.by ? callerAudit(options.by) : {}),
          action: `push.${to}`,
          status: to === 'error' ? 'error' : 'ok',
          customerId: push.customer_id,
          projectId: push.project_id,
          pushId: push.id,
          details: {
            message,
            ...(held ? { released: { deploys: 1, bytes: held.bytes_reserved } } : {}),
          },
        },
        tx,
      )
      await deps.onPushEnded?.(tx, push.id)
      return true
    })
  }

  /**
   * Reserves an upload's bytes against the monthly cap before any of them moves: the size
   * reserved at init when the manifest carried it (or by a concurrent upload of the same
   * content), else the request's Content-Length. The upload holds the reservation until
   * `releaseUpload`, so a racing upload of the same SHA-1 that fails cannot give it back while
   * this one streams under it. Answers undefined when the file was uploaded meanwhile.
   */
  async function reserveUpload(
    push: repo.PushRow,
    target: repo.UploadTarget,
    contentLength?: number,
  ): Promise<{ size: number } | undefined> {
    const bytes = contentLength ?? target.reserved_bytes
    if (bytes === null) throw ERRORS.lengthRequired()
    return db.transaction(async (tx) => {
      const held = (await repo.holdPathsBytes(tx, push.id, [{ path: target.path, bytes }])).get(
        target.path,
      )
      if (!held) return undefined
      if (held.size !== bytes) {
        throw ERRORS.invalidRequest(
          `This upload declares ${bytes} bytes, but ${held.size} are reserved for this file (its size in the manifest, or a concurrent upload's Content-Length).`,
        )
      }
      if (held.fresh) {
        await metering.reserveBytes(tx, push.customer_id, push.billing_month, held.size)
        await repo.addBytesReserved(tx, push.id, held.size)
      }
      return { size: held.size }
    })
  }

  /**
   * Ends an upload's hold (after a failure): the last holder of a file that never arrived gives
   * its bytes back, so a bad request changes nothing.
   */
  async function releaseUpload(push: repo.PushRow, path: string) {
    await db.transaction(async (tx) => {
      const bytes = await repo.releasePathsBytes(tx, push.id, [path])
      if (bytes > 0) {
        await metering.unreserve(tx, push.customer_id, push.billing_month, { deploys: 0, bytes })
      }
    })
  }

  return {
    audit,
    callerAudit,
    netlifyToken,
    loadPush,
    openForUpload,
    noteActivity,
    settle,
    failPush,
    endPush,
    reserveUpload,
    releaseUpload,
    staging,
    TERMINAL,
  }
}

export type PushContext = ReturnType<typeof createPushContext>

function deployUrls(deploy: NetlifyDeploy): repo.DeployUrls {
  return {
    netlifyState: deploy.state,
    url: deploy.url,
    sslUrl: deploy.ssl_url,
    deployUrl: deploy.deploy_url,
    deploySslUrl: deploy.deploy_ssl_url,
  }
}
