import { z } from 'zod'
import { MAX_CHUNK_COUNT } from '../config.ts'
import { WEBHOOK_EVENTS } from '../services/webhooks.ts'
import type { PushState } from '../db/pushes-repo.ts'

const SHA1 = /^[0-9a-fA-F]{40}$/
/** Netlify's alias (branch) labels: DNS-safe, at most 37 characters. */
const ALIAS = /^[a-z0-9](?:[a-z0-9-]{0,35}[a-z0-9])?$/
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
/** Bidirectional overrides and isolates: they make a name display as something it is not. */
const BIDI = /[\u202a-\u202e\u2066-\u2069]/
/** With the u flag a range of surrogates matches only unpaired ones, which UTF-8 cannot carry. */
const LONE_SURROGATE = /[\ud800-\udfff]/u

/** Why a piece of free text cannot be stored or shown safely, if it cannot. */
function checkText(value: string): string | undefined {
  if (CONTROL.test(value)) return 'must not contain control characters'
  if (LONE_SURROGATE.test(value)) return 'must be valid Unicode (no unpaired surrogates)'
  if (BIDI.test(value)) return 'must not contain bidirectional control characters'
  return undefined
}

/** Free text (names, titles): bounded, and nothing Postgres or a terminal would choke on. */
const text = (max: number) =>
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
  .regex(SHA1, 'must be a 40-character hex SHA-1')
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
 * Why each rule: `..`/`.` segments would escape or alias the deploy root; `#` and `?` cannot be
 * deployed on Netlify; control characters and backslashes are never legitimate file names there.
 * A single leading `/` is accepted and dropped, as Netlify does.
 */
export function checkDeployPath(raw: string): string | undefined {
  const path = raw.startsWith('/') ? raw.slice(1) : raw
  if (path.length === 0) return 'is empty'
  if (path.length > 1024) return 'is longer than 1024 characters'
  if (CONTROL.test(path)) return 'contains control characters'
  if (LONE_SURROGATE.test(path)) return 'is not valid Unicode (an unpaired surrogate)'
  if (BIDI.test(path)) return 'contains bidirectional control characters'
  if (path.includes('\\')) return 'contains a backslash'
  if (/[#?]/.test(path)) return 'contains # or ? (Netlify cannot deploy such names)'
  if (path.normalize('NFC') !== path) return 'is not in Unicode NFC form'
  for (const segment of path.split('/')) {
    if (segment === '') return 'has an empty segment (// or a trailing /)'
    // Percent-encoded dots become . and .. again once a server decodes the URL.
    if (/^(?:\.|%2e){1,2}$/i.test(segment)) return 'has a . or .. segment'
  }
  return undefined
}

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
        .regex(ALIAS, 'must be lowercase letters, digits and hyphens, at most 37 characters')
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

/** `PUT /push-upload-function?pushId=&name=`: the zip of one function, by its SHA-256. */
export const functionUploadQuery = z.object({
  pushId: z.string().regex(/^push_[0-9A-Za-z]{20}$/, 'must be a push id'),
  name: functionNameSchema,
})

export const functionUploadHeaders = z.object({
  'x-content-sha256': sha256Schema,
  'content-length': z.coerce.number().int().min(0).optional(),
})

export const pushIdQuery = z.object({
  pushId: z.string().regex(/^push_[0-9A-Za-z]{20}$/, 'must be a push id'),
})

/** The longest `push-status` long-poll, in seconds: under common proxy idle timeouts. */
export const MAX_STATUS_WAIT_SECONDS = 60

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
  month: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be YYYY-MM')
    .optional(),
})

const nullableCount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional()

export const limitsBodySchema = z
  .object({
    deploysPerMonth: nullableCount,
    bytesPerMonth: nullableCount,
    perMinute: nullableCount,
    perDay: nullableCount,
  })
  .strict()

