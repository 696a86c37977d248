import type { z } from 'zod'
import { ERRORS } from '../errors.ts'

/** Parses with a zod schema or throws `invalid_request` listing every issue with its path. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issues = result.error.issues.slice(0, 50).map((i) => ({
    path: [where, ...i.path.map(String)].join('.'),
    message: i.message,
  }))
  throw ERRORS.invalidRequest(`Invalid ${where}: ${issues[0]?.path} ${issues[0]?.message}`, {
    issues,
  })
}
