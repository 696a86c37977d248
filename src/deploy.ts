import { GatewayError, getErrorMessage } from './errors.ts'
import { formatCents } from './format.ts'
import { ErrorCode, isFinalState } from 'kaixu-contract'
import { formatBudget } from './metering.ts'
import { uploadRequired } from './upload.ts'
import { uploadFunctions } from './function-uploads.ts'
import type { FunctionBundle } from './functions.ts'
import type { Digest } from './files.ts'
import type { GatewayClient } from './gateway-client.ts'
import type { PushLimits, PushRecord, PushState } from 'kaixu-contract'

/** Where the flow writes its log; the Action passes `@actions/core`, a CLI would pass the console. */
export interface Reporter {
  info(message: string): void
  warning(message: string): void
  debug(message: string): void
}

/** What to deploy and how long to wait for it. */
export interface PushOptions {
  /** Project id or name at the gateway. */
  project: string
  draft: boolean
  alias?: string
  /** Deploy title shown in Netlify. */
  title?: string
  /** Wait until the deploy is `ready` or `error`; otherwise return once finalization is queued. */
  wait: boolean
  /**
   * The deadline of the whole push, from `push-init` to a final state (or to the queued
   * finalization without `wait`): a hung upload ends the step as surely as a slow deploy.
   */
  timeoutMs: number
  /** Uploads in flight at once. */
  concurrency: number
  /** Injected in tests so polling does not really sleep. */
  sleep?: (ms: number) => Promise<void>
  /** Told the push id as soon as the gateway answers, so an interrupted run can cancel it. */
  onInit?: (pushId: string) => void
  /** Aborts the push from outside (Ctrl-C); it then fails with the partial result. */
  signal?: AbortSignal
  /** The site's Netlify Functions, bundled (functions.ts); none when undefined. */
  functions?: FunctionBundle | undefined
  /** Told how the push moves: each phase as it starts, and uploads as they land. */
  onProgress?: (progress: PushProgress) => void
}

/** A step of a push, as `onProgress` hears it. */
export interface PushProgress {
  /** `upload` repeats as files land; `finalize` repeats as the deploy's state changes. */
  phase: 'init' | 'upload' | 'finalize'
  pushId?: string
  /** Files and bytes announced in the digest. */
  filesTotal: number
  bytesTotal: number
  /** Distinct contents the gateway asked for, once known. */
  filesRequired?: number
  /** Of those, how many the gateway stored so far, and their bytes. */
  filesSent: number
  bytesSent: number
  state?: PushState
}

/** Milliseconds per phase of the push. */
export interface PushTimings {
  initMs?: number
  uploadMs?: number
  finalizeMs?: number
}

/** What is known about a push: complete on success, partial when carried by a `PushError`. */
export interface PushResult {
  pushId?: string
  deployId?: string
  state?: PushState
  filesTotal: number
  bytesTotal: number
  /** Distinct contents Netlify asked for. */
  filesRequired?: number
  filesUploaded: number
  bytesUploaded: number
  /** Functions of the push, and those uploaded (Netlify lacked their zip). */
  functionsTotal?: number
  functionsUploaded?: number
  /** The unique URL of this deploy. */
  deployUrl?: string
  /** The stable URL: the alias URL, or production. */
  siteUrl?: string
  /** The deploy's page in Netlify's admin (its log), when the gateway names the site. */
  deployLogUrl?: string
  errorMessage?: string
  /** What the gateway billed, once the deploy is ready. */
  costCents?: number
  /** The month's budget after this push's reservation, when the gateway meters. */
  limits?: PushLimits
  /** How the files reached Netlify: a PUT each, one zip deploy, or PUTs after a refused zip. */
  delivery?: 'files' | 'zip' | 'zip-fallback'
  timings: PushTimings
}

/**
 * Why a push failed, as `PushError.code`: the gateway's error code when it refused (`cap_exceeded`,
 * `unauthorized`, `project_not_found` …), else one of these.
 */
export type PushFailure =
  | 'deploy_failed' // Netlify could not deploy (state `error`)
  | 'cancelled' // the push was cancelled, at the gateway or by the caller's signal
  | 'expired' // the gateway gave up on an idle push
  | 'timeout' // `timeoutMs` ran out
  | 'client_error' // anything else: a network failure, a file that changed …

/** A failed push, with what was known when it failed (for outputs and the summary). */
export class PushError extends Error {
  readonly result: PushResult
  /** The gateway's error code when it answered with one, else a `PushFailure`. */
  readonly code: PushFailure | (string & {})
  /** The HTTP status of the gateway's refusal, when there was one. */
  readonly status: number | undefined

  constructor(cause: unknown, result: PushResult, code?: PushFailure) {
    super(getErrorMessage(cause), { cause })
    this.name = 'PushError'
    this.result = result
    this.status = cause instanceof GatewayError ? cause.status : undefined
    this.code = cause instanceof GatewayError ? cause.code : (code ?? 'client_error')
  }
}

/** The deploy did not reach a final state in time. */
export class DeployTimeoutError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DeployTimeoutError'
  }
}

