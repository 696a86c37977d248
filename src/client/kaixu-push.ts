// The client library: one push flow for the Action, the CLI and any program. This file is
// browser-safe (fetch and Web Crypto only); ./node.ts adds folders on disk.
import { cancelPush } from '../cancel.ts'
import { PushError, push } from '../deploy.ts'
import { GatewayClient } from '../gateway-client.ts'
import { planPush } from '../plan.ts'
import { digestFiles } from './memory.ts'
import type { Digest } from '../files.ts'
import type { FunctionBundle } from '../functions.ts'
import type { PushOptions as FlowOptions, PushProgress, PushResult, Reporter } from '../deploy.ts'
import type { PushRecord } from 'kaixu-contract'
import type { PlanResult } from '../plan.ts'
import type { RetryOptions } from '../retry.ts'
import type { FileMap } from './memory.ts'

/** How to reach the gateway. */
export interface KaixuPushOptions {
  /** The gateway's base URL; a path prefix (`https://host/kaixu`) is kept. */
  gatewayUrl: string
  /** The customer's Kaixu key (`KAIXU_KEY`). */
  apiKey: string
  /** Receives the push's log lines (what the Action and the CLI print); silent by default. */
  reporter?: Partial<Reporter>
  /** Sent as `User-Agent` where the runtime allows it. */
  userAgent?: string
  /** Overrides of the retry policy (attempts, delays). */
  retry?: Partial<RetryOptions>
}

/** What to deploy and how. */
export interface DeployOptions {
  /** Project id or name at the gateway. */
  project: string
  /** A draft deploy (a preview URL) rather than production. Default false. */
  draft?: boolean
  /** A stable preview name (`pr-42` → `pr-42--site.netlify.app`); implies nothing about draft. */
  alias?: string
  /** The deploy's title in Netlify. */
  title?: string
  /** Wait until the deploy is `ready` or `error` (default); false returns once it is queued. */
  wait?: boolean
  /** Deadline of the whole push. Default 20 minutes. */
  timeoutMs?: number
  /** Uploads in flight at once. Default 6 (a browser's connections per host). */
  concurrency?: number
  /**
   * Cancels the push: the request in flight stops, and the gateway cancels the deploy and
   * returns its reservation (nothing is billed). The push then fails with code `cancelled`.
   */
  signal?: AbortSignal
  /** Told each phase as it starts, and the uploads as they land. */
  onProgress?: (progress: PushProgress) => void
  /** Told the push id as soon as the gateway answers. */
  onInit?: (pushId: string) => void
  /** Netlify Functions bundled by the Action or the CLI (src/functions.ts, Node only). */
  functions?: FunctionBundle | undefined
}

const DEFAULT_TIMEOUT_MS = 20 * 60_000
const DEFAULT_CONCURRENCY = 6
const SILENT: Reporter = { info: () => {}, warning: () => {}, debug: () => {} }

/**
 * A client of one gateway with one key. `push` deploys an in-memory file map (`path → string |
 * Uint8Array | Blob | ReadableStream`) with the Action's digest, batches, chunks, retries and
 * long-poll; `plan` is its dry run; `status` and `cancel` act on a push by id. Failures are
 * `PushError`s whose `code` is the gateway's error code (`cap_exceeded`, `unauthorized` …).
 */
export class KaixuPush {
  readonly #client: GatewayClient
  readonly #reporter: Reporter

  constructor(options: KaixuPushOptions) {
    this.#reporter = { ...SILENT, ...options.reporter }
    this.#client = new GatewayClient({
      baseUrl: options.gatewayUrl,
      apiKey: options.apiKey,
      userAgent: options.userAgent ?? 'kaixu-push-library',
      log: (line) => this.#reporter.info(line),
      ...(options.retry ? { retry: options.retry } : {}),
    })
  }

  /** Deploys `files`; resolves with the result once the deploy is ready (or queued). */
  async push(files: FileMap, options: DeployOptions): Promise<PushResult> {
    return this.pushDigest(await this.digest(files), options)
  }

  /** The dry run of `push`: what would be uploaded and cost. Nothing is created or billed. */
  async plan(files: FileMap, options: DeployOptions): Promise<PlanResult> {
    const digest = await this.digest(files)
    try {
      return await this.planDigest(digest, options)
    } catch (error) {
      throw new PushError(error, emptyResult(digest))
    }
  }

  /** `push` of a digest already made (a folder's, from the Node entry). */
  async pushDigest(digest: Digest, options: DeployOptions): Promise<PushResult> {
    let pushId: string | undefined
    const flow: FlowOptions = {
      project: options.project,
      draft: options.draft ?? false,
      wait: options.wait ?? true,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      ...(options.alias ? { alias: options.alias } : {}),
      ...(options.title ? { title: options.title } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.functions ? { functions: options.functions } : {}),
      onInit: (id) => {
        pushId = id
        options.onInit?.(id)
      },
    }
    try {
      return await push(this.#client, digest, flow, this.#reporter)
    } catch (error) {
      // An abandoned push would hold a deploy of the month until the gateway expires it.
      if (options.signal?.aborted && pushId && error instanceof PushError) {
        const state = await cancelPush(this.#client, pushId, this.#reporter)
        if (state) error.result.state = state
      }
      throw error
    }
  }

  /**
   * `plan` of a digest already made. Its failures are thrown as they come (a `GatewayError`
   * carries the code): no push exists, so there is no partial result to carry.
   */
  async planDigest(digest: Digest, options: DeployOptions): Promise<PlanResult> {
    return planPush(
      this.#client,
      digest,
      {
        project: options.project,
        draft: options.draft ?? false,
        alias: options.alias,
        timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        functions: options.functions,
      },
      this.#reporter,
    )
  }

  /**
   * A push's record (state, URLs, cost). With `waitSeconds` (at most 60) the gateway holds the
   * answer until the deploy is `ready` or `error`, or that many seconds pass.
   */
  async status(
    pushId: string,
    options: { waitSeconds?: number; signal?: AbortSignal } = {},
  ): Promise<PushRecord> {
    try {
      return await this.#client.status(pushId, options.signal, options.waitSeconds)
    } catch (error) {
      throw new PushError(error, { ...emptyResult(), pushId })
    }
  }

  /**
   * Cancels a push that is still uploading: the gateway cancels its deploy and returns its
   * reservation. Answers the push's state afterwards; undefined if the gateway could not be asked.
   */
  async cancel(pushId: string) {
    return cancelPush(this.#client, pushId, this.#reporter)
  }

  /** The digest of what `push` and `plan` were given; a failure is a `PushError` too. */
  protected async digest(files: FileMap): Promise<Digest> {
    try {
      return await this.makeDigest(files)
    } catch (error) {
      throw new PushError(error, emptyResult())
    }
  }

  /** Overridden by the Node entry, which also takes a folder. */
  protected makeDigest(files: FileMap): Promise<Digest> {
    return digestFiles(files)
  }
}

function emptyResult(digest?: Digest): PushResult {
  return {
    filesTotal: digest?.count ?? 0,
    bytesTotal: digest?.totalBytes ?? 0,
    filesUploaded: 0,
    bytesUploaded: 0,
    timings: {},
  }
}
