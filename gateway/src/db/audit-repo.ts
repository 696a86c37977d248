import type { Queryable } from './db.ts'

export interface AuditEntry {
  requestId?: string | undefined
  /** `key:<id>`, `admin`, `cli` or `system`. */
  actor: string
  action: string
  status: string
  customerId?: string | undefined
  apiKeyId?: string | undefined
  projectId?: string | undefined
  pushId?: string | undefined
  bytes?: number | undefined
  details?: Record<string, unknown> | undefined
}

export const insertAudit = (db: Queryable, e: AuditEntry) =>
  db.query(
    `INSERT INTO audit_log (request_id, actor, action, status, customer_id, api_key_id, project_id,
                            push_id, bytes, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      e.requestId ?? null,
      e.actor,
      e.action,
      e.status,
      e.customerId ?? null,
      e.apiKeyId ?? null,
      e.projectId ?? null,
      e.pushId ?? null,
      e.bytes ?? null,
      e.details ? JSON.stringify(e.details) : null,
    ],
  )

export interface AuditRow {
  id: number
  at: Date
  request_id: string | null
  actor: string
  action: string
  status: string
  customer_id: string | null
  api_key_id: string | null
  project_id: string | null
  push_id: string | null
  bytes: number | null
  details: Record<string, unknown> | null
}

export interface AuditFilter {
  customerId?: string | undefined
  /** `YYYY-MM-01`: entries of that calendar month (UTC). */
  month?: string | undefined
  /** An action (`push.init`) or a family of them (`push`). */
  action?: string | undefined
  /** Keyset pagination: entries older than this id. */
  beforeId?: number | undefined
  limit: number
}

/** Newest first; a month is bounded in UTC whatever the server's time zone. */
export const listAudit = (db: Queryable, f: AuditFilter) =>
  db.query<AuditRow>(
    `SELECT * FROM audit_log
      WHERE ($1::text IS NULL OR customer_id = $1)
        AND ($2::date IS NULL OR (at >= ($2::date::timestamp AT TIME ZONE 'UTC')
                              AND at < (($2::date + interval '1 month') AT TIME ZONE 'UTC')))
        AND ($3::text IS NULL OR action = $3 OR starts_with(action, $3 || '.'))
        AND ($4::bigint IS NULL OR id < $4)
      ORDER BY id DESC LIMIT $5`,
    [f.customerId ?? null, f.month ?? null, f.action ?? null, f.beforeId ?? null, f.limit],
  )
