import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import * as repo from '../db/pushes-repo.ts'
import { AppError, ERRORS } from '../errors.ts'
import {
  BatchFormatError,
  ByteReader,
  batchBodyBytes,
  readBatchTable,
  type BatchEntry,
} from 'kaixu-contract'
import { NetlifyApiError } from '../netlify/client.ts'
import { retryAfterMs, toAppError } from '../netlify/errors.ts'
import { backoff, retry } from '../lib/retry.ts'
import type { Caller, PushContext, PushServiceDeps } from './push-context.ts'

/** Files read ahead of Netlify per request: enough to keep its upload slots busy, no more. */
const AHEAD_FILES = 16
const AHEAD_BYTES = 8 * 1024 * 1024
/** Files of a zip push kept per statement (they wait for the archive; zip-deploys.ts). */
const KEEP_FILES = 64
/** Each file of a batch is in memory, so a transient Netlify failure is retried here. */
const SEND_ATTEMPTS = 3
const LONGEST_RETRY_WAIT_MS = 10_000

/** What became of one file of a batch. */
export interface BatchFileResult {
  sha1: string
  bytes: number
  /** The gateway already had it (or it was not required): nothing was sent to Netlify. */
  skipped: boolean
}

/**
 * `POST /v1/push-upload-batch`: many small files in one request (see kaixu-contract's batch-frames.ts). The
 * table of files is checked whole (known SHA-1s, sizes, the byte cap) before any content is read;
 * then each file is read, verified against its SHA-1 in memory (it is small), and handed to
 * Netlify while the next ones arrive. Read-ahead is bounded, so a request holds a few MiB however
 * large the batch is. Files that made it are kept whatever happens to the rest.
 */
