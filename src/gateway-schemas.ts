// What the Action accepts from the gateway. A gateway is a server someone else runs (or one that
// was compromised): its answers are data to check, never trusted shapes. Each answer is parsed
// here before any of it is used, logged or published; unknown fields pass through untouched.
import { z } from 'zod'
import { parsePublishedUrl } from './published-url.ts'
import {
  PUSH_STATES,
  type ChunkPutResponse,
  type ChunkStatusResponse,
  type NetlifyTokenInfo,
  type ProjectInfo,
  type PushPage,
  type UsageReport,
  type PushInitResponse,
  type PushPlanResponse,
  type PushRecord,
  type PushUploadBatchResponse,
  type PushUploadResponse,
  type FunctionUploadResponse,
} from './gateway-api.ts'

// Ids end up in outputs, logs and the summary: word characters and a little punctuation only.
const id = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be an id (letters, digits, _ . : -)')
const sha1 = z.string().regex(/^[0-9a-f]{40}$/, 'must be a SHA-1 in lowercase hex')
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

// The gateway's own floor (KAIXU_CHUNK_BYTES is at least 64 KiB): a smaller chunk would turn one
// large file into millions of requests, and 0 into a division by zero.
const MIN_CHUNK_BYTES = 64 * 1024

const counter = z.looseObject({ limit: count, used: count, remaining: count })
const limits = z.looseObject({ month: text, resetAt: text, deploys: counter, bytes: counter })

export const pushInitResponse: z.ZodType<PushInitResponse> = z.looseObject({
  pushId: id,
  deployId: id,
  state,
  required: z.array(sha1),
  requiredFunctions: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,128}$/)).optional(),
  upload: z.looseObject({
    inlineMaxBytes: count,
    chunkBytes: z.int().min(MIN_CHUNK_BYTES).max(Number.MAX_SAFE_INTEGER),
    batch: z
      .looseObject({ maxFiles: z.int().min(1).max(100_000), maxBytes: count, fileMaxBytes: count })
      .optional(),
  }),
  limits: limits.optional(),
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

// A Netlify site name: it becomes part of a URL, so a DNS label and nothing else.
const siteName = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a Netlify site name (a-z, 0-9, -)')

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
