import { z } from 'zod'

const SHA1 = /^[0-9a-fA-F]{40}$/
/** Netlify's alias (branch) labels: DNS-safe, at most 37 characters. */
const ALIAS = /^[a-z0-9](?:[a-z0-9-]{0,35}[a-z0-9])?$/
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

export const sha1Schema = z
  .string()
  .regex(SHA1, 'must be a 40-character hex SHA-1')
  .transform((s) => s.toLowerCase())

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
  if (path.includes('\\')) return 'contains a backslash'
  if (/[#?]/.test(path)) return 'contains # or ? (Netlify cannot deploy such names)'
  if (path.normalize('NFC') !== path) return 'is not in Unicode NFC form'
  for (const segment of path.split('/')) {
    if (segment === '') return 'has an empty segment (// or a trailing /)'
    if (segment === '.' || segment === '..') return 'has a . or .. segment'
  }
  return undefined
}

export function initBodySchema() {
  return z
    .object({
      project: z.string().min(1).max(200),
      files: z.record(z.string(), sha1Schema),
      sizes: z.record(z.string(), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)).optional(),
      draft: z.boolean().optional(),
      alias: z
        .string()
        .regex(ALIAS, 'must be lowercase letters, digits and hyphens, at most 37 characters')
        .optional(),
      title: z.string().max(500).optional(),
    })
    .strict()
    .superRefine((body, ctx) => {
      if (Object.keys(body.files).length === 0) {
        ctx.addIssue({ code: 'custom', path: ['files'], message: 'must list at least one file' })
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
      return { ...body, files, sizes: body.sizes ? sizes : undefined }
    })
}

export const pushIdQuery = z.object({
  pushId: z.string().regex(/^push_[0-9A-Za-z]{20}$/, 'must be a push id'),
})

export const uploadHeaders = z.object({
  'x-content-sha1': sha1Schema,
  'content-length': z.coerce.number().int().min(0).optional(),
})

export const completeBodySchema = z
  .object({ pushId: pushIdQuery.shape.pushId, wait: z.boolean().optional() })
  .strict()

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
