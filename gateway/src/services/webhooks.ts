import { createHmac, randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { findCustomer } from '../db/accounts-repo.ts'
import { insertAudit } from '../db/audit-repo.ts'
import type { Db, Queryable } from '../db/db.ts'
import * as repo from '../db/webhooks-repo.ts'
import { ERRORS } from '../errors.ts'
import { randomBase62 } from '../lib/ids.ts'
import { deliverWebhook } from '../jobs/deliver-webhook.ts'
import type { JobQueue } from '../jobs/queue.ts'
import { auditActor, type ActorRef } from './audit.ts'
import { monthOf, type Clock, type Metering } from './metering.ts'
import type { Vault } from './vault.ts'

/** Every event type, public API: receivers branch on these strings. */
export const WEBHOOK_EVENTS = [
  'push.ready',
  'push.failed',
  'push.expired',
  'cap.warning',
  'cap.exceeded',
  'token.rejected',
  'job.dead',
  'invoice.finalized',
  'webhook.disabled',
] as const
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number]

/** `cap.warning` fires once a month and limit when usage reaches this share of the limit. */
export const CAP_WARNING_SHARE = 0.8

export interface WebhookSettings {
  /** Attempts per delivery in all (the first included); pg-boss backs off between them. */
  attempts: number
  retryDelaySeconds: number
  /** Each attempt is cut after this long. */
  timeoutMs: number
  /** Failed attempts in a row (any event) after which an endpoint is disabled. */
  disableAfter: number
}

export interface WebhooksDeps {
  db: Db
  vault: Vault
  queue: () => JobQueue
  settings: WebhookSettings
  logger: Logger
  metering: Metering
  clock: Clock
}

/** Who asks: a customer (its own endpoints only) or the operator (`undefined`: all). */
export type WebhookScope = string | undefined

export interface EndpointView {
  id: string
  /** null: the operator's endpoint, which hears every customer's events. */
  customerId: string | null
  url: string
  events: string[] | null
  enabled: boolean
  disabledAt: Date | null
  disabledReason: string | null
  consecutiveFailures: number
  createdAt: Date
}

const endpointView = (r: repo.EndpointRow): EndpointView => ({
  id: r.id,
  customerId: r.customer_id,
  url: r.url,
  events: r.events,
  enabled: r.enabled,
  disabledAt: r.disabled_at,
  disabledReason: r.disabled_reason,
  consecutiveFailures: r.consecutive_failures,
  createdAt: r.created_at,
})

const deliveryView = (r: repo.DeliveryRow) => ({
  id: r.id,
  endpointId: r.endpoint_id,
  eventId: r.event_id,
  eventType: r.event_type,
  sequence: Number(r.event_seq),
  customerId: r.customer_id,
  status: r.status,
  attempts: r.attempts,
  lastStatusCode: r.last_status_code,
  lastError: r.last_error,
  createdAt: r.created_at,
  deliveredAt: r.delivered_at,
})
export type DeliveryView = ReturnType<typeof deliveryView>

/**
 * The vault binds a ciphertext to an owner string; for a webhook secret that is the endpoint, so
 * a secret copied onto another endpoint's row does not open.
 */
const vaultOwner = (endpointId: string) => `webhook:${endpointId}`

/** Stripe's scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')
  return `t=${unixSeconds},v1=${mac}`
}

const ERROR_TEXT_MAX = 300

/**
 * Signed outgoing webhooks: endpoints (the operator's and each customer's own), events emitted
 * once per kind and fact (a dedupe key), one delivery per listening endpoint, sent by a job.
 */
