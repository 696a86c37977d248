// What a client sends to the gateway's /v1 routes, as the gateway checks it: bodies, queries and
// headers. A client may check its own request with the same schema before sending it.
import { z } from 'zod'
import { PUSH_STATES } from './answers.ts'
import {
  ALIAS_PATTERN,
  MAX_CHUNK_COUNT,
  MAX_STATUS_WAIT_SECONDS,
  MONTH_PATTERN,
  PROJECT_REF_PATTERN,
  PUSH_ID_PATTERN,
  SHA1_PATTERN,
  checkDeployPath,
  checkText,
} from './patterns.ts'

/** Free text (names, titles): bounded, and nothing Postgres or a terminal would choke on. */
export const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .superRefine((value, ctx) => {
      const problem = checkText(value)
      if (problem) ctx.addIssue({ code: 'custom', message: problem })
    })

export const sha1Schema = z
  .string()
  .regex(SHA1_PATTERN, 'must be a 40-character hex SHA-1')
  .transform((s) => s.toLowerCase())

const SHA256 = /^[0-9a-fA-F]{64}$/

export const sha256Schema = z
  .string()
  .regex(SHA256, 'must be a 64-character hex SHA-256')
  .transform((s) => s.toLowerCase())

/** The most functions one push may carry. */
export const MAX_FUNCTIONS = 1000

/**
 * A function's name as zip-it-and-ship-it derives it from its file or folder: it becomes a path
 * segment of Netlify's upload URL, so letters, digits, `_` and `-` only.
 */
export const functionNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$/, 'must be letters, digits, _ and -, at most 128')

/**
 * What Netlify needs of a function beside its zip: its size (reserved against the byte cap),
 * the runtime the upload names, and the optional schedule, timeout, invocation mode and
 * `config` (passed on as Netlify's `functions_config` entry: routes, display name, build data).
 */
const functionDetailSchema = z
  .object({
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    runtime: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,31}$/, 'must be a runtime such as js or nodejs22.x'),
    invocationMode: z
      .string()
      .regex(/^[a-z]{1,32}$/)
      .optional(),
    timeout: z.number().int().min(1).max(900).optional(),
    schedule: text(200).optional(),
    config: z.record(z.string().max(100), z.json()).optional(),
  })
  .strict()

/**
 * The manifest of push-init and push-plan. A size may not exceed the largest file a push can
 * hold (`maxFileBytes`), and every `sizes` key must name a file: a size is a claim the byte cap
 * is reserved from, so one for no file, or past any possible file, is refused outright.
 */
