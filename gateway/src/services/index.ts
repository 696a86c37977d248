import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import type { AccountService } from './accounts.ts'
import type { AuditLog } from './audit.ts'
import type { BatchUploads } from './batch-uploads.ts'
import type { Billing } from './billing.ts'
import type { ChunkUploads } from './chunk-uploads.ts'
import type { Idempotency } from './idempotency.ts'
import type { Clock } from './metering.ts'
import type { Onboarding } from './onboarding.ts'
import type { Operations } from './operations.ts'
import type { PushService } from './pushes.ts'
import type { Reporting } from './reporting.ts'
import type { VaultAdmin } from './vault-admin.ts'
import type { Webhooks } from './webhooks.ts'

/**
 * The application layer as the HTTP app sees it: every door (JSON API, dashboard, and through
 * the same services the CLI) calls these, never the database or the job queue directly. Built
 * by the composition root (start/gateway.ts).
 */
export interface AppServices {
  config: Config
  logger: Logger
  clock: Clock
  accounts: AccountService
  pushes: PushService
  billing: Billing
  idempotency: Idempotency
  chunked: ChunkUploads
  batch: BatchUploads
  auditLog: AuditLog
  webhooks: Webhooks
  vaultAdmin: VaultAdmin
  /** One-time onboarding links (the operator's side and the client's /onboard page). */
  onboarding: Onboarding
  /** Jobs, readiness, sign-in and sessions. */
  operations: Operations
  /** The dashboard's and the history API's read model. */
  reporting: Reporting
}
