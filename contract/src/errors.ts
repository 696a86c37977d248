/**
 * Stable error codes. The string values are public API: the Action and customers' scripts branch
 * on them, so they never change meaning.
 */
export const ErrorCode = {
  InvalidRequest: 'invalid_request',
  InvalidJson: 'invalid_json',
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
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

/**
 * The one HTTP status of each code: a client may branch on either, so they never disagree.
 * `unauthorized` (401) is "who are you?"; `forbidden` (403) is "you, but not this request".
 */
export const STATUS = {
  invalid_request: 400,
  invalid_json: 400,
  unauthorized: 401,
  forbidden: 403,
  customer_suspended: 403,
  not_found: 404,
  project_not_found: 404,
  invalid_state: 409,
  conflict: 409,
  uploads_incomplete: 409,
  netlify_token_missing: 412,
  payload_too_large: 413,
  sha_mismatch: 422,
  sha_not_in_push: 422,
  function_not_in_push: 422,
  netlify_error: 502,
  netlify_unavailable: 503,
  chunk_sha_mismatch: 422,
  chunk_conflict: 409,
  cap_exceeded: 402,
  rate_limited: 429,
  length_required: 411,
  idempotency_key_reused: 422,
  idempotency_in_flight: 409,
  admin_disabled: 404,
  netlify_token_invalid: 400,
  netlify_token_revoked: 412,
  netlify_token_rejected: 412,
  site_unreachable: 400,
  unsupported_media_type: 415,
  headers_too_large: 431,
  request_timeout: 408,
  vault_key_missing: 503,
  onboarding_link_gone: 410,
  internal_error: 500,
} as const satisfies Record<ErrorCode, number>

const CODES = new Set<string>(Object.values(ErrorCode))
/** Whether a string from the wire is one of the gateway's codes. */
export const isErrorCode = (code: unknown): code is ErrorCode =>
  typeof code === 'string' && CODES.has(code)
