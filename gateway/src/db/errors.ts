import { ERRORS, type AppError } from '../errors.ts'

/**
 * Database errors a client can cause, by SQLSTATE: a duplicate (unique violation), and text
 * Postgres cannot store (NUL bytes, invalid UTF-8, too long). Validation should catch these
 * first; this is the backstop that keeps them 4xx, and the transaction was rolled back, so
 * nothing changed. Anything else from the database is not the client's doing.
 */
export function fromDatabase(error: unknown): AppError | undefined {
  switch ((error as { code?: unknown } | null)?.code) {
    case '23505':
      return ERRORS.conflict('That already exists.')
    case '22021': // character_not_in_repertoire (e.g. a NUL byte)
    case '22P05': // untranslatable_character
      return ERRORS.invalidRequest('The request contains text the database cannot store.')
    case '22001': // string_data_right_truncation
      return ERRORS.invalidRequest('A value in the request is too long.')
    default:
      return undefined
  }
}