export function initBodySchema(limits: { maxFileBytes: number }) {
  return z
    .object({
      project: text(200),
      files: z.record(z.string(), sha1Schema),
      sizes: z
        .record(
          z.string(),
          z
            .number()
            .int()
            .min(0)
            .max(
              limits.maxFileBytes,
              `must be at most ${limits.maxFileBytes} bytes (the largest file a push may hold)`,
            ),
        )
        .optional(),
      draft: z.boolean().optional(),
      alias: z
        .string()
        .regex(
          ALIAS_PATTERN,
          'must be lowercase letters, digits and hyphens, at most 37 characters',
        )
        .optional(),
      title: text(500).optional(),
      functions: z.record(functionNameSchema, sha256Schema).optional(),
      functionDetails: z.record(functionNameSchema, functionDetailSchema).optional(),
    })
    .strict()
    .superRefine((body, ctx) => {
      if (Object.keys(body.files).length === 0) {
        ctx.addIssue({ code: 'custom', path: ['files'], message: 'must list at least one file' })
      }
      const names = Object.keys(body.functions ?? {})
      if (names.length > MAX_FUNCTIONS) {
        ctx.addIssue({
          code: 'custom',
          path: ['functions'],
          message: `must list at most ${MAX_FUNCTIONS} functions`,
        })
      }
      // Every function needs its details (the size is what the cap reserves), and only those.
      for (const name of names) {
        if (!Object.hasOwn(body.functionDetails ?? {}, name)) {
          ctx.addIssue({ code: 'custom', path: ['functionDetails', name], message: 'is missing' })
        }
      }
      for (const name of Object.keys(body.functionDetails ?? {})) {
        if (!Object.hasOwn(body.functions ?? {}, name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['functionDetails', name],
            message: 'is not a function in functions',
          })
        }
      }
      for (const raw of Object.keys(body.sizes ?? {})) {
        if (!Object.hasOwn(body.files, raw)) {
          ctx.addIssue({ code: 'custom', path: ['sizes', raw], message: 'is not a file in files' })
        }
      }
    })
    .transform((body, ctx) => {
      const files: Record<string, string> = {}
      const sizes: Record<string, number> = {}
      // One content has one size: a lie under a second path must not reach an archive entry.
      const sizeOfSha = new Map<string, number>()
      for (const [raw, sha] of Object.entries(body.files)) {
        const problem = checkDeployPath(raw)
        const path = raw.startsWith('/') ? raw.slice(1) : raw
        if (problem)
          ctx.addIssue({ code: 'custom', path: ['files', raw], message: `path ${problem}` })
        else if (path in files)
          ctx.addIssue({ code: 'custom', path: ['files', raw], message: 'path appears twice' })
        else {
          files[path] = sha
          const size = body.sizes?.[raw]
          if (size !== undefined) sizes[path] = size
          if (size !== undefined && (sizeOfSha.get(sha) ?? size) !== size) {
            ctx.addIssue({
              code: 'custom',
              path: ['sizes', raw],
              message: `differs from the size of another path with the same SHA-1 (${sizeOfSha.get(sha)})`,
            })
          } else if (size !== undefined) sizeOfSha.set(sha, size)
        }
      }
      const functions = Object.entries(body.functions ?? {}).map(([name, sha256]) => {
        const d = body.functionDetails![name]!
        return {
          name,
          sha256,
          size: d.size,
          runtime: d.runtime,
          invocationMode: d.invocationMode,
          timeout: d.timeout,
          schedule: d.schedule,
          config: d.config,
        }
      })
      return {
        project: body.project,
        files,
        sizes: body.sizes ? sizes : undefined,
        draft: body.draft,
        alias: body.alias,
        title: body.title,
        functions,
      }
    })
}

/** Body of `POST /v1/push-init` and `POST /v1/push-plan`, as a client writes it. */
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

/** `PUT /push-upload-function?pushId=&name=`: the zip of one function, by its SHA-256. */
export const functionUploadQuery = z.object({
  pushId: z.string().regex(PUSH_ID_PATTERN, 'must be a push id'),
  name: functionNameSchema,
})

export const functionUploadHeaders = z.object({
  'x-content-sha256': sha256Schema,
  'content-length': z.coerce.number().int().min(0).optional(),
})

export const pushIdQuery = z.object({
  pushId: z.string().regex(PUSH_ID_PATTERN, 'must be a push id'),
})

/**
 * `GET /push-status`: with `waitFor=ready` the answer is held until the push is final (`ready`
 * or `error`) or `timeout` seconds (default 30, at most 60) pass.
 */
export const pushStatusQuery = pushIdQuery
  .extend({
    waitFor: z.enum(['ready']).optional(),
    timeout: z
      .string()
      .regex(/^\d{1,3}$/, 'must be whole seconds')
      .transform(Number)
      .pipe(z.number().int().min(0).max(MAX_STATUS_WAIT_SECONDS))
      .optional(),
  })
  .superRefine((query, ctx) => {
    if (query.timeout !== undefined && query.waitFor === undefined) {
      ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'needs waitFor=ready' })
    }
  })

export const uploadHeaders = z.object({
  'x-content-sha1': sha1Schema,
  'content-length': z.coerce.number().int().min(0).optional(),
})

export const batchHeaders = z.object({
  'content-length': z.coerce.number().int().min(0).optional(),
})

export const completeBodySchema = z
  .object({ pushId: pushIdQuery.shape.pushId, wait: z.boolean().optional() })
  .strict()

export const cancelBodySchema = z.object({ pushId: pushIdQuery.shape.pushId }).strict()

export const idempotencyHeader = z.object({
  idempotencyKey: z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 visible ASCII characters'),
})

export const monthQuery = z.object({
  month: z.string().regex(MONTH_PATTERN, 'must be YYYY-MM').optional(),
})

const headerInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,15}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))

