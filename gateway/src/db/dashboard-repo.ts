import type { Queryable } from './db.ts'
import type { PushState } from './pushes-repo.ts'
import { blockedFor, clearFailures, recordFailure, type ThrottleWindow } from './throttle-repo.ts'

// The admin dashboard's SQL: sessions, plus read-only queries over pushes, usage and chunks.
// Lists are paged by keyset (never OFFSET) so a page costs the same on page 1 and page 1000.

export interface SessionRow {
  id_hash: string
  csrf_token: string
  expires_at: Date
}

export const insertSession = (
  db: Queryable,
  s: { idHash: string; csrf: string; tokenHash: string; expiresAt: Date },
) =>
  db.query(
    'INSERT INTO admin_sessions (id_hash, csrf_token, token_hash, expires_at) VALUES ($1, $2, $3, $4)',
    [s.idHash, s.csrf, s.tokenHash, s.expiresAt],
  )

/** A live session, and only one signed in with the admin token this process has. */
export const findSession = async (db: Queryable, idHash: string, tokenHash: string) =>
  (
    await db.query<SessionRow>(
      `SELECT id_hash, csrf_token, expires_at FROM admin_sessions
        WHERE id_hash = $1 AND token_hash = $2 AND expires_at > now()`,
      [idHash, tokenHash],
    )
  )[0]

/** Removes one session (sign-out) and, on the way, every expired one. */
export const deleteSession = (db: Queryable, idHash: string) =>
  db.query('DELETE FROM admin_sessions WHERE id_hash = $1 OR expires_at <= now()', [idHash])

/**
 * Drops sessions that can never be used again: expired ones, and (given the current token's
 * fingerprint) those signed in with an admin token that has since been replaced.
 */
export const purgeSessions = (db: Queryable, currentTokenHash?: string) =>
  db.query(
    `DELETE FROM admin_sessions
      WHERE expires_at <= now() OR ($1::text IS NOT NULL AND token_hash IS DISTINCT FROM $1)`,
    [currentTokenHash ?? null],
  )

/** Dashboard sign-ins are throttled per client address (see throttle-repo.ts). */
const SIGN_IN = 'admin.sign_in'

export const signInBlockedFor = (db: Queryable, address: string, window: ThrottleWindow) =>
  blockedFor(db, SIGN_IN, address, window)

export const recordSignInFailure = (db: Queryable, address: string, windowSeconds: number) =>
  recordFailure(db, SIGN_IN, address, windowSeconds)

/** A successful sign-in forgets the address's failures. */
export const clearSignInFailures = (db: Queryable, address: string) =>
  clearFailures(db, SIGN_IN, address)

/** `YYYY-MM-01` → the month's bounds in UTC, as SQL fragments on parameter `$n`. */
const monthStart = (n: number) => `($${n}::date::timestamp AT TIME ZONE 'UTC')`
const monthStop = (n: number) => `(($${n}::date + interval '1 month') AT TIME ZONE 'UTC')`

export interface MonthTotals {
  deploys: number
  bytes: number
  cents: number
}

/** Billed deploys, bytes and revenue of a month, across customers. */
export const monthTotals = async (db: Queryable, month: string) =>
  (
    await db.query<MonthTotals>(
      `SELECT coalesce(sum(deploys), 0)::bigint AS deploys, coalesce(sum(bytes), 0)::bigint AS bytes,
              coalesce(sum(cost_cents), 0)::bigint AS cents
         FROM push_usage_events WHERE billing_month = $1`,
      [month],
    )
  )[0]!

/** Per UTC day of a month: billed deploys, bytes and revenue (days without any are absent). */
export const dailyTotals = (db: Queryable, month: string) =>
  db.query<MonthTotals & { day: string }>(
    `SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
            sum(deploys)::bigint AS deploys, sum(bytes)::bigint AS bytes, sum(cost_cents)::bigint AS cents
       FROM push_usage_events WHERE billing_month = $1
      GROUP BY 1 ORDER BY 1`,
    [month],
  )

/** Pushes of a month by state (all states, not only billed ones). */
export const pushStates = (db: Queryable, month: string) =>
  db.query<{ state: PushState; n: number }>(
    `SELECT state, count(*)::int AS n FROM pushes
      WHERE created_at >= ${monthStart(1)} AND created_at < ${monthStop(1)}
      GROUP BY state`,
    [month],
  )

export interface PushListRow {
  id: string
  customer_id: string
  customer_name: string
  project_id: string
  project_name: string
  state: PushState
  netlify_state: string | null
  files_total: number
  files_required: number
  bytes_uploaded: number
  cost_cents: number | null
  deploy_ssl_url: string | null
  ssl_url: string | null
  error_message: string | null
  created_at: Date
  finished_at: Date | null
  /** created_at to the microsecond (a JS Date keeps only milliseconds), for the keyset cursor. */
  cursor_at: string
}

