// The codes and their statuses are part of the wire contract, shared with every client; they are
// re-exported here so the gateway names them from one place.
import { ErrorCode, isErrorCode, STATUS } from 'kaixu-contract'
export { ErrorCode, STATUS, isErrorCode } from 'kaixu-contract'

export interface AppErrorOptions {
  details?: Record<string, unknown> | undefined
  cause?: unknown
  /** Seconds the client should wait before retrying; sent as `Retry-After`. */
  retryAfter?: number | undefined
  /** Extra response headers (e.g. `RateLimit`, `RateLimit-Policy`). */
  headers?: Record<string, string> | undefined
}

/**
 * An error with a stable code (and so its one status); the error handlers render it. Made only
 * by the `ERRORS` factories below, so each failure has one wording.
 */
export class AppError extends Error {
  override name = 'AppError'
  readonly code: ErrorCode
  readonly status: number
  readonly details: Record<string, unknown>
  readonly retryAfter: number | undefined
  readonly headers: Record<string, string>

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, { cause: options.cause })
    this.code = code
    this.status = STATUS[code]
    this.details = options.details ?? {}
    this.retryAfter = options.retryAfter
    this.headers = options.headers ?? {}
  }

  /** The same failure with more details (e.g. which file of a batch it was). */
  withDetails(details: Record<string, unknown>): AppError {
    return new AppError(this.code, this.message, {
      details: { ...this.details, ...details },
      retryAfter: this.retryAfter,
      headers: this.headers,
      cause: this,
    })
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details }
  }
}

const fail = (code: ErrorCode, message: string, options?: AppErrorOptions) =>
  new AppError(code, message, options)

