import { fromDatabase } from '../db/errors.ts'
import { AppError, ERRORS } from '../errors.ts'
import { VaultKeyMissingError } from './vault.ts'

/**
 * A failure below the HTTP layer in the gateway's vocabulary, or undefined when it is a bug:
 * an AppError as it is, a database refusal a client caused (db/errors.ts), and a vault key this
 * process lacks (an operations problem the operator can fix: 503).
 */
export function knownFailure(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error
  if (error instanceof VaultKeyMissingError) return ERRORS.vaultKeyMissing(error.keyId)
  return fromDatabase(error)
}