export interface PushFilter {
  customerId?: string | undefined
  projectId?: string | undefined
  /** `YYYY-MM-01`: pushes created in that month (UTC). */
  month?: string | undefined
  state?: PushState | undefined
  /** Keyset: pushes strictly older than this (created_at, id). */
  before?: { at: string; id: string } | undefined
  limit: number
}

/** Deploy history, newest first, one page (served by pushes_created_id and the per-customer/project indexes). */
export const listPushes = (db: Queryable, f: PushFilter) =>
  db.query<PushListRow>(
    `SELECT p.id, p.customer_id, c.name AS customer_name, p.project_id, pr.name AS project_name,
            p.state, p.netlify_state, p.files_total, p.files_required, p.bytes_uploaded,
            u.cost_cents, p.deploy_ssl_url, p.ssl_url, p.error_message, p.created_at, p.finished_at,
            to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
       FROM pushes p
       JOIN customers c ON c.id = p.customer_id
       JOIN projects pr ON pr.id = p.project_id
       LEFT JOIN push_usage_events u ON u.push_id = p.id
      WHERE ($1::text IS NULL OR p.customer_id = $1)
        AND ($2::text IS NULL OR p.project_id = $2)
        AND ($3::date IS NULL OR (p.created_at >= ${monthStart(3)} AND p.created_at < ${monthStop(3)}))
        AND ($4::text IS NULL OR p.state = $4)
        AND ($5::timestamptz IS NULL OR (p.created_at, p.id) < ($5, $6))
      ORDER BY p.created_at DESC, p.id DESC
      LIMIT $7`,
    [
      f.customerId ?? null,
      f.projectId ?? null,
      f.month ?? null,
      f.state ?? null,
      f.before?.at ?? null,
      f.before?.id ?? null,
      f.limit,
    ],
  )

/** The latest failed pushes, for the overview. */
export const recentFailures = (db: Queryable, limit: number) =>
  listPushes(db, { state: 'error', limit })

export interface PushFileRow {
  path: string
  sha1: string
  size: number | null
  required: boolean
  uploaded_at: Date | null
}

/** A push's files, required ones first, one page by path. */
export const pushFiles = (
  db: Queryable,
  pushId: string,
  afterPath: string | undefined,
  limit: number,
) =>
  db.query<PushFileRow>(
    `SELECT path, sha1, size, required, uploaded_at FROM push_files
      WHERE push_id = $1 AND ($2::text IS NULL OR path > $2)
      ORDER BY path LIMIT $3`,
    [pushId, afterPath ?? null, limit],
  )

export interface ChunkUploadRow {
  push_id: string
  customer_id: string
  customer_name: string
  sha1: string
  path: string
  chunk_count: number
  chunks_in: number
  file_size: number
  state: 'receiving' | 'assembling' | 'uploaded' | 'failed' | 'expired'
  error: string | null
  created_at: Date
  updated_at: Date
  expires_at: Date
  cursor_at: string
}

/** Chunked uploads, newest first, optionally of one push or in one state; keyset-paged. */
export const listChunkUploads = (
  db: Queryable,
  f: {
    pushId?: string | undefined
    state?: string | undefined
    /** Keyset: uploads after this one in (created_at DESC, push_id, sha1) order. */
    before?: { at: string; pushId: string; sha1: string } | undefined
    limit: number
  },
) =>
  db.query<ChunkUploadRow>(
    `SELECT u.push_id, p.customer_id, c.name AS customer_name, u.sha1, u.path, u.chunk_count,
            (SELECT count(*)::int FROM push_chunks k WHERE k.push_id = u.push_id AND k.sha1 = u.sha1) AS chunks_in,
            u.file_size, u.state, u.error, u.created_at, u.updated_at, u.expires_at,
            to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
       FROM chunk_uploads u
       JOIN pushes p ON p.id = u.push_id
       JOIN customers c ON c.id = p.customer_id
      WHERE ($1::text IS NULL OR u.push_id = $1) AND ($2::text IS NULL OR u.state = $2)
        AND ($3::timestamptz IS NULL OR u.created_at < $3
             OR (u.created_at = $3 AND (u.push_id, u.sha1) > ($4, $5)))
      ORDER BY u.created_at DESC, u.push_id, u.sha1 LIMIT $6`,
    [
      f.pushId ?? null,
      f.state ?? null,
      f.before?.at ?? null,
      f.before?.pushId ?? null,
      f.before?.sha1 ?? null,
      f.limit,
    ],
  )

/** Chunked uploads by state, for the overview. */
export const chunkStates = (db: Queryable) =>
  db.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM chunk_uploads GROUP BY state',
  )