/** Longest single `push-status` long-poll the gateway accepts, in seconds. */
const LONG_POLL_MAX_S = 60
// Pauses between status reads only when a gateway answers early without a final state (an
// older gateway that ignores `waitFor`, or one that is shutting down), so we never spin.
const POLL_FIRST_MS = 250
const POLL_MAX_MS = 2000

/**
 * The push flow: init with the digest → upload the required files → complete → (with `wait`)
 * poll until `ready` or `error`. Resolves with the result; throws a `PushError` carrying the
 * partial result when anything fails, including a deploy that ends in `error`.
 */
export async function push(
  client: Pick<
    GatewayClient,
    'init' | 'upload' | 'uploadBatch' | 'chunkStatus' | 'putChunk' | 'complete' | 'status'
  > &
    Partial<Pick<GatewayClient, 'uploadFunction'>>,
  digest: Digest,
  options: PushOptions,
  reporter: Reporter,
): Promise<PushResult> {
  const result: PushResult = {
    filesTotal: digest.count,
    bytesTotal: digest.totalBytes,
    filesUploaded: 0,
    bytesUploaded: 0,
    timings: {},
  }
  const timeoutText = formatMinutes(options.timeoutMs)
  // One deadline for every request of the push; aborting it ends whichever is in flight.
  const deadline = Date.now() + options.timeoutMs
  const abort = new AbortController()
  const timer = setTimeout(
    () => abort.abort(new DeployTimeoutError(`Timed out after ${timeoutText}`)),
    options.timeoutMs,
  )
  const interrupt = options.signal
  if (interrupt?.aborted) abort.abort(interrupt.reason)
  else interrupt?.addEventListener('abort', () => abort.abort(interrupt.reason), { once: true })
  let phase = 'init'
  const progress = (step: PushProgress['phase']) =>
    options.onProgress?.({
      phase: step,
      filesTotal: result.filesTotal,
      bytesTotal: result.bytesTotal,
      filesSent: result.filesUploaded,
      bytesSent: result.bytesUploaded,
      ...(result.pushId ? { pushId: result.pushId } : {}),
      ...(result.filesRequired === undefined ? {} : { filesRequired: result.filesRequired }),
      ...(result.state ? { state: result.state } : {}),
    })
  let failure: PushFailure | undefined
  try {
    progress('init')
    // Step 1: announce the digest; the gateway answers which contents Netlify lacks.
    let started = Date.now()
    const init = await client.init(
      {
        project: options.project,
        files: digest.files,
        sizes: digest.sizes,
        draft: options.draft,
        ...(options.alias ? { alias: options.alias } : {}),
        ...(options.title ? { title: options.title } : {}),
        ...options.functions?.manifest,
      },
      undefined,
      abort.signal,
    )
    result.pushId = init.pushId
    options.onInit?.(init.pushId)
    result.deployId = init.deployId
    result.state = init.state
    result.filesRequired = init.required.length
    if (init.delivery) result.delivery = init.delivery
    result.timings.initMs = Date.now() - started
    const unchanged = digest.count - init.required.length
    reporter.info(
      `Push ${init.pushId} (deploy ${init.deployId}): ${init.required.length} files to upload` +
        (unchanged > 0 ? `, ${unchanged} unchanged or duplicates` : ''),
    )
    if (init.delivery === 'zip') {
      reporter.info(
        'Netlify lacks nearly every file: the gateway deploys this push as one zip archive, so every file goes up once',
      )
    }
    if (init.limits) {
      result.limits = init.limits
      reporter.info(`Budget for ${init.limits.month}: ${formatBudget(init.limits)}`)
    }

    // Step 2: upload each missing content once.
    phase = 'upload'
    started = Date.now()
    progress('upload')
    if (init.required.length > 0) {
      const uploaded = await uploadRequired(client, init.pushId, init.required, digest, {
        concurrency: options.concurrency,
        inlineMaxBytes: init.upload?.inlineMaxBytes,
        chunkBytes: init.upload?.chunkBytes,
        batch: init.upload?.batch,
        log: (line) => reporter.info(line),
        signal: abort.signal,
        onProgress: (files, bytes) => {
          result.filesUploaded = files
          result.bytesUploaded = bytes
          progress('upload')
        },
      })
      result.filesUploaded = uploaded.files
      result.bytesUploaded = uploaded.bytes
      if (uploaded.skipped > 0) {
        reporter.info(`${uploaded.skipped} files were already at the gateway and not sent again`)
      }
    }
    // Then the functions Netlify lacks (function-uploads.ts).
    if (options.functions) {
      const sent = await uploadFunctions(
        client,
        init.pushId,
        init.requiredFunctions ?? [],
        options.functions,
        { concurrency: options.concurrency, signal: abort.signal, log: reporter.info },
      )
      result.functionsTotal = options.functions.zips.size
      result.functionsUploaded = sent.functions
      result.bytesUploaded += sent.bytes
    }
    result.timings.uploadMs = Date.now() - started

    // Step 3: finalize, and wait if asked to.
    phase = 'finalize'
    started = Date.now()
    let heard: PushState | undefined
    try {
      // Each record seen is applied at once, so a timeout still reports the last known state.
      await finalize(
        client,
        init.pushId,
        { ...options, deadline, signal: abort.signal, timeoutText },
        reporter,
        (record) => {
          const first = heard === undefined
          heard = record.state
          const before = result.state
          applyRecord(result, record)
          if (first || record.state !== before) progress('finalize')
        },
      )
    } finally {
      result.timings.finalizeMs = Date.now() - started
    }
    if (result.state === 'error') {
      failure = 'deploy_failed'
      throw new Error(`Netlify could not deploy: ${result.errorMessage ?? 'no reason given'}`)
    }
    if (result.state === 'cancelled' || result.state === 'expired') {
      failure = result.state
      throw new Error(`The push was ${result.state}: ${result.errorMessage ?? 'no reason given'}`)
    }
    if (result.state === 'ready') {
      reporter.info(`Deploy ready: ${result.deployUrl ?? '(no URL)'}`)
      if (result.costCents !== undefined) reporter.info(`Cost: ${formatCents(result.costCents)}`)
    } else {
      reporter.info(`Deploy queued (state ${result.state}); not waiting for it`)
    }
    return result
  } catch (error) {
    if (abort.signal.aborted && abort.signal.reason instanceof DeployTimeoutError) {
      const where =
        phase === 'upload'
          ? `while uploading (${result.filesRequired ?? 0} files to send)`
          : phase === 'finalize'
            ? `waiting for the deploy (state: ${result.state ?? 'unknown'})`
            : 'before the gateway answered push-init'
      const pushId = result.pushId ? `; push id ${result.pushId}` : ''
      throw new PushError(
        new DeployTimeoutError(
          `The push did not finish within ${timeoutText}, ${where}. It may still finish${pushId}`,
        ),
        result,
        'timeout',
      )
    }
    throw new PushError(error, result, interrupt?.aborted ? 'cancelled' : failure)
  } finally {
    clearTimeout(timer)
  }
}

