import type { Queryable } from './db.ts'

export interface EndpointRow {
  id: string
  customer_id: string | null
  url: string
  events: string[] | null
  secret_ciphertext: string
  secret_key_id: string
  enabled: boolean
  disabled_at: Date | null
  disabled_reason: string | null
  consecutive_failures: number
  created_at: Date
}

export interface EventRow {
  id: string
  seq: string
  type: string
  customer_id: string | null
  data: Record<string, unknown>
  created_at: Date
}

export interface DeliveryRow {
  id: string
  endpoint_id: string
  event_id: string
  event_type: string
  event_seq: string
  customer_id: string | null
  status: 'pending' | 'delivered' | 'failed' | 'cancelled'
  attempts: number
  last_status_code: number | null
  last_error: string | null
  created_at: Date
  delivered_at: Date | null
}

export async function insertEndpoint(
  q: Queryable,
  e: {
    id: string
    customerId: string | null
    url: string
    events: string[] | null
    ciphertext: string
    keyId: string
  },
): Promise<EndpointRow> {
  const rows = await q.query<EndpointRow>(
    `INSERT INTO webhook_endpoints (id, customer_id, url, events, secret_ciphertext, secret_key_id)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [e.id, e.customerId, e.url, e.events, e.ciphertext, e.keyId],
  )
  return rows[0]!
}

/** `customerId` undefined: every endpoint (the operator); null: the operator's own. */
export const listEndpoints = (q: Queryable, customerId: string | null | undefined) =>
  q.query<EndpointRow>(
    `SELECT * FROM webhook_endpoints
      WHERE ($1::boolean OR customer_id IS NOT DISTINCT FROM $2)
      ORDER BY created_at, id`,
    [customerId === undefined, customerId ?? null],
  )

/** One endpoint, scoped like listEndpoints so a customer never reaches another's. */
export async function findEndpoint(
  q: Queryable,
  id: string,
  customerId: string | null | undefined,
): Promise<EndpointRow | undefined> {
  const rows = await q.query<EndpointRow>(
    `SELECT * FROM webhook_endpoints
      WHERE id = $1 AND ($2::boolean OR customer_id IS NOT DISTINCT FROM $3)`,
    [id, customerId === undefined, customerId ?? null],
  )
  return rows[0]
}

export async function deleteEndpoint(q: Queryable, id: string): Promise<boolean> {
  const rows = await q.query('DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id', [id])
  return rows.length > 0
}

export async function enableEndpoint(q: Queryable, id: string): Promise<void> {
  await q.query(
    `UPDATE webhook_endpoints
        SET enabled = true, disabled_at = NULL, disabled_reason = NULL, consecutive_failures = 0
      WHERE id = $1`,
    [id],
  )
}

/** Inserts the event once per dedupe key; undefined when it was already emitted. */
export async function insertEvent(
  q: Queryable,
  e: { id: string; type: string; customerId: string | null; dedupeKey: string; data: unknown },
): Promise<EventRow | undefined> {
  const rows = await q.query<EventRow>(
    `INSERT INTO webhook_events (id, type, customer_id, dedupe_key, data)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING id, seq::text AS seq, type, customer_id, data, created_at`,
    [e.id, e.type, e.customerId, e.dedupeKey, JSON.stringify(e.data)],
  )
  return rows[0]
}

/**
 * The enabled endpoints that hear an event: the operator's (all customers) and, for a
 * customer's event, that customer's own, each filtered by the types it asked for.
 */
export const listeningEndpoints = (q: Queryable, type: string, customerId: string | null) =>
  q.query<{ id: string }>(
    `SELECT id FROM webhook_endpoints
      WHERE enabled
        AND (customer_id IS NULL OR customer_id = $2)
        AND (events IS NULL OR $1 = ANY(events))
      ORDER BY created_at, id`,
    [type, customerId],
  )

export async function insertDelivery(
  q: Queryable,
  d: { id: string; endpointId: string; eventId: string },
): Promise<void> {
  await q.query(
    `INSERT INTO webhook_deliveries (id, endpoint_id, event_id) VALUES ($1, $2, $3)
     ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
    [d.id, d.endpointId, d.eventId],
  )
}

/** What a delivery attempt needs: the delivery, its event and its endpoint. */
export async function findDeliveryForSend(q: Queryable, id: string) {
  const rows = await q.query<{
    delivery: { id: string; status: string; attempts: number }
    event: EventRow
    endpoint: EndpointRow
  }>(
    `SELECT json_build_object('id', d.id, 'status', d.status, 'attempts', d.attempts) AS delivery,
            json_build_object('id', ev.id, 'seq', ev.seq::text, 'type', ev.type,
                              'customer_id', ev.customer_id, 'data', ev.data,
                              'created_at', ev.created_at) AS event,
            row_to_json(e.*) AS endpoint
       FROM webhook_deliveries d
       JOIN webhook_events ev ON ev.id = d.event_id
       JOIN webhook_endpoints e ON e.id = d.endpoint_id
      WHERE d.id = $1`,
    [id],
  )
  return rows[0]
}

/**
 * Records one attempt and its outcome on the delivery and the endpoint (failures in a row reset
 * on success). Answers the endpoint's failure count after this attempt.
 */
