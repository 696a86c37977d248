// Request and response shapes of the gateway routes the Action calls, as docs/api.md defines them.

/** Body of `POST /v1/push-init`. */
export interface PushInitRequest {
  /** Project id (`prj_…`) or name. */
  project: string
  /** Every file of the deploy: relative `/`-separated path → SHA-1 hex. */
  files: Record<string, string>
  /** Each file's size in bytes. */
  sizes?: Record<string, number>
  draft?: boolean
  alias?: string
  title?: string
  /** Netlify Functions: name → SHA-256 of its zip. */
  functions?: Record<string, string>
  /** Each function's size, runtime and settings; one per name of `functions`. */
  functionDetails?: Record<string, FunctionDetails>
}

/** What push-init says about one function beside its zip's digest. */
export interface FunctionDetails {
  /** Bytes of the zip: reserved against the byte cap at init. */
  size: number
  /** The runtime Netlify runs it with (`js`, `nodejs22.x`, `go`…). */
  runtime: string
  invocationMode?: string
  /** Cron expression of a scheduled function. */
  schedule?: string
  timeout?: number
  /** Netlify's `functions_config` entry: routes, display name, generator, build data. */
  config?: Record<string, unknown>
}

/** `201` answer of `POST /v1/push-init`. */
export interface PushInitResponse {
  pushId: string
  deployId: string
  state: PushState
  /** SHA-1s Netlify does not have yet, each once: upload one file per SHA-1. */
  required: string[]
  /** Names of the functions whose zip Netlify lacks; absent from gateways without functions. */
  requiredFunctions?: string[]
  upload: {
    inlineMaxBytes: number
    chunkBytes: number
    /** `push-upload-batch` limits; absent from gateways that do not take batches. */
    batch?: BatchLimits
  }
  /** The month's budget after this push's reservation; absent from gateways without metering. */
  limits?: PushLimits
}

/** Answer of `POST /v1/push-plan`: what a push of the same body would do; nothing is created. */
export interface PushPlanResponse {
  project: { id: string; name: string; siteId: string }
  files: { total: number; distinct: number }
  wouldUpload: {
    files: number
    /** Null when the manifest has no sizes. */
    bytes: number | null
    shas: string[]
    /** Functions whose zip the project's last ready deploy did not have, and their bytes. */
    functions?: string[]
    functionBytes?: number
  }
  /** Null when the manifest has no sizes or no pricing is in force. */
  estimatedCostCents: number | null
  pricingVersion: number | null
  limits?: PushLimits
}

/** One metered quantity of the monthly budget. */
export interface BudgetCounter {
  limit: number
  /** Includes what running pushes have reserved. */
  used: number
  remaining: number
}

/** The customer's monthly budget, as `push-init` reports it. */
export interface PushLimits {
  /** `YYYY-MM`, UTC. */
  month: string
  /** ISO instant the budget starts afresh (the next month, UTC). */
  resetAt: string
  deploys: BudgetCounter
  bytes: BudgetCounter
}

/** `details` of a `402 cap_exceeded` answer (from `push-init` or `push-upload`). */
export interface CapExceededDetails {
  /** Which cap refused the request. */
  limit: 'deploys' | 'bytes'
  remaining: { deploys: number; bytes: number }
  limits: { deploys: number; bytes: number }
  resetAt: string
}

/** `details` of a `429 rate_limited` answer (deploy pacing at `push-init`). */
export interface RateLimitedDetails {
  /** The pacing window that is full. */
  limit: 'minute' | 'day'
  /** Deploys allowed per window. */
  max: number
  retryAfterSeconds: number
}

/** Answer of `PUT /v1/push-upload`. */
/** Answer of `PUT /v1/push-upload-function`. */
export interface FunctionUploadResponse {
  name: string
  /** Bytes counted for this push (0 when another name of the same zip was counted). */
  bytes: number
  skipped: boolean
}

export interface PushUploadResponse {
  sha1: string
  bytes: number
  /** True when the gateway already had the file (or Netlify never asked for it). */
  skipped: boolean
}

/** What one `POST /v1/push-upload-batch` may carry. */
export interface BatchLimits {
  maxFiles: number
  /** Bytes of file content per request. */
  maxBytes: number
  /** The largest file a batch takes; bigger ones go one per request (or in chunks). */
  fileMaxBytes: number
}