interface FinalizeOptions extends PushOptions {
  deadline: number
  signal: AbortSignal
  timeoutText: string
}

async function finalize(
  client: Pick<GatewayClient, 'complete' | 'status'>,
  pushId: string,
  options: FinalizeOptions,
  reporter: Reporter,
  onRecord: (record: PushRecord) => void,
): Promise<void> {
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)))
  const { deadline, signal, timeoutText } = options
  let record: PushRecord
  try {
    // Never held open: the wait below is a long-poll of push-status, which is safe to retry.
    record = await client.complete(pushId, false, signal)
  } catch (error) {
    // A retried complete whose first attempt got through finds the push already finalizing.
    if (!(error instanceof GatewayError && error.code === ErrorCode.InvalidState)) throw error
    reporter.debug(`push-complete answered invalid_state; reading the status instead`)
    record = await client.status(pushId, signal)
  }
  onRecord(record)
  if (!options.wait) return

  let pause = POLL_FIRST_MS
  let seen = describe(record)
  reporter.info(`Deploy state: ${seen}`)
  while (!isFinalState(record.state)) {
    const left = deadline - Date.now()
    if (left <= 0) {
      throw new DeployTimeoutError(
        `The push did not finish within ${timeoutText}, waiting for the deploy (state: ${seen}). ` +
          `It may still finish; push id ${pushId}`,
      )
    }
    // The gateway answers the moment the deploy is final, so "ready" is learnt without delay.
    const waitS = Math.max(1, Math.min(LONG_POLL_MAX_S, Math.floor(left / 1000)))
    const asked = Date.now()
    record = await client.status(pushId, signal, waitS)
    onRecord(record)
    const now = describe(record)
    if (now !== seen) reporter.info(`Deploy state: ${now}`)
    seen = now
    if (!isFinalState(record.state) && Date.now() - asked < waitS * 500) {
      await sleep(Math.min(pause, Math.max(0, deadline - Date.now())))
      pause = Math.min(POLL_MAX_MS, Math.round(pause * 1.5))
    }
  }
}

function applyRecord(result: PushResult, record: PushRecord): void {
  result.state = record.state
  result.deployId = record.deployId || result.deployId
  result.deployUrl = record.deploy_ssl_url ?? undefined
  result.siteUrl = record.site_url ?? record.ssl_url ?? undefined
  const siteName = record.project?.siteName
  // Both parts are checked (kaixu-contract answers.ts: a DNS label, an id), so the URL needs no escaping.
  if (siteName && result.deployId) {
    result.deployLogUrl = `https://app.netlify.com/sites/${siteName}/deploys/${result.deployId}`
  }
  result.errorMessage = record.error_message ?? undefined
  result.costCents = record.costCents ?? undefined
  if (record.delivery) result.delivery = record.delivery
}

function describe(record: PushRecord): string {
  return record.netlifyState ? `${record.state} (Netlify: ${record.netlifyState})` : record.state
}

function formatMinutes(ms: number): string {
  const minutes = ms / 60_000
  return `${Number.isInteger(minutes) ? minutes : minutes.toFixed(1)} min`
}
