import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import { findNetlifyToken } from '../db/accounts-repo.ts'
import { insertAudit, type AuditEntry } from '../db/audit-repo.ts'
import { recordUsageEvent } from '../db/billing-repo.ts'
import type { Db, Queryable } from '../db/db.ts'
import * as repo from '../db/pushes-repo.ts'
import { ERRORS } from '../errors.ts'
import type { JobQueue } from '../jobs/queue.ts'
import type { NetlifyClient, NetlifyDeploy } from '../netlify/client.ts'
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
        await deps.onPushEnded?.(tx, push.id)
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
      await deps.onPushEnded?.(tx, push.id)
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
    audit,
    callerAudit,
    netlifyToken,
    loadPush,
    settle,
    failPush,
    reserveUpload,
    unreserveUpload,
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