export const chunkHeaders = z.object({
  'x-content-sha1': sha1Schema,
  'x-chunk-sha1': sha1Schema,
  'x-chunk-index': headerInt(0, 9999),
  'x-chunk-count': headerInt(1, MAX_CHUNK_COUNT),
  'x-file-size': headerInt(1, Number.MAX_SAFE_INTEGER).optional(),
  'content-length': headerInt(0, Number.MAX_SAFE_INTEGER).optional(),
})

/** The headers of one `PUT /v1/push-upload-chunk`, as a client holds them before sending. */
export interface ChunkPutHeaders {
  /** The whole file's SHA-1. */
  sha1: string
  index: number
  count: number
  chunkSha1: string
  fileSize: number
}

export const chunkStatusQuery = pushIdQuery.extend({ sha1: sha1Schema })

// --- self-service: the customer's Netlify token and projects ------------------------------------

/**
 * Netlify personal access tokens are printable ASCII. Anything else would break the
 * Authorization header it travels in, so it is refused before Netlify is asked.
 */
export const netlifyTokenBodySchema = z
  .object({
    token: z.string().regex(/^[\x21-\x7e]{8,512}$/, 'must be 8-512 printable ASCII characters'),
  })
  .strict()

/** A project as a path names it: its id (`prj_…`) or its name. */
export const projectRefSchema = z
  .string()
  .regex(PROJECT_REF_PATTERN, 'must be a project id or name')

/** The `prj_` prefix is kept for ids, so a name can never be mistaken for one. */
export const projectNameSchema = z
  .string()
  .regex(
    PROJECT_REF_PATTERN,
    'must be 1-100 letters, digits, dots, underscores or hyphens, starting with a letter or digit',
  )
  .refine((name) => !name.startsWith('prj_'), 'must not start with prj_ (reserved for ids)')

/** Netlify site ids are UUIDs, but its API also takes a site's name or domain. */
export const siteIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/, 'must be a Netlify site id, name or domain')

export const projectBodySchema = z
  .object({ siteId: siteIdSchema, name: projectNameSchema })
  .strict()

// --- the customer's own deploy history ----------------------------------------------------------

/**
 * Keyset cursor of the deploy history, as `next` hands it out: `<created_at to the µs>_<push id>`.
 * The microseconds matter: two pushes in one millisecond must not share (or skip) a page edge.
 */
const PUSH_CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)_(push_[0-9A-Za-z]{20})$/

/** Page sizes as a query string carries them: 1 to `max`. */
const pageLimit = (max: number) =>
  z
    .string()
    .regex(/^\d{1,4}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))

/** `GET /v1/pushes`: filters by project (id or name), state and month; keyset paging. */
export const pushListQuery = z
  .object({
    project: projectRefSchema.optional(),
    state: z.enum(PUSH_STATES).optional(),
    month: monthQuery.shape.month,
    before: z
      .string()
      .regex(PUSH_CURSOR, 'must be a cursor from a previous page (its next field)')
      .transform((cursor) => {
        const [, at, id] = PUSH_CURSOR.exec(cursor)!
        return { at: at!, id: id! }
      })
      .optional(),
    limit: pageLimit(100).optional(),
  })
  .strict()

/** Filters and paging of `GET /v1/pushes`, as a client holds them before sending. */
export interface PushHistoryQuery {
  /** Project id or name. */
  project?: string
  state?: (typeof PUSH_STATES)[number]
  /** `YYYY-MM`, UTC. */
  month?: string
  /** 1 to 100 (default 20). */
  limit?: number
  /** The `next` of the previous page. */
  before?: string
}

/** `GET /v1/pushes/:id`: the push, and its files one page at a time (by path). */
export const pushParams = z.object({ id: pushIdQuery.shape.pushId })
export const pushDetailQuery = z
  .object({
    // A path as push-init accepts it (so no NUL, which Postgres text cannot hold, nor controls).
    filesAfter: z
      .string()
      .superRefine((path, ctx) => {
        const problem = checkDeployPath(path)
        if (problem) ctx.addIssue({ code: 'custom', message: `path ${problem}` })
      })
      .optional(),
    filesLimit: pageLimit(1000).optional(),
  })
  .strict()