export const pricingBodySchema = z
  .object({
    centsPerDeploy: z.number().int().min(0).max(1_000_000_000),
    centsPerGb: z.number().int().min(0).max(1_000_000_000),
    effectiveFrom: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()

export const finalizeBodySchema = z
  .object({
    month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be YYYY-MM'),
    customerId: z.string().min(1).max(64).optional(),
  })
  .strict()

export const invoicesQuery = monthQuery.extend({
  customer: z.string().min(1).max(64).optional(),
  format: z.enum(['json', 'csv']).optional(),
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

export const chunkStatusQuery = pushIdQuery.extend({ sha1: sha1Schema })

export const jobsQuery = z.object({
  state: z.enum(['created', 'retry', 'active', 'completed', 'cancelled', 'failed']).optional(),
  queue: z
    .string()
    .regex(/^[a-z-]{1,64}$/)
    .optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
})

export const jobParams = z.object({
  queue: z.string().regex(/^[a-z-]{1,64}$/, 'must be a queue name'),
  id: z.uuid(),
})

// --- accounts: customers, keys, Netlify tokens, projects, audit ---------------------------------

export const customerIdSchema = z.string().regex(/^cus_[0-9A-Za-z]{20}$/, 'must be a customer id')
export const keyIdSchema = z.string().regex(/^key_[0-9A-Za-z]{20}$/, 'must be an API key id')

export const customerParams = z.object({ id: customerIdSchema })
export const keyParams = customerParams.extend({ keyId: keyIdSchema })
export const projectParams = customerParams.extend({
  project: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a project id or name'),
})

export const customerListQuery = z.object({ status: z.enum(['active', 'suspended']).optional() })

export const customerBodySchema = z.object({ name: text(200) }).strict()

export const keyBodySchema = z.object({ name: text(100).optional() }).strict()

/**
 * Netlify personal access tokens are printable ASCII. Anything else would break the
 * Authorization header it travels in, so it is refused before Netlify is asked.
 */
export const netlifyTokenBodySchema = z
  .object({
    token: z.string().regex(/^[\x21-\x7e]{8,512}$/, 'must be 8-512 printable ASCII characters'),
  })
  .strict()

/**
 * Project names are what CI configs say (`project: client-site`): letters, digits, `.`, `_`,
 * `-`. The `prj_` prefix is kept for ids, so a name can never be mistaken for one.
 */
export const projectNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/,
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

export const auditQuery = monthQuery.extend({
  customer: customerIdSchema.optional(),
  action: z
    .string()
    .regex(
      /^[a-z_]+(?:\.[a-z_]+)*$/,
      'must be an action such as push.init, or a family such as push',
    )
    .optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'must be 1-1000')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .optional(),
  before: z
    .string()
    .regex(/^\d{1,18}$/, 'must be an audit entry id')
    .transform(Number)
    .optional(),
})

// Outgoing webhooks (issue 12).

/**
 * Where events are POSTed: http or https only (plain http is allowed for receivers on a private
 * network), no credentials in the URL (they would travel in clear and land in logs).
 */
export const webhookUrlSchema = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .max(2048)
  // Refinements run even when the URL check failed, so parse defensively.
  .refine((u) => {
    const parsed = URL.parse(u)
    return !parsed || (!parsed.username && !parsed.password)
  }, 'must not carry a user name or password')

export const webhookBodySchema = z
  .object({
    url: webhookUrlSchema,
    events: z.array(z.enum(WEBHOOK_EVENTS)).max(WEBHOOK_EVENTS.length).optional(),
  })
  .strict()

/** The operator also says whose endpoint it is; without `customerId`, the operator's own. */
export const adminWebhookBodySchema = webhookBodySchema
  .extend({ customerId: customerIdSchema.optional() })
  .strict()

export const webhookParams = z.object({
  id: z.string().regex(/^whe_[0-9A-Za-z]{20}$/, 'must be a webhook endpoint id'),
})
export const deliveryParams = z.object({
  id: z.string().regex(/^whd_[0-9A-Za-z]{20}$/, 'must be a webhook delivery id'),
})
export const deliveryListQuery = z
  .object({
    endpointId: webhookParams.shape.id.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict()

// --- the customer's own deploy history ----------------------------------------------------------

/** Push states a history filter may name. */
export const PUSH_STATES = [
  'uploading',
  'finalizing',
  'ready',
  'error',
  'cancelled',
  'expired',
] as const satisfies readonly PushState[]

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
    project: projectParams.shape.project.optional(),
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
