/**
 * Stable error codes. The string values are public API: the Action and customers' scripts branch
 * on them, so they never change meaning.
 */
export const ErrorCode = {
  InvalidRequest: 'invalid_request',
  InvalidJson: 'invalid_json',
  Unauthorized: 'unauthorized',
  CustomerSuspended: 'customer_suspended',
  NotFound: 'not_found',
  ProjectNotFound: 'project_not_found',
  InvalidState: 'invalid_state',
  Conflict: 'conflict',
  UploadsIncomplete: 'uploads_incomplete',
  NetlifyTokenMissing: 'netlify_token_missing',
  PayloadTooLarge: 'payload_too_large',
  ShaMismatch: 'sha_mismatch',
  ShaNotInPush: 'sha_not_in_push',
  FunctionNotInPush: 'function_not_in_push',
  NetlifyError: 'netlify_error',
  NetlifyUnavailable: 'netlify_unavailable',
  ChunkShaMismatch: 'chunk_sha_mismatch',
  ChunkConflict: 'chunk_conflict',
  CapExceeded: 'cap_exceeded',
  RateLimited: 'rate_limited',
  LengthRequired: 'length_required',
  IdempotencyKeyReused: 'idempotency_key_reused',
  IdempotencyInFlight: 'idempotency_in_flight',
  AdminDisabled: 'admin_disabled',
  // Accounts and hardening (issue 5).
  NetlifyTokenInvalid: 'netlify_token_invalid',
  NetlifyTokenRevoked: 'netlify_token_revoked',
  NetlifyTokenRejected: 'netlify_token_rejected',
  SiteUnreachable: 'site_unreachable',
  UnsupportedMediaType: 'unsupported_media_type',
  HeadersTooLarge: 'headers_too_large',
  RequestTimeout: 'request_timeout',
  VaultKeyMissing: 'vault_key_missing',
  // Onboarding links (issue 15).
  OnboardingLinkGone: 'onboarding_link_gone',
  Internal: 'internal_error',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export interface AppErrorOptions {
  details?: Record<string, unknown>
  cause?: unknown
  /** Seconds the client should wait before retrying; sent as `Retry-After`. */
  retryAfter?: number | undefined
  /** Extra response headers (e.g. `RateLimit`, `RateLimit-Policy`). */
  headers?: Record<string, string> | undefined
}

/** An error with a stable code and HTTP status; the error handler renders it as JSON. */
export class AppError extends Error {
  override name = 'AppError'
  readonly code: ErrorCode
  readonly status: number
  readonly details: Record<string, unknown>
  readonly retryAfter: number | undefined
  readonly headers: Record<string, string>

  constructor(code: ErrorCode, status: number, message: string, options: AppErrorOptions = {}) {
    super(message, { cause: options.cause })
    this.code = code
    this.status = status
    this.details = options.details ?? {}
    this.retryAfter = options.retryAfter
    this.headers = options.headers ?? {}
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details }
  }
}