/** One factory per failure, so each code has one status and one wording. */
export const ERRORS = {
  invalidRequest: (message: string, details?: Record<string, unknown>) =>
    fail(ErrorCode.InvalidRequest, message, { details }),
  invalidJson: (message: string) => fail(ErrorCode.InvalidJson, message),
  unauthorized: (
    message = 'A valid Kaixu API key is required (Authorization: Bearer kx_live_…).',
  ) => fail(ErrorCode.Unauthorized, message),
  /** Known caller, refused request (a dashboard POST without its session's CSRF token). */
  forbidden: (message: string) => fail(ErrorCode.Forbidden, message),
  customerSuspended: () => fail(ErrorCode.CustomerSuspended, 'This customer account is suspended.'),
  notFound: (what: string) => fail(ErrorCode.NotFound, `${what} not found.`),
  projectNotFound: (project: string) =>
    fail(ErrorCode.ProjectNotFound, `Project '${project}' not found.`, { details: { project } }),
  invalidState: (message: string, state: string) =>
    fail(ErrorCode.InvalidState, message, { details: { state } }),
  conflict: (message: string) => fail(ErrorCode.Conflict, message),
  uploadsIncomplete: (missing: string[], missingFunctions: string[] = []) =>
    fail(
      ErrorCode.UploadsIncomplete,
      missingFunctions.length === 0
        ? `${missing.length} required file(s) are not uploaded yet.`
        : `${missing.length} required file(s) and ${missingFunctions.length} function(s) are not uploaded yet.`,
      {
        details: {
          missing: missing.slice(0, 100),
          missingCount: missing.length,
          ...(missingFunctions.length > 0
            ? { missingFunctions: missingFunctions.slice(0, 100) }
            : {}),
        },
      },
    ),
  netlifyTokenMissing: () =>
    fail(ErrorCode.NetlifyTokenMissing, 'No Netlify token is registered for this customer.'),
  payloadTooLarge: (message: string, details?: Record<string, unknown>) =>
    fail(ErrorCode.PayloadTooLarge, message, { details }),
  shaMismatch: (expected: string, actual: string) =>
    fail(
      ErrorCode.ShaMismatch,
      `The body's SHA-1 is ${actual}, not ${expected} as X-Content-Sha1 says; nothing was stored.`,
      { details: { expected, actual } },
    ),
  functionShaMismatch: (expected: string, actual: string) =>
    fail(
      ErrorCode.ShaMismatch,
      `The zip's SHA-256 is ${actual}, not ${expected} as X-Content-Sha256 says; nothing was deployed.`,
      { details: { expected, actual } },
    ),
  functionNotInPush: (name: string) =>
    fail(ErrorCode.FunctionNotInPush, `This push has no function named ${name}.`, {
      details: { name },
    }),
  shaNotInPush: (sha1: string) =>
    fail(ErrorCode.ShaNotInPush, `No file of this push has SHA-1 ${sha1}.`, { details: { sha1 } }),
  chunkShaMismatch: (expected: string, actual: string) =>
    fail(
      ErrorCode.ChunkShaMismatch,
      `The chunk's SHA-1 is ${actual}, not ${expected} as X-Chunk-Sha1 says; nothing was stored.`,
      { details: { expected, actual } },
    ),
  chunkConflict: (index: number, storedSha1: string) =>
    fail(
      ErrorCode.ChunkConflict,
      `Chunk ${index} is already stored with a different body (SHA-1 ${storedSha1}).`,
      { details: { index, storedSha1 } },
    ),
  capExceeded: (message: string, details: Record<string, unknown>) =>
    fail(ErrorCode.CapExceeded, message, { details }),
  /** Deploy pacing: the window that is full, and the policy as IETF RateLimit headers. */
  deployPaced: (
    window: { kind: string; limit: number },
    retryIn: number,
    headers: Record<string, string>,
  ) =>
    fail(
      ErrorCode.RateLimited,
      `Deploy pacing: at most ${window.limit} deploys in any ${window.kind}; retry in ${retryIn} s.`,
      {
        retryAfter: retryIn,
        details: { limit: window.kind, max: window.limit, retryAfterSeconds: retryIn },
        headers,
      },
    ),
  netlifyError: (status: number, message: string) =>
    fail(ErrorCode.NetlifyError, `Netlify answered ${status}: ${message}`, {
      details: { status, netlifyMessage: message },
    }),
  lengthRequired: () =>
    fail(
      ErrorCode.LengthRequired,
      'Send Content-Length (or list the file size in the manifest): bytes are checked against the monthly cap before any reach Netlify.',
    ),
  signInThrottled: (retryAfterSeconds: number) =>
    fail(
      ErrorCode.RateLimited,
      `Too many failed sign-ins from your address; try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s).`,
      { retryAfter: retryAfterSeconds, details: { retryAfterSeconds } },
    ),
  idempotencyKeyReused: () =>
    fail(
      ErrorCode.IdempotencyKeyReused,
      'This Idempotency-Key was used with a different request body.',
    ),
  idempotencyInFlight: () =>
    fail(
      ErrorCode.IdempotencyInFlight,
      'A request with this Idempotency-Key is still being processed; retry shortly.',
      { retryAfter: 1 },
    ),
  adminDisabled: () =>
    fail(ErrorCode.AdminDisabled, 'The admin API is disabled: set KAIXU_ADMIN_TOKEN.'),
  netlifyUnavailable: (message: string, retryAfter?: number) =>
    fail(ErrorCode.NetlifyUnavailable, message, { retryAfter }),
  netlifyTokenInvalid: (netlifyStatus: number) =>
    fail(
      ErrorCode.NetlifyTokenInvalid,
      'Netlify rejected this token; nothing was stored. Create a personal access token in Netlify (User settings → Applications) and try again.',
      { details: { netlifyStatus } },
    ),
  netlifyTokenRevoked: () =>
    fail(
      ErrorCode.NetlifyTokenRevoked,
      "This customer's Netlify token was revoked in the gateway; register a new one (PUT /v1/netlify-token) before pushing.",
    ),
  netlifyTokenRejected: (netlifyStatus: number) =>
    fail(
      ErrorCode.NetlifyTokenRejected,
      "Netlify no longer accepts this customer's stored token (revoked or expired at Netlify); register a new one (PUT /v1/netlify-token).",
      { details: { netlifyStatus } },
    ),
  siteUnreachable: (
    message: string,
    sites: { siteId: string; project?: string; netlifyStatus: number }[],
  ) => fail(ErrorCode.SiteUnreachable, message, { details: { sites } }),
  unsupportedMediaType: (expected: string) =>
    fail(
      ErrorCode.UnsupportedMediaType,
      `This route takes ${expected}; send it with Content-Type: ${expected}.`,
      { details: { expected } },
    ),
  headersTooLarge: () => fail(ErrorCode.HeadersTooLarge, 'The request headers are too large.'),
  requestTimeout: () => fail(ErrorCode.RequestTimeout, 'The request took too long to arrive.'),
  vaultKeyMissing: (keyId: string) =>
    fail(
      ErrorCode.VaultKeyMissing,
      `This gateway lacks vault key '${keyId}' that a stored token uses; add it to KAIXU_VAULT_KEYS.`,
      { details: { keyId } },
    ),
  /** A bug: the cause is logged, the client sees only this. */
  internal: () => fail(ErrorCode.Internal, 'Internal error; it has been logged.'),
  /**
   * A gateway's JSON error answer read back by a client (the CLI over HTTP); a code this build
   * does not know stays an internal error with the gateway's message.
   */
  fromAnswer: (code: unknown, message: string, details?: Record<string, unknown>) =>
    fail(isErrorCode(code) ? code : ErrorCode.Internal, message, { details }),
  /**
   * Unknown, used, revoked and expired links get one answer, so a guesser learns nothing about
   * which links exist.
   */
  onboardingLinkGone: () =>
    fail(
      ErrorCode.OnboardingLinkGone,
      'This onboarding link cannot be used: it was used already, was withdrawn or has expired. Ask for a new one.',
    ),
  onboardingThrottled: (retryAfterSeconds: number) =>
    fail(
      ErrorCode.RateLimited,
      `Too many refused attempts; try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s).`,
      { retryAfter: retryAfterSeconds, details: { retryAfterSeconds } },
    ),
}
