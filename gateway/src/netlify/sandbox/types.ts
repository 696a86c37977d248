/**
 * Internal records of the Netlify sandbox. These are the in-memory source of truth; the JSON the
 * API answers is built from them in `serialize.ts` so that the wire shape lives in one place.
 */

/** Deploy states the sandbox moves through (a subset of Netlify's `state` enum). */
export type DeployState =
  | 'new'
  | 'preparing'
  | 'prepared'
  | 'uploading'
  | 'uploaded'
  | 'processing'
  | 'processed'
  | 'ready'
  | 'error'

/** An account: what a token names. Sites belong to accounts, never to tokens. */
export interface AccountRecord {
  id: string
  slug: string
  name: string
  email: string
  createdAt: string
}

/** A site and what the sandbox remembers about its content. */
export interface SiteRecord {
  id: string
  name: string
  accountId: string
  createdAt: string
  updatedAt: string
  /** The production deploy served at `<site>.localhost`. */
  publishedDeployId: string | null
  /** Branch slug → id of the latest deploy of that branch that went ready. */
  branchDeploys: Map<string, string>
  /**
   * Every sha1 this site has received. A later deploy does not require them again, which is
   * what makes incremental pushes upload only the changed files.
   */
  knownShas: Set<string>
  /** Every function zip (SHA-256) this site has received: not required again, like files. */
  knownFunctionShas: Set<string>
}

/** A deploy, including the bookkeeping behind its state machine. */
export interface DeployRecord {
  id: string
  siteId: string
  accountId: string
  state: DeployState
  /** path (no leading slash) → sha1; `null` until a digest was sent (state `new`). */
  files: Map<string, string> | null
  /** shas still to upload, in digest order, each once. */
  required: string[]
  /** Function name → SHA-256 of its zip; empty when the digest named none. Never run. */
  functions: Map<string, string>
  /** Function zips (SHA-256s) still to upload, each once. */
  requiredFunctions: string[]
  draft: boolean
  /** The branch as sent by the client, and its URL-safe label. */
  branch: string | null
  branchSlug: string | null
  title: string | null
  errorMessage: string | null
  cancelled: boolean
  locked: boolean
  createdAt: string
  updatedAt: string
  publishedAt: string | null
  /** Pending state-machine timers, cleared on cancel, failure and close. */
  timers: Set<NodeJS.Timeout>
}

/** Knobs that can be changed at run time through `POST /__sandbox/config`. */
export interface SandboxConfig {
  /** API requests per minute per token; `null` lifts the limit (and drops the headers). */
  rateLimitPerMinute: number | null
  /** File PUTs in flight per token; `null` lifts the limit. */
  concurrentUploads: number | null
  /** Deploy creations per minute per site; `null` (the default) means unlimited. */
  deploysPerMinute: number | null
  /** Total time of uploaded → processing → processed → ready. */
  processingMs: number
  /** Time of the async diff preparing → prepared. */
  diffMs: number
  /** Largest zip archive a zip deploy may send (Netlify: 1 GiB); a bigger one is a 413. */
  maxZipBytes: number
}
