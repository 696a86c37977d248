// What the gateway answers on its /v1 routes, as docs/api.md defines them: a type for each answer
// and the schema a client parses it with. A gateway is a server someone else runs (or one that
// was compromised): its answers are data to check, never trusted shapes. A client parses each
// answer here before any of it is used, logged or published; unknown fields pass through.
import { z } from 'zod'
import {
  FUNCTION_NAME_PATTERN,
  ID_PATTERN,
  MIN_CHUNK_BYTES,
  SHA1_LOWER_PATTERN,
  SITE_NAME_PATTERN,
  parsePublishedUrl,
} from './patterns.ts'

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
  /**
   * How the files reach Netlify: `files`, a PUT each; `zip`, one archive when the push
   * completes (then `required` is every distinct file). Absent from gateways without zip deploys.
   */
  delivery?: Delivery
}

/** How a push's files reach Netlify (docs/zip-deploys.md). */
export type Delivery = 'files' | 'zip'

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

/** Answer of `PUT /v1/push-upload-function`. */
export interface FunctionUploadResponse {
  name: string
  /** Bytes counted for this push (0 when another name of the same zip was counted). */
  bytes: number
  skipped: boolean
}

/** Answer of `PUT /v1/push-upload`. */
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
  /** `zip-fallback`: Netlify refused the archive, and the files went by PUT after all. */
  delivery?: Delivery | 'zip-fallback'
}

/** Whether a push state is final. */
export function isFinalState(state: PushState): boolean {
  return state !== 'uploading' && state !== 'finalizing'
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

// --- the schemas -------------------------------------------------------------------------------

// Ids end up in outputs, logs and the summary: word characters and a little punctuation only.
const id = z.string().regex(ID_PATTERN, 'must be an id (letters, digits, _ . : -)')
const sha1 = z.string().regex(SHA1_LOWER_PATTERN, 'must be a SHA-1 in lowercase hex')
const count = z.int().min(0).max(Number.MAX_SAFE_INTEGER)
const state = z.enum(PUSH_STATES)
// Free text the gateway relays (Netlify's states and errors): bounded, escaped where it lands.
const text = z.string().max(2000)
// A URL that reaches outputs, the deployment's environment_url, the comment and the summary.
const url = z.string().superRefine((value, ctx) => {
  try {
    parsePublishedUrl(value, 'the URL')
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message })
  }
})

const counter = z.looseObject({ limit: count, used: count, remaining: count })
const limits = z.looseObject({ month: text, resetAt: text, deploys: counter, bytes: counter })

export const pushInitResponse: z.ZodType<PushInitResponse> = z.looseObject({
  pushId: id,
  deployId: id,
  state,
  required: z.array(sha1),
  requiredFunctions: z.array(z.string().regex(FUNCTION_NAME_PATTERN)).optional(),
  upload: z.looseObject({
    inlineMaxBytes: count,
    chunkBytes: z.int().min(MIN_CHUNK_BYTES).max(Number.MAX_SAFE_INTEGER),
    batch: z
      .looseObject({ maxFiles: z.int().min(1).max(100_000), maxBytes: count, fileMaxBytes: count })
      .optional(),
  }),
  limits: limits.optional(),
  delivery: z.enum(['files', 'zip']).optional(),
})

export const pushPlanResponse: z.ZodType<PushPlanResponse> = z.looseObject({
  project: z.looseObject({ id, name: text, siteId: text }),
  files: z.looseObject({ total: count, distinct: count }),
  wouldUpload: z.looseObject({
    files: count,
    bytes: count.nullable(),
    shas: z.array(sha1),
    functions: z.array(text).optional(),
    functionBytes: count.optional(),
  }),
  estimatedCostCents: count.nullable(),
  pricingVersion: z.int().nullable(),
  limits: limits.optional(),
})

const siteName = z.string().regex(SITE_NAME_PATTERN, 'must be a Netlify site name (a-z, 0-9, -)')

export const pushRecord: z.ZodType<PushRecord> = z.looseObject({
  pushId: id,
  project: z
    .looseObject({ id, name: text, siteId: text, siteName: siteName.nullable().optional() })
    .optional(),
  // Empty until Netlify has made the deploy on some gateways; the Action keeps the one it had.
  deployId: z.union([id, z.literal('')]),
  state,
  netlifyState: text.nullable().optional(),
  files: z.looseObject({ total: count, required: count, uploaded: count }).optional(),
  bytesUploaded: count.optional(),
  ssl_url: url.nullable().optional(),
  deploy_ssl_url: url.nullable().optional(),
  site_url: url.nullable().optional(),
  error_message: text.nullable().optional(),
  costCents: count.nullable().optional(),
  delivery: z.enum(['files', 'zip', 'zip-fallback']).optional(),
})

export const pushUploadResponse: z.ZodType<PushUploadResponse> = z.looseObject({
  sha1,
  bytes: count,
  skipped: z.boolean(),
})

export const functionUploadResponse: z.ZodType<FunctionUploadResponse> = z.looseObject({
  name: text,
  bytes: count,
  skipped: z.boolean(),
})

export const pushUploadBatchResponse: z.ZodType<PushUploadBatchResponse> = z.looseObject({
  files: z.array(z.looseObject({ sha1, bytes: count, skipped: z.boolean() })),
  uploaded: count,
  skipped: count,
  bytes: count,
})

export const chunkPutResponse: z.ZodType<ChunkPutResponse> = z.looseObject({
  sha1,
  index: count,
  skipped: z.boolean(),
  stored: z.boolean().optional(),
  complete: z.boolean().optional(),
})

export const chunkStatusResponse: z.ZodType<ChunkStatusResponse> = z.looseObject({
  sha1,
  path: z.string(),
  state: z.enum(['receiving', 'assembling', 'uploaded', 'failed', 'expired']),
  chunkCount: count,
  fileSize: count,
  received: z.array(count),
  missing: z.array(count),
  bytesReceived: count,
  expiresAt: z.string(),
  error: z.string().nullable(),
})

const project: z.ZodType<ProjectInfo> = z.looseObject({
  id,
  name: text,
  siteId: text,
  createdAt: text.optional(),
  removed: z.boolean().optional(),
})

export const projectInfo = project
export const projectList = z.looseObject({ projects: z.array(project) })

export const netlifyTokenInfo: z.ZodType<NetlifyTokenInfo> = z.looseObject({
  state: z.enum(['active', 'revoked']),
  last4: text,
  sitesChecked: count.optional(),
  updatedAt: text.optional(),
})

export const usageReport: z.ZodType<UsageReport> = z.looseObject({
  month: text,
  deploys: count,
  bytes: count,
  costCents: count,
  limits: limits.optional(),
})

export const pushPage: z.ZodType<PushPage> = z.looseObject({
  pushes: z.array(
    z.looseObject({
      pushId: id,
      project: z.looseObject({ id, name: text }),
      state,
      netlifyState: text.nullable().optional(),
      files: z.looseObject({ total: count, required: count }),
      bytesUploaded: count,
      costCents: count.nullable().optional(),
      ssl_url: url.nullable().optional(),
      deploy_ssl_url: url.nullable().optional(),
      error_message: text.nullable().optional(),
      createdAt: text,
      finishedAt: text.nullable().optional(),
    }),
  ),
  next: z.string().max(200).nullable(),
})