export function createWebhooks(deps: WebhooksDeps) {
  const { db, vault, settings, logger, metering, clock } = deps

  /**
   * Records an event and a delivery for each endpoint that hears it, and queues the deliveries,
   * all in `q`'s transaction when it is one: an event exists exactly when the fact it reports
   * was committed. Emitting the same dedupe key twice does nothing.
   */
  async function emit(
    q: Queryable,
    e: { type: WebhookEventType; customerId: string | null; dedupeKey: string; data: object },
  ): Promise<string | undefined> {
    const event = await repo.insertEvent(q, {
      id: `evt_${randomBase62(20)}`,
      type: e.type,
      customerId: e.customerId,
      dedupeKey: e.dedupeKey,
      data: e.data,
    })
    if (!event) return undefined
    for (const endpoint of await repo.listeningEndpoints(q, e.type, e.customerId)) {
      const deliveryId = `whd_${randomBase62(20)}`
      await repo.insertDelivery(q, { id: deliveryId, endpointId: endpoint.id, eventId: event.id })
      await deliverWebhook.send(deps.queue(), { deliveryId }, { tx: q })
    }
    return event.id
  }

  /** Emits outside any caller transaction, never failing the caller: events are a side channel. */
  async function emitQuietly(e: Parameters<typeof emit>[1]) {
    try {
      await db.transaction((tx) => emit(tx, e))
    } catch (error) {
      logger.error({ err: error, type: e.type }, 'could not record a webhook event')
    }
  }

  /** Disables a failing endpoint once, tells the operator (audit + event) and stops its queue. */
  async function disable(endpoint: repo.EndpointRow, reason: string) {
    await db.transaction(async (tx) => {
      if (!(await repo.disableEndpoint(tx, endpoint.id, reason))) return
      await repo.cancelPending(tx, endpoint.id)
      await insertAudit(tx, {
        actor: 'system',
        action: 'webhook.disabled',
        status: 'error',
        customerId: endpoint.customer_id ?? undefined,
        details: { endpointId: endpoint.id, url: endpoint.url, reason },
      })
      // To the operator's endpoints that still work (customer null: never a customer's).
      await emit(tx, {
        type: 'webhook.disabled',
        customerId: null,
        dedupeKey: `webhook.disabled:${endpoint.id}:${Date.now()}`,
        data: {
          endpointId: endpoint.id,
          customerId: endpoint.customer_id,
          url: endpoint.url,
          reason,
        },
      })
    })
    logger.warn({ endpointId: endpoint.id, reason }, 'webhook endpoint disabled')
  }

  return {
    emit,

    async createEndpoint(
      owner: { customerId: string | null },
      input: { url: string; events?: WebhookEventType[] | undefined },
      actor: ActorRef,
    ): Promise<{ endpoint: EndpointView; secret: string }> {
      const id = `whe_${randomBase62(20)}`
      const secret = `whsec_${randomBytes(32).toString('base64url')}`
      const sealed = vault.seal(vaultOwner(id), secret)
      const row = await db.transaction(async (tx) => {
        if (owner.customerId && !(await findCustomer(tx, owner.customerId))) {
          throw ERRORS.notFound(`Customer '${owner.customerId}'`)
        }
        const created = await repo.insertEndpoint(tx, {
          id,
          customerId: owner.customerId,
          url: input.url,
          events: input.events?.length ? [...new Set(input.events)] : null,
          ciphertext: sealed.ciphertext,
          keyId: sealed.keyId,
        })
        await insertAudit(tx, {
          ...auditActor(actor),
          action: 'webhook.create',
          status: 'ok',
          customerId: owner.customerId ?? undefined,
          details: { endpointId: id, url: input.url },
        })
        return created
      })
      // The only time the secret leaves the vault toward a person.
      return { endpoint: endpointView(row), secret }
    },

    async listEndpoints(scope: WebhookScope | null): Promise<EndpointView[]> {
      return (await repo.listEndpoints(db, scope)).map(endpointView)
    },

    async removeEndpoint(id: string, scope: WebhookScope, actor: ActorRef): Promise<void> {
      await db.transaction(async (tx) => {
        const endpoint = await repo.findEndpoint(tx, id, scope)
        if (!endpoint) throw ERRORS.notFound(`Webhook endpoint '${id}'`)
        await repo.deleteEndpoint(tx, id)
        await insertAudit(tx, {
          ...auditActor(actor),
          action: 'webhook.remove',
          status: 'ok',
          customerId: endpoint.customer_id ?? undefined,
          details: { endpointId: id, url: endpoint.url },
        })
      })
    },

    /** Turns a disabled endpoint back on (its failure count starts again from zero). */
    async enableEndpoint(id: string, scope: WebhookScope, actor: ActorRef): Promise<EndpointView> {
      return db.transaction(async (tx) => {
        const endpoint = await repo.findEndpoint(tx, id, scope)
        if (!endpoint) throw ERRORS.notFound(`Webhook endpoint '${id}'`)
        await repo.enableEndpoint(tx, id)
        await insertAudit(tx, {
          ...auditActor(actor),
          action: 'webhook.enable',
          status: 'ok',
          customerId: endpoint.customer_id ?? undefined,
          details: { endpointId: id },
        })
        return endpointView((await repo.findEndpoint(tx, id, scope))!)
      })
    },

    async listDeliveries(
      scope: WebhookScope,
      filter: { endpointId?: string | undefined; limit: number },
    ): Promise<DeliveryView[]> {
      if (filter.endpointId && !(await repo.findEndpoint(db, filter.endpointId, scope))) {
        throw ERRORS.notFound(`Webhook endpoint '${filter.endpointId}'`)
      }
      const rows = await repo.listDeliveries(db, { customerId: scope, ...filter })
      return rows.map(deliveryView)
    },

    async attempts(deliveryId: string, scope: WebhookScope) {
      if (!(await repo.findDelivery(db, deliveryId, scope))) {
        throw ERRORS.notFound(`Webhook delivery '${deliveryId}'`)
      }
      return (await repo.listAttempts(db, deliveryId)).map((a) => ({
        at: a.at,
        statusCode: a.status_code,
        error: a.error,
        durationMs: a.duration_ms,
      }))
    },

    /** Sends a delivery again (whatever its status) with a fresh set of attempts. */
    async resend(deliveryId: string, scope: WebhookScope, actor: ActorRef): Promise<void> {
      await db.transaction(async (tx) => {
        const delivery = await repo.findDelivery(tx, deliveryId, scope)
        if (!delivery) throw ERRORS.notFound(`Webhook delivery '${deliveryId}'`)
        if (!delivery.enabled) {
          throw ERRORS.invalidState('The endpoint is disabled; enable it first.', 'disabled')
        }
        await repo.setDeliveryStatus(tx, deliveryId, 'pending')
        await insertAudit(tx, {
          ...auditActor(actor),
          action: 'webhook.resend',
          status: 'ok',
          details: { deliveryId, endpointId: delivery.endpoint_id },
        })
        await deliverWebhook.send(deps.queue(), { deliveryId }, { tx })
      })
    },

    /**
     * One attempt of a delivery (the job's handler). A failure throws while attempts remain, so
     * pg-boss retries with backoff; the last failure marks the delivery failed. Every attempt is
     * recorded, and an endpoint failing `disableAfter` times in a row is disabled.
     */
    async deliver(deliveryId: string, attemptIndex: number): Promise<void> {
      const found = await repo.findDeliveryForSend(db, deliveryId)
      if (!found || found.delivery.status !== 'pending') return
      const { event, endpoint } = found
      if (!endpoint.enabled) {
        await repo.setDeliveryStatus(db, deliveryId, 'cancelled')
        return
      }
      const secret = vault.open(vaultOwner(endpoint.id), endpoint.secret_ciphertext)
      const body = JSON.stringify({
        id: event.id,
        type: event.type,
        created: new Date(event.created_at).toISOString(),
        sequence: Number(event.seq),
        customerId: event.customer_id,
        data: event.data,
      })
      const started = performance.now()
      let statusCode: number | null = null
      let error: string | null = null
      try {
        // Only ever the registered URL: a redirect is an answer (a failure), never followed.
        const response = await fetch(endpoint.url, {
          method: 'POST',
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(settings.timeoutMs),
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Kaixu-Webhooks/1',
            'kaixu-event-id': event.id,
            'kaixu-event-type': event.type,
            'kaixu-delivery-id': deliveryId,
            'kaixu-signature': signatureHeader(secret, body, Math.floor(Date.now() / 1000)),
          },
        })
        statusCode = response.status
        await response.body?.cancel()
        if (statusCode < 200 || statusCode > 299) error = `HTTP ${statusCode}`
      } catch (caught) {
        const e = caught as Error
        error =
          e.name === 'TimeoutError'
            ? `timed out after ${settings.timeoutMs} ms`
            : `${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}`
      }
      const ok = error === null
      const failures = await db.transaction((tx) =>
        repo.recordAttempt(tx, {
          deliveryId,
          endpointId: endpoint.id,
          ok,
          statusCode,
          error: error?.slice(0, ERROR_TEXT_MAX) ?? null,
          durationMs: Math.round(performance.now() - started),
        }),
      )
      if (ok) return
      if (failures >= settings.disableAfter) {
        await disable(endpoint, `${failures} failed attempts in a row; last: ${error}`)
        return
      }
      if (attemptIndex + 1 >= settings.attempts) {
        await repo.setDeliveryStatus(db, deliveryId, 'failed')
        return
      }
      throw new Error(`Webhook delivery ${deliveryId} to ${endpoint.id} failed: ${error}`)
    },

    // Event sources: one function per kind of fact, called from where the fact happens.

    /**
     * A push reached an end state: push.ready, push.failed or push.expired by its state, and
     * after a ready push, cap.warning when the month's usage crossed 80 % of a limit. Idempotent
     * (one event per push and state), so every path that ends a push may call it, in its tx.
     */
    async pushEnded(q: Queryable, pushId: string): Promise<void> {
      const push = await repo.pushFacts(q, pushId)
      const type = (
        { ready: 'push.ready', error: 'push.failed', expired: 'push.expired' } as const
      )[push?.state ?? '']
      if (!push || !type) return
      await emit(q, {
        type,
        customerId: push.customer_id,
        dedupeKey: `${type}:${push.id}`,
        data: {
          pushId: push.id,
          project: push.project,
          state: push.state,
          deployId: push.deploy_id,
          ...(type === 'push.ready'
            ? { siteUrl: push.ssl_url, deployUrl: push.deploy_ssl_url }
            : { errorMessage: push.error_message }),
        },
      })
      if (type !== 'push.ready') return
      const report = await metering.report(q, push.customer_id, clock.now())
      for (const which of ['deploys', 'bytes'] as const) {
        const { limit, used } = report[which]
        if (limit > 0 && used >= limit * CAP_WARNING_SHARE) {
          await emit(q, {
            type: 'cap.warning',
            customerId: push.customer_id,
            dedupeKey: `cap.warning:${push.customer_id}:${report.month}:${which}:${limit}`,
            data: { limit: which, used, max: limit, month: report.month, resetAt: report.resetAt },
          })
        }
      }
    },

    /**
     * A request was refused for the customer's cap (once a month and limit) or because Netlify
     * no longer takes its stored token (once an hour): called by the HTTP error handler.
     */
    async requestRefused(
      customerId: string,
      code: 'cap_exceeded' | 'netlify_token_rejected',
      details: Record<string, unknown>,
    ): Promise<void> {
      const now = clock.now()
      if (code === 'cap_exceeded') {
        const month = monthOf(now).slice(0, 7)
        await emitQuietly({
          type: 'cap.exceeded',
          customerId,
          dedupeKey: `cap.exceeded:${customerId}:${month}:${String(details['limit'])}`,
          data: { month, ...details },
        })
      } else {
        await emitQuietly({
          type: 'token.rejected',
          customerId,
          dedupeKey: `token.rejected:${customerId}:${now.toISOString().slice(0, 13)}`,
          data: { netlifyStatus: details['netlifyStatus'] ?? null },
        })
      }
    },

    /** A background job used all its attempts: the operator's endpoints hear of it. */
    async jobDead(job: { queue: string; id: string; error: string }): Promise<void> {
      if (job.queue === deliverWebhook.name) return // never report webhooks through webhooks
      await emitQuietly({
        type: 'job.dead',
        customerId: null,
        dedupeKey: `job.dead:${job.id}`,
        data: { queue: job.queue, jobId: job.id, error: job.error.slice(0, ERROR_TEXT_MAX) },
      })
    },

    /** A customer's invoice for `month` was finalized (in the finalizing transaction). */
    async invoiceFinalized(q: Queryable, customerId: string, month: string): Promise<void> {
      await emit(q, {
        type: 'invoice.finalized',
        customerId,
        dedupeKey: `invoice.finalized:${customerId}:${month}`,
        data: { month },
      })
    },
  }
}

export type Webhooks = ReturnType<typeof createWebhooks>