export function createBatchUploads(deps: PushServiceDeps, ctx: PushContext) {
  const { db, netlify, config, logger, metering } = deps
  const limits = config.batch

  async function send(token: string, deployId: string, path: string, content: Uint8Array) {
    // A view, not a copy: a Node stream of the same bytes.
    const bytes = Buffer.from(content.buffer, content.byteOffset, content.byteLength)
    // The file is in memory, so a transient failure can be sent again from the same bytes.
    await retry(
      () =>
        netlify.uploadFile(
          token,
          deployId,
          path,
          Readable.from(bytes.length ? [bytes] : []),
          bytes.length,
        ),
      {
        attempts: SEND_ATTEMPTS,
        shouldRetry: (error) => error instanceof NetlifyApiError && error.transient,
        backoffMs: backoff({ firstMs: 250 }),
        serverWaitMs: retryAfterMs,
        maxServerWaitMs: LONGEST_RETRY_WAIT_MS,
      },
    )
  }

  /** Checks the table against the push; answers each entry's target (all exist). */
  async function targetsOf(pushId: string, entries: BatchEntry[], contentLength?: number) {
    if (contentLength !== undefined && contentLength !== batchBodyBytes(entries)) {
      throw ERRORS.invalidRequest(
        `Content-Length is ${contentLength}, but the table of files adds up to ${batchBodyBytes(entries)} bytes.`,
      )
    }
    const tooBig = entries.find((e) => e.size > limits.fileMaxBytes)
    if (tooBig) {
      throw ERRORS.payloadTooLarge(
        `A file in a batch may be at most ${limits.fileMaxBytes} bytes; send ${tooBig.sha1} (${tooBig.size} bytes) with push-upload.`,
        { sha1: tooBig.sha1, fileMaxBytes: limits.fileMaxBytes },
      )
    }
    const total = entries.reduce((n, e) => n + e.size, 0)
    if (total > limits.maxBytes) {
      throw ERRORS.payloadTooLarge(
        `A batch may carry at most ${limits.maxBytes} bytes of files, not ${total}.`,
        { maxBytes: limits.maxBytes },
      )
    }
    const targets = await repo.findUploadTargets(
      db,
      pushId,
      entries.map((e) => e.sha1),
    )
    for (const entry of entries) {
      const target = targets.get(entry.sha1)
      if (!target) throw ERRORS.shaNotInPush(entry.sha1)
      if (target.reserved_bytes !== null && target.reserved_bytes !== entry.size) {
        throw ERRORS.invalidRequest(
          `The batch gives ${entry.sha1} ${entry.size} bytes; the manifest said ${target.reserved_bytes}.`,
          { sha1: entry.sha1, size: entry.size, manifestSize: target.reserved_bytes },
        )
      }
    }
    return targets
  }

  return {
    async upload(
      caller: Caller,
      pushId: string,
      body: AsyncIterable<Buffer>,
      contentLength?: number,
    ) {
      const push = await ctx.openForUpload(caller, pushId)
      const reader = new ByteReader(body)
      let entries: BatchEntry[]
      try {
        entries = await readBatchTable(reader, limits.maxFiles)
      } catch (error) {
        throw asRequestError(error)
      }
      const targets = await targetsOf(pushId, entries, contentLength)
      const wanted = entries.filter((e) => {
        const target = targets.get(e.sha1)!
        return target.required && !target.uploaded
      })

      // Every file to send holds its byte reservation (sizes the manifest did not give are
      // reserved now), all in one transaction: 402 before any byte is read when the batch would
      // pass the month's byte cap, and no racing upload can give back what this one sends under.
      const pathOf = (e: BatchEntry) => targets.get(e.sha1)!.path
      const toHold = [...new Map(wanted.map((e) => [pathOf(e), e.size]))].map(([path, bytes]) => ({
        path,
        bytes,
      }))
      const held = toHold.length
        ? await db.transaction(async (tx) => {
            const holds = await repo.holdPathsBytes(tx, pushId, toHold)
            const differs = wanted.find((e) => (holds.get(pathOf(e))?.size ?? e.size) !== e.size)
            if (differs) {
              throw ERRORS.invalidRequest(
                `The batch gives ${differs.sha1} ${differs.size} bytes; ${holds.get(pathOf(differs))!.size} are reserved for it (its manifest size or a concurrent upload's).`,
                { sha1: differs.sha1, size: differs.size },
              )
            }
            const bytes = [...holds.values()].filter((h) => h.fresh).reduce((n, h) => n + h.size, 0)
            await metering.reserveBytes(tx, push.customer_id, push.billing_month, bytes)
            if (bytes > 0) await repo.addBytesReserved(tx, pushId, bytes)
            return new Set(holds.keys())
          })
        : new Set<string>()

      // A file uploaded by another request meanwhile is not sent again.
      const sending = new Set(wanted.filter((e) => held.has(pathOf(e))).map((e) => e.sha1))
      const sent: { sha1: string; bytes: number }[] = []
      const failed: { sha1: string; error: unknown }[] = []
      const inFlight = new Set<Promise<void>>()
      let aheadBytes = 0
      let readError: AppError | undefined
      // A zip push keeps its files for the archive instead of sending them: a bounded group at
      // a time, one statement each, so a batch of 500 files is a few writes, not 500.
      const zipping = push.zip_state === 'staging'
      const keeping: { sha1: string; bytes: Buffer }[] = []
      let keepingBytes = 0
      const keep = async () => {
        const group = keeping.splice(0)
        keepingBytes = 0
        if (!group.length) return
        try {
          await ctx.staging.keep(db, pushId, group)
          for (const f of group) sent.push({ sha1: f.sha1, bytes: f.bytes.length })
        } catch (error) {
          for (const f of group) failed.push({ sha1: f.sha1, error })
        }
      }
      try {
        const token = await ctx.netlifyToken(caller.customerId, push)
        for (const entry of entries) {
          while (
            inFlight.size >= AHEAD_FILES ||
            (inFlight.size > 0 && aheadBytes + entry.size > AHEAD_BYTES)
          ) {
            await Promise.race(inFlight)
          }
          const bytes = await reader.read(entry.size, `the bytes of ${entry.sha1}`)
          if (!sending.has(entry.sha1)) continue
          const actual = createHash('sha1').update(bytes).digest('hex')
          if (actual !== entry.sha1) {
            // Caught before it left: Netlify never sees a byte of a wrong file.
            failed.push({ sha1: entry.sha1, error: ERRORS.shaMismatch(entry.sha1, actual) })
            continue
          }
          if (zipping) {
            keeping.push({
              sha1: entry.sha1,
              bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
            })
            keepingBytes += bytes.length
            if (keeping.length >= KEEP_FILES || keepingBytes >= AHEAD_BYTES) await keep()
            continue
          }
          aheadBytes += bytes.length
          const task: Promise<void> = send(
            token,
            push.deploy_id!,
            targets.get(entry.sha1)!.path,
            bytes,
          )
            .then(
              () => void sent.push({ sha1: entry.sha1, bytes: bytes.length }),
              (error: unknown) => void failed.push({ sha1: entry.sha1, error }),
            )
            .finally(() => {
              aheadBytes -= bytes.length
              inFlight.delete(task)
            })
          inFlight.add(task)
        }
        if (!(await reader.atEnd())) {
          throw new BatchFormatError('The body goes on after the last file of the table.')
        }
      } catch (error) {
        readError = asRequestError(error)
      }
      await keep()
      await Promise.all(inFlight)

      // Keep what made it, give back what did not, in one transaction each.
      const sentShas = new Set(sent.map((s) => s.sha1))
      const unsent = [
        ...new Set(wanted.filter((e) => !sentShas.has(e.sha1) && held.has(pathOf(e))).map(pathOf)),
      ]
      if (unsent.length) {
        await db.transaction(async (tx) => {
          const bytes = await repo.releasePathsBytes(tx, pushId, unsent)
          if (bytes > 0) {
            await metering.unreserve(tx, push.customer_id, push.billing_month, {
              deploys: 0,
              bytes,
            })
          }
        })
      }
      const bytes = sent.reduce((n, s) => n + s.bytes, 0)
      // A failure nobody foresaw is a bug: it is thrown as it is (a logged 500) once the rest is kept.
      const bug = failed.find(
        (f) => !(f.error instanceof AppError || f.error instanceof NetlifyApiError),
      )
      const failure =
        readError ?? firstFailure(failed.filter((f) => f !== bug)) ?? (bug && ERRORS.internal())
      await db.transaction(async (tx) => {
        if (sent.length) {
          await repo.markUploadedMany(tx, pushId, sent)
          await ctx.noteActivity(tx, pushId)
        }
        await ctx.audit(
          {
            ...ctx.callerAudit(caller),
            action: 'push.upload-batch',
            status: failure ? 'error' : 'ok',
            projectId: push.project_id,
            pushId,
            bytes,
            details: {
              files: entries.length,
              uploaded: sent.length,
              skipped: entries.length - sending.size,
              ...(failure ? { code: failure.code, failed: failed.map((f) => f.sha1) } : {}),
            },
          },
          tx,
        )
      })
      if (bug) throw bug.error
      if (failure) {
        // Netlify refusing for good (a revoked token, a cancelled deploy) dooms the push.
        const fatal = failed.find((f) => f.error instanceof NetlifyApiError && !f.error.transient)
        if (fatal) await ctx.failPush(push, failure.message)
        logger.debug({ pushId, failed: failed.length, code: failure.code }, 'batch upload failed')
        throw failure.withDetails({
          uploaded: sent.map((s) => s.sha1),
          failed: failed.map((f) => ({ sha1: f.sha1, code: toBatchError(f.error).code })),
        })
      }
      const results: BatchFileResult[] = entries.map((e) => ({
        sha1: e.sha1,
        bytes: sentShas.has(e.sha1) ? e.size : 0,
        skipped: !sending.has(e.sha1),
      }))
      return {
        files: results,
        uploaded: sent.length,
        skipped: entries.length - sending.size,
        bytes,
      }
    },
  }
}

export type BatchUploads = ReturnType<typeof createBatchUploads>

function toBatchError(error: unknown): AppError {
  return error instanceof AppError
    ? error
    : error instanceof NetlifyApiError
      ? toAppError(error)
      : ERRORS.internal()
}

/** The failure that says most: Netlify refusing for good, then a wrong file, then a retryable one. */
function firstFailure(failed: { error: unknown }[]): AppError | undefined {
  const errors = failed.map((f) => toBatchError(f.error))
  return (
    errors.find((e) => e.status === 502 || e.status === 412) ??
    errors.find((e) => e.status === 422) ??
    errors[0]
  )
}

function asRequestError(error: unknown): AppError {
  if (error instanceof AppError) return error
  if (error instanceof BatchFormatError) return ERRORS.invalidRequest(error.message, error.details)
  // The client went away or the connection broke mid-body: nothing more can be read.
  return ERRORS.invalidRequest(`The request body could not be read: ${(error as Error).message}`)
}