/** One factory per failure, so each code has one status and one wording. */
export const ERRORS = {
  invalidRequest: (message: string, details?: Record<string, unknown>) =>
    new AppError(ErrorCode.InvalidRequest, 400, message, { details }),
  invalidJson: (message: string) => new AppError(ErrorCode.InvalidJson, 400, message),
  unauthorized: (
    message = 'A valid Kaixu API key is required (Authorization: Bearer kx_live_…).',
  ) => new AppError(ErrorCode.Unauthorized, 401, message),
  customerSuspended: () =>
    new AppError(ErrorCode.CustomerSuspended, 403, 'This customer account is suspended.'),
  notFound: (what: string) => new AppError(ErrorCode.NotFound, 404, `${what} not found.`),
  projectNotFound: (project: string) =>
    new AppError(ErrorCode.ProjectNotFound, 404, `Project '${project}' not found.`, {
      details: { project },
    }),
  invalidState: (message: string, state: string) =>
    new AppError(ErrorCode.InvalidState, 409, message, { details: { state } }),
  conflict: (message: string) => new AppError(ErrorCode.Conflict, 409, message),
  uploadsIncomplete: (missing: string[], missingFunctions: string[] = []) =>
    new AppError(
      ErrorCode.UploadsIncomplete,
      409,
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
    new AppError(
      ErrorCode.NetlifyTokenMissing,
      412,
      'No Netlify token is registered for this customer.',
    ),
  payloadTooLarge: (message: string, details?: Record<string, unknown>) =>
    new AppError(ErrorCode.PayloadTooLarge, 413, message, { details }),
  shaMismatch: (expected: string, actual: string) =>
    new AppError(
      ErrorCode.ShaMismatch,
      422,
      `The body's SHA-1 is ${actual}, not ${expected} as X-Content-Sha1 says; nothing was stored.`,
      { details: { expected, actual } },
    ),
  functionShaMismatch: (expected: string, actual: string) =>
    new AppError(
      ErrorCode.ShaMismatch,
      422,
      `The zip's SHA-256 is ${actual}, not ${expected} as X-Content-Sha256 says; nothing was deployed.`,
      { details: { expected, actual } },
    ),
  functionNotInPush: (name: string) =>
    new AppError(ErrorCode.FunctionNotInPush, 422, `This push has no function named ${name}.`, {
      details: { name },
    }),
  shaNotInPush: (sha1: string) =>
    new AppError(ErrorCode.ShaNotInPush, 422, `No file of this push has SHA-1 ${sha1}.`, {
      details: { sha1 },
    }),
  netlifyError: (status: number, message: string) =>
    new AppError(ErrorCode.NetlifyError, 502, `Netlify answered ${status}: ${message}`, {
      details: { status, netlifyMessage: message },
    }),
  lengthRequired: () =>
    new AppError(
      ErrorCode.LengthRequired,
      411,
      'Send Content-Length (or list the file size in the manifest): bytes are checked against the monthly cap before any reach Netlify.',
    ),
  signInThrottled: (retryAfterSeconds: number) =>
    new AppError(
      ErrorCode.RateLimited,
      429,
      `Too many failed sign-ins from your address; try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s).`,
      { retryAfter: retryAfterSeconds, details: { retryAfterSeconds } },
    ),
  idempotencyKeyReused: () =>
    new AppError(
      ErrorCode.IdempotencyKeyReused,
      422,
      'This Idempotency-Key was used with a different request body.',
    ),
  idempotencyInFlight: () =>
    new AppError(
      ErrorCode.IdempotencyInFlight,
      409,
      'A request with this Idempotency-Key is still being processed; retry shortly.',
      { retryAfter: 1 },
    ),
  adminDisabled: () =>
    new AppError(ErrorCode.AdminDisabled, 404, 'The admin API is disabled: set KAIXU_ADMIN_TOKEN.'),
  netlifyUnavailable: (message: string, retryAfter?: number) =>
    new AppError(ErrorCode.NetlifyUnavailable, 503, message, { retryAfter }),
  netlifyTokenInvalid: (netlifyStatus: number) =>
    new AppError(
      ErrorCode.NetlifyTokenInvalid,
      400,
      'Netlify rejected this token; nothing was stored. Create a personal access token in Netlify (User settings → Applications) and try again.',
      { details: { netlifyStatus } },
    ),
  netlifyTokenRevoked: () =>
    new AppError(
      ErrorCode.NetlifyTokenRevoked,
      412,
      "This customer's Netlify token was revoked in the gateway; register a new one (PUT /v1/netlify-token) before pushing.",
    ),
  netlifyTokenRejected: (netlifyStatus: number) =>
    new AppError(
      ErrorCode.NetlifyTokenRejected,
      412,
      "Netlify no longer accepts this customer's stored token (revoked or expired at Netlify); register a new one (PUT /v1/netlify-token).",
      { details: { netlifyStatus } },
    ),
  siteUnreachable: (
    message: string,
    sites: { siteId: string; project?: string; netlifyStatus: number }[],
  ) => new AppError(ErrorCode.SiteUnreachable, 400, message, { details: { sites } }),
  unsupportedMediaType: (expected: string) =>
    new AppError(
      ErrorCode.UnsupportedMediaType,
      415,
      `This route takes ${expected}; send it with Content-Type: ${expected}.`,
      { details: { expected } },
    ),
  vaultKeyMissing: (keyId: string) =>
    new AppError(
      ErrorCode.VaultKeyMissing,
      503,
      `This gateway lacks vault key '${keyId}' that a stored token uses; add it to KAIXU_VAULT_KEYS.`,
      { details: { keyId } },
    ),
  /**
   * Unknown, used, revoked and expired links get one answer, so a guesser learns nothing about
   * which links exist.
   */
  onboardingLinkGone: () =>
    new AppError(
      ErrorCode.OnboardingLinkGone,
      410,
      'This onboarding link cannot be used: it was used already, was withdrawn or has expired. Ask for a new one.',
    ),
  onboardingThrottled: (retryAfterSeconds: number) =>
    new AppError(
      ErrorCode.RateLimited,
      429,
      `Too many refused attempts; try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s).`,
      { retryAfter: retryAfterSeconds, details: { retryAfterSeconds } },
    ),
}
