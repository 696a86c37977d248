import {
  insertAudit,
  listAudit,
  type AuditEntry,
  type AuditFilter,
  type AuditRow,
} from '../db/audit-repo.ts'
import type { Queryable } from '../db/db.ts'

/**
 * Who makes a change: `admin`, `cli`, `key:<id>` or `system`, with the request id when it came
 * over HTTP, so an audit entry leads straight to the request's log lines.
 */
export interface Actor {
  name: string
  requestId?: string | undefined
  /** The customer's key, when a customer acts on their own account. */
  apiKeyId?: string | undefined
}

/** Services take either a bare actor name (CLI, scripts) or an Actor with its request id. */
export type ActorRef = string | Actor

export const auditActor = (
  ref: ActorRef,
): { actor: string; requestId?: string | undefined; apiKeyId?: string | undefined } =>
  typeof ref === 'string'
    ? { actor: ref }
    : { actor: ref.name, requestId: ref.requestId, apiKeyId: ref.apiKeyId }

export interface AuditView {
  id: number
  at: Date
  requestId: string | null
  actor: string
  action: string
  status: string
  customerId: string | null
  apiKeyId: string | null
  projectId: string | null
  pushId: string | null
  bytes: number | null
  details: Record<string, unknown> | null
}

const view = (r: AuditRow): AuditView => ({
  id: r.id,
  at: r.at,
  requestId: r.request_id,
  actor: r.actor,
  action: r.action,
  status: r.status,
  customerId: r.customer_id,
  apiKeyId: r.api_key_id,
  projectId: r.project_id,
  pushId: r.push_id,
  bytes: r.bytes,
  details: r.details,
})

/**
 * Reading the audit log (by customer, month and action, newest first, a page at a time), and
 * recording the operator's actions that no other service owns (a dead job run again).
 */
export function createAuditLog(db: Queryable) {
  return {
    async record(actor: ActorRef, entry: Omit<AuditEntry, 'actor' | 'requestId' | 'apiKeyId'>) {
      await insertAudit(db, { ...auditActor(actor), ...entry })
    },
    async list(filter: AuditFilter): Promise<{ entries: AuditView[]; nextBefore: number | null }> {
      const rows = await listAudit(db, { ...filter, limit: filter.limit + 1 })
      const entries = rows.slice(0, filter.limit).map(view)
      return {
        entries,
        nextBefore: rows.length > filter.limit ? (entries.at(-1)?.id ?? null) : null,
      }
    },
  }
}

export type AuditLog = ReturnType<typeof createAuditLog>