export interface CustomerPageRow {
  id: string
  name: string
  status: string
  created_at: Date
}

/** Customers by name, one page (keyset on name, id). */
export const listCustomerPage = (
  db: Queryable,
  after: { name: string; id: string } | undefined,
  limit: number,
) =>
  db.query<CustomerPageRow>(
    `SELECT id, name, status, created_at FROM customers
      WHERE ($1::text IS NULL OR (name, id) > ($1, $2))
      ORDER BY name, id LIMIT $3`,
    [after?.name ?? null, after?.id ?? null, limit],
  )

/** Id and name of every customer, for filter menus. */
export const customerNames = (db: Queryable) =>
  db.query<{ id: string; name: string }>('SELECT id, name FROM customers ORDER BY name, id')

/** Projects (live and removed) for filter menus, optionally of one customer. */
export const projectNames = (db: Queryable, customerId: string | undefined) =>
  db.query<{ id: string; name: string; customer_id: string; removed_at: Date | null }>(
    `SELECT id, name, customer_id, removed_at FROM projects
      WHERE ($1::text IS NULL OR customer_id = $1) ORDER BY name, id`,
    [customerId ?? null],
  )

/** Customers with an invoice or billable events in a month, one page by id. */
export const billedCustomers = async (
  db: Queryable,
  month: string,
  afterId: string | undefined,
  limit: number,
) =>
  (
    await db.query<{ customer_id: string }>(
      `SELECT customer_id FROM (
         SELECT customer_id FROM invoices WHERE month = $1
         UNION SELECT DISTINCT customer_id FROM push_usage_events WHERE billing_month = $1) t
        WHERE ($2::text IS NULL OR customer_id > $2)
        ORDER BY customer_id LIMIT $3`,
      [month, afterId ?? null, limit],
    )
  ).map((r) => r.customer_id)

export interface PushStepRow {
  id: number
  at: Date
  request_id: string | null
  actor: string
  action: string
  status: string
  bytes: number | null
  details: Record<string, unknown> | null
}

/** Every audited step of one push (init, uploads, chunks, complete, finalize), in order. */
export const pushSteps = (db: Queryable, pushId: string, limit: number) =>
  db.query<PushStepRow>(
    `SELECT id, at, request_id, actor, action, status, bytes, details FROM audit_log
      WHERE push_id = $1 ORDER BY id LIMIT $2`,
    [pushId, limit],
  )

export interface InvoiceHeadRow {
  customer_id: string
  customer_name: string
  id: string | null
  status: 'draft' | 'finalized'
  finalized_at: Date | null
}

export interface InvoiceLineRow {
  customer_id: string
  pricing_version: number
  cents_per_deploy: number
  cents_per_gb: number
  deploys: number
  bytes: number
  amount_cents: number
}

/**
 * A month's invoices of some customers, read-only and in two queries for the whole page: a
 * finalized invoice's stored lines, and for a draft the lines its month's events add up to now,
 * grouped by pricing version exactly as billing's recompute writes them. (Billing recomputes a
 * draft in its own transaction per customer when it serves one; a page of them that way costs
 * 20 transactions, this costs two reads.)
 */
export async function invoicesOf(db: Queryable, month: string, customerIds: string[]) {
  const heads = await db.query<InvoiceHeadRow>(
    `SELECT c.id AS customer_id, c.name AS customer_name, i.id, coalesce(i.status, 'draft') AS status,
            i.finalized_at
       FROM customers c LEFT JOIN invoices i ON i.customer_id = c.id AND i.month = $1
      WHERE c.id = ANY($2::text[])
      ORDER BY c.name, c.id`,
    [month, customerIds],
  )
  const lines = await db.query<InvoiceLineRow>(
    `SELECT i.customer_id, l.pricing_version, l.cents_per_deploy, l.cents_per_gb, l.deploys, l.bytes,
            l.amount_cents
       FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id
      WHERE i.month = $1 AND i.customer_id = ANY($2::text[]) AND i.status = 'finalized'
     UNION ALL
     SELECT e.customer_id, e.pricing_version, v.cents_per_deploy, v.cents_per_gb,
            sum(e.deploys)::int, sum(e.bytes)::bigint, sum(e.cost_cents)::bigint
       FROM push_usage_events e JOIN pricing_versions v ON v.version = e.pricing_version
      WHERE e.billing_month = $1 AND e.customer_id = ANY($2::text[])
        AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = e.customer_id
                           AND i.month = $1 AND i.status = 'finalized')
      GROUP BY e.customer_id, e.pricing_version, v.cents_per_deploy, v.cents_per_gb
      ORDER BY 1, 2`,
    [month, customerIds],
  )
  return { heads, lines }
}