export async function recordAttempt(
  q: Queryable,
  a: {
    deliveryId: string
    endpointId: string
    ok: boolean
    statusCode: number | null
    error: string | null
    durationMs: number
  },
): Promise<number> {
  await q.query(
    `INSERT INTO webhook_attempts (delivery_id, status_code, error, duration_ms)
     VALUES ($1, $2, $3, $4)`,
    [a.deliveryId, a.statusCode, a.error, a.durationMs],
  )
  await q.query(
    `UPDATE webhook_deliveries
        SET attempts = attempts + 1, last_status_code = $2, last_error = $3,
            status = CASE WHEN $4::boolean THEN 'delivered' ELSE status END,
            delivered_at = CASE WHEN $4::boolean THEN now() ELSE delivered_at END
      WHERE id = $1`,
    [a.deliveryId, a.statusCode, a.error, a.ok],
  )
  const rows = await q.query<{ consecutive_failures: number }>(
    `UPDATE webhook_endpoints
        SET consecutive_failures = CASE WHEN $2::boolean THEN 0 ELSE consecutive_failures + 1 END
      WHERE id = $1 RETURNING consecutive_failures`,
    [a.endpointId, a.ok],
  )
  return rows[0]?.consecutive_failures ?? 0
}

export async function setDeliveryStatus(
  q: Queryable,
  id: string,
  status: 'pending' | 'failed' | 'cancelled',
): Promise<void> {
  await q.query('UPDATE webhook_deliveries SET status = $2 WHERE id = $1', [id, status])
}

/** Disables an enabled endpoint; false when it already was (so the operator is told once). */
export async function disableEndpoint(q: Queryable, id: string, reason: string): Promise<boolean> {
  const rows = await q.query(
    `UPDATE webhook_endpoints SET enabled = false, disabled_at = now(), disabled_reason = $2
      WHERE id = $1 AND enabled RETURNING id`,
    [id, reason],
  )
  return rows.length > 0
}

/** Pending deliveries of an endpoint that can no longer be sent. */
export const cancelPending = (q: Queryable, endpointId: string) =>
  q.query(
    `UPDATE webhook_deliveries SET status = 'cancelled'
      WHERE endpoint_id = $1 AND status = 'pending'`,
    [endpointId],
  )

/** Deliveries, newest first, scoped like listEndpoints. */
export const listDeliveries = (
  q: Queryable,
  f: { customerId: string | null | undefined; endpointId?: string | undefined; limit: number },
) =>
  q.query<DeliveryRow>(
    `SELECT d.id, d.endpoint_id, d.event_id, ev.type AS event_type, ev.seq::text AS event_seq,
            ev.customer_id, d.status, d.attempts, d.last_status_code, d.last_error,
            d.created_at, d.delivered_at
       FROM webhook_deliveries d
       JOIN webhook_events ev ON ev.id = d.event_id
       JOIN webhook_endpoints e ON e.id = d.endpoint_id
      WHERE ($1::boolean OR e.customer_id IS NOT DISTINCT FROM $2)
        AND ($3::text IS NULL OR d.endpoint_id = $3)
      ORDER BY ev.seq DESC, d.id LIMIT $4`,
    [f.customerId === undefined, f.customerId ?? null, f.endpointId ?? null, f.limit],
  )

export async function findDelivery(
  q: Queryable,
  id: string,
  customerId: string | null | undefined,
): Promise<{ id: string; endpoint_id: string; enabled: boolean } | undefined> {
  const rows = await q.query<{ id: string; endpoint_id: string; enabled: boolean }>(
    `SELECT d.id, d.endpoint_id, e.enabled
       FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
      WHERE d.id = $1 AND ($2::boolean OR e.customer_id IS NOT DISTINCT FROM $3)`,
    [id, customerId === undefined, customerId ?? null],
  )
  return rows[0]
}

/** Attempts of a delivery, oldest first. */
export const listAttempts = (q: Queryable, deliveryId: string) =>
  q.query<{ at: Date; status_code: number | null; error: string | null; duration_ms: number }>(
    `SELECT at, status_code, error, duration_ms FROM webhook_attempts
      WHERE delivery_id = $1 ORDER BY id`,
    [deliveryId],
  )

/** The push facts a push.* event carries. */
export async function pushFacts(q: Queryable, pushId: string) {
  const rows = await q.query<{
    id: string
    customer_id: string
    state: string
    project: string
    deploy_id: string | null
    error_message: string | null
    ssl_url: string | null
    deploy_ssl_url: string | null
    billing_month: string
  }>(
    `SELECT p.id, p.customer_id, p.state, pr.name AS project, p.deploy_id, p.error_message,
            p.ssl_url, p.deploy_ssl_url,
            p.billing_month::text AS billing_month
       FROM pushes p JOIN projects pr ON pr.id = p.project_id WHERE p.id = $1`,
    [pushId],
  )
  return rows[0]
}

/** Signing secrets per vault key id, so rotation and startup checks cover them too. */
export const secretKeyIds = (q: Queryable) =>
  q.query<{ key_id: string; secrets: number }>(
    `SELECT secret_key_id AS key_id, count(*)::int AS secrets FROM webhook_endpoints
      GROUP BY secret_key_id ORDER BY secret_key_id`,
  )

/** The next batch of secrets not sealed with `activeKeyId`, in endpoint id order. */
export const secretsToRewrap = (
  q: Queryable,
  activeKeyId: string,
  afterId: string,
  limit: number,
) =>
  q.query<{ id: string; ciphertext: string }>(
    `SELECT id, secret_ciphertext AS ciphertext FROM webhook_endpoints
      WHERE secret_key_id <> $1 AND id > $2 ORDER BY id LIMIT $3`,
    [activeKeyId, afterId, limit],
  )

/** Replaces a secret's ciphertext only if it is still the one that was read. */
export const rewrapSecret = async (
  q: Queryable,
  id: string,
  previous: string,
  next: { ciphertext: string; keyId: string },
) =>
  (
    await q.query(
      `UPDATE webhook_endpoints SET secret_ciphertext = $3, secret_key_id = $4
        WHERE id = $1 AND secret_ciphertext = $2 RETURNING id`,
      [id, previous, next.ciphertext, next.keyId],
    )
  ).length > 0