/** Answer of `POST /v1/push-upload-batch`. */
export interface PushUploadBatchResponse {
  files: { sha1: string; bytes: number; skipped: boolean }[]
  uploaded: number
  skipped: number
  bytes: number
}

/**
 * Life cycle of a push; `ready`, `error`, `cancelled` (push-cancel) and `expired` (idle past the
 * gateway's timeout) are final.
 */
export const PUSH_STATES = [
  'uploading',
  'finalizing',
  'ready',
  'error',
  'cancelled',
  'expired',
] as const
export type PushState = (typeof PUSH_STATES)[number]

/** The push record, answered by `push-complete` and `push-status`. */
export interface PushRecord {
  pushId: string
  /** `siteName`: the Netlify site's name, null until the deploy has its URL (older gateways: absent). */
  project?: { id: string; name: string; siteId: string; siteName?: string | null }
  deployId: string
  state: PushState
  netlifyState?: string | null
  draft?: boolean
  alias?: string | null
  files?: { total: number; required: number; uploaded: number }
  bytesUploaded?: number
  ssl_url?: string | null
  /** The unique, immutable URL of this one deploy. */
  deploy_ssl_url?: string | null
  /** The stable URL: the alias URL for an alias deploy, the production URL otherwise. */
  site_url?: string | null
  error_message?: string | null
  costCents?: number | null
  createdAt?: string
  completedAt?: string | null
}

/** Whether a push state is final. */
export function isFinalState(state: PushState): boolean {
  return state !== 'uploading' && state !== 'finalizing'
}

/** The headers of one `PUT /v1/push-upload-chunk`. */
export interface ChunkPutHeaders {
  /** The whole file's SHA-1. */
  sha1: string
  index: number
  count: number
  chunkSha1: string
  fileSize: number
}

/** Answer of `PUT /v1/push-upload-chunk`. */
export interface ChunkPutResponse {
  sha1: string
  index: number
  skipped: boolean
  stored?: boolean
  /** True once every chunk is in and the gateway is assembling the file. */
  complete?: boolean
}

/** Answer of `GET /v1/push-upload-chunk`. */
export interface ChunkStatusResponse {
  sha1: string
  path: string
  state: 'receiving' | 'assembling' | 'uploaded' | 'failed' | 'expired'
  chunkCount: number
  fileSize: number
  received: number[]
  missing: number[]
  bytesReceived: number
  expiresAt: string
  error: string | null
}

// --- self-service: what a customer does with their own key (the CLI's subcommands) ---------------

/** A project: a Netlify site registered with the gateway (`GET/POST/DELETE /v1/projects`). */
export interface ProjectInfo {
  id: string
  name: string
  siteId: string
  createdAt?: string
  /** Set on the answer of `DELETE /v1/projects/:project`. */
  removed?: boolean
}

/** Answer of `PUT /v1/netlify-token`: never the token itself, only its last four characters. */
export interface NetlifyTokenInfo {
  state: 'active' | 'revoked'
  last4: string
  /** How many of the customer's sites the gateway checked the token reaches. */
  sitesChecked?: number
  updatedAt?: string
}

/** Answer of `GET /v1/usage?month=`: the month's billed deploys, bytes and cost, and budget. */
export interface UsageReport {
  /** `YYYY-MM`, UTC. */
  month: string
  deploys: number
  bytes: number
  costCents: number
  limits?: PushLimits
}

/** One push of the deploy history (`GET /v1/pushes`). */
export interface PushSummary {
  pushId: string
  project: { id: string; name: string }
  state: PushState
  netlifyState?: string | null
  files: { total: number; required: number }
  bytesUploaded: number
  costCents?: number | null
  ssl_url?: string | null
  deploy_ssl_url?: string | null
  error_message?: string | null
  createdAt: string
  finishedAt?: string | null
}

/** One page of the deploy history, newest first; `next` asks for the older page. */
export interface PushPage {
  pushes: PushSummary[]
  next: string | null
}

/** Filters and paging of `GET /v1/pushes`. */
export interface PushHistoryQuery {
  /** Project id or name. */
  project?: string
  state?: PushState
  /** `YYYY-MM`, UTC. */
  month?: string
  /** 1 to 100 (default 20). */
  limit?: number
  /** The `next` of the previous page. */
  before?: string
}
