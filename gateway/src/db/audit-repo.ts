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
