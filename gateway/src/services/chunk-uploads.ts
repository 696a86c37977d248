import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { AGAIN, poll } from '../lib/poll.ts'
import * as chunks from '../db/chunks-repo.ts'
import * as repo from '../db/pushes-repo.ts'
import { ERRORS } from '../errors.ts'
import { sha1Gate, type DigestGate } from '../lib/digest-gate.ts'
import { NetlifyApiError } from '../netlify/client.ts'
import { retryAfterMs } from '../netlify/errors.ts'
import { backoff, retry } from '../lib/retry.ts'
import { assembleFile } from '../jobs/assemble-file.ts'
import { ChunkTooLargeError, type ChunkStore, type StagedChunk } from './chunk-store.ts'
import type { Caller, PushContext, PushServiceDeps } from './push-context.ts'

export interface ChunkHeaders {
  sha1: string
  index: number
  count: number
  chunkSha1: string
  contentLength?: number | undefined
  /** The whole file's size, needed only when the manifest did not give it. */
  fileSize?: number | undefined
}

/** Attempts at sending an assembled file to Netlify within one job run (the job retries too). */
const SEND_ATTEMPTS = 4

export interface ChunkUploadTuning {
  /**
   * How long a streaming assembly waits for the next chunk before it gives up (and leaves the
   * file to the assembly queued when the last chunk lands): a slow or abandoned client must not
   * hold a Netlify upload open. Measured on `deps.clock`.
   */
  stallMs: number
  /** How long a lease to send a file lasts unless renewed (a dead process's lapses then). */
  leaseMs: number
}

export const DEFAULT_TUNING: ChunkUploadTuning = { stallMs: 30_000, leaseMs: 15_000 }

/** A streaming attempt stopped waiting for the client; the stored-chunk path takes over. */
class StreamStalledError extends Error {
  override name = 'StreamStalledError'
}

/** The stored chunks do not add up to the file's size: sending them again cannot help. */
class ChunkBytesMismatchError extends Error {
  override name = 'ChunkBytesMismatchError'
}

/** The longest wait between two sends of an assembled file inside one job run. */
const LONGEST_INLINE_RETRY_MS = 2_000

/** When the assembly job should run again, and for whom (the job re-queues itself). */
export interface AssemblyRecheck {
  afterSeconds: number
  customerId: string
}

/**
 * Large files in chunks: each chunk is verified and stored (idempotently per index). The first
 * chunk queues a job that streams the chunks in order through SHA-1 to Netlify as they arrive,
 * so sending overlaps receiving; if that attempt stalls or fails, the job queued when the last
 * chunk lands sends the stored chunks instead. A lease on the upload row keeps the two (and any
 * other gateway process) from sending one file at once. Memory stays one chunk deep whatever
 * the file size, and stored chunks survive restarts until their retention ends.
 */
export function createChunkUploads(
  deps: PushServiceDeps,
  ctx: PushContext,
  store: ChunkStore,
  tuning: ChunkUploadTuning = DEFAULT_TUNING,
) {
  const { db, netlify, config, logger, clock } = deps

  // Wakes a streaming assembly in this process as soon as its next chunk is stored here; one in
  // another process (Postgres) finds it by polling.
  const arrivals = new Map<string, Set<() => void>>()
  const uploadKey = (pushId: string, sha1: string) => `${pushId}:${sha1}`
  function chunkArrived(pushId: string, sha1: string) {
    const waiters = arrivals.get(uploadKey(pushId, sha1))
    if (!waiters) return
    arrivals.delete(uploadKey(pushId, sha1))
    for (const wake of waiters) wake()
  }
  function nextArrival(pushId: string, sha1: string, ms: number) {
    return new Promise<void>((resolve) => {
      const key = uploadKey(pushId, sha1)
      const waiters = arrivals.get(key) ?? new Set()
      arrivals.set(key, waiters)
      const wake = () => {
        clearTimeout(timer)
        waiters.delete(wake)
        if (waiters.size === 0 && arrivals.get(key) === waiters) arrivals.delete(key)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      waiters.add(wake)
    })
  }

  /**
   * Receives a chunk body (streamed to a file, or into memory up to chunkBytes on Postgres) and
   * checks it against X-Chunk-Sha1 before anything is kept.
   */
  async function receive(pushId: string, sha1: string, body: Readable, expectedSha1: string) {
    let staged: StagedChunk
    try {
      staged = await store.stage(pushId, sha1, body, config.chunkBytes)
    } catch (error) {
      if (error instanceof ChunkTooLargeError) {
        throw ERRORS.payloadTooLarge(`A chunk may be at most ${config.chunkBytes} bytes.`, {
          chunkBytes: config.chunkBytes,
        })
      }
      throw error
    }
    if (staged.size === 0) {
      await staged.discard()
      throw ERRORS.invalidRequest('A chunk may not be empty.')
    }
    if (staged.sha1 !== expectedSha1) {
      await staged.discard()
      throw ERRORS.chunkShaMismatch(expectedSha1, staged.sha1)
    }
    return staged
  }

  function view(status: chunks.ChunkStatus) {
    const received = new Set(status.received)
    return {
      sha1: status.sha1,
      path: status.path,
      state: status.state,
      chunkCount: status.chunk_count,
      fileSize: status.file_size,
      received: status.received,
      missing: Array.from({ length: status.chunk_count }, (_, i) => i).filter(
        (i) => !received.has(i),
      ),
      bytesReceived: status.bytes_received,
      expiresAt: status.expires_at,
      error: status.error,
    }
  }

  /**
   * Streams an upload's chunks in index order, reading one at a time. With `waitForChunks`, a
   * chunk not stored yet is waited for (woken by its arrival here, else polled), up to
   * `tuning.stallMs` per chunk; without, a missing chunk is an error.
   */
  function chunkStream(upload: chunks.ChunkUploadRow, waitForChunks = false): Readable {
    const { push_id: pushId, sha1 } = upload
    return Readable.from(
      (async function* () {
        let bytes = 0
        for (let i = 0; i < upload.chunk_count; i++) {
          let row = await chunks.readChunk(db, pushId, sha1, i)
          const waitingSince = clock.now().getTime()
          if (!row && waitForChunks) {
            row = await poll(
              async ({ round }) => {
                const found = round > 1 && (await chunks.readChunk(db, pushId, sha1, i))
                if (found) return found
                if (clock.now().getTime() - waitingSince > tuning.stallMs) {
                  throw new StreamStalledError(`no chunk ${i} of ${sha1} for ${tuning.stallMs} ms`)
                }
                return AGAIN
              },
              // Woken early by the chunk's arrival in this process; polled for other processes.
              { firstDelayMs: 5, maxDelayMs: 250, wait: (ms) => nextArrival(pushId, sha1, ms) },
            )
          }
          if (!row) throw new Error(`chunk ${i} of ${sha1} is missing`)
          if (row.data) {
            bytes += row.data.byteLength
            yield Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength)
          } else {
            for await (const piece of store.open(pushId, sha1, i, row.chunk_sha1)) {
              bytes += (piece as Buffer).length
              yield piece as Buffer
            }
          }
        }
        // Netlify was told the file's size: a shorter body would leave it waiting for the rest.
        if (bytes !== upload.file_size) {
          throw new ChunkBytesMismatchError(
            `The chunks of ${sha1} add up to ${bytes} bytes, not the declared ${upload.file_size}.`,
          )
        }
      })(),
      { objectMode: false },
    )
  }

  /**
   * Keeps a lease alive while `work` runs; `lost` is aborted if it cannot be renewed (the
   * upload left `states`, or the lease lapsed and someone else took it).
   */
  async function whileLeased<T>(
    upload: chunks.ChunkUploadRow,
    owner: string,
    states: chunks.ChunkUploadState[],
    work: (lost: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const lost = new AbortController()
    const renew = setInterval(() => {
      chunks
        .takeAssemblyLease(db, upload.push_id, upload.sha1, owner, states, tuning.leaseMs)
        .then((row) => {
          if (!row) lost.abort(new Error('the assembly lease was lost'))
        })
        .catch((error: unknown) => logger.warn({ err: error }, 'renewing an assembly lease failed'))
    }, tuning.leaseMs / 3)
    try {
      return await work(lost.signal)
    } finally {
      clearInterval(renew)
      await chunks.releaseAssemblyLease(db, upload.push_id, upload.sha1, owner)
    }
  }

  /**
   * Pipes the chunks through `gate` into one Netlify PUT of the file. With `receiving`, chunks
   * not stored yet are waited for, and the send stops when that signal aborts (the lease is lost).
   */
  async function sendThrough(
    gate: DigestGate,
    token: string,
    deployId: string,
    upload: chunks.ChunkUploadRow,
    receiving?: AbortSignal,
  ) {
    const source = chunkStream(upload, receiving !== undefined)
    const stop = () => source.destroy(receiving!.reason as Error)
    receiving?.addEventListener('abort', stop, { once: true })
    source.on('error', (error) => gate.destroy(error))
    source.pipe(gate)
    try {
      await netlify.uploadFile(token, deployId, upload.path, gate, upload.file_size)
    } finally {
      receiving?.removeEventListener('abort', stop)
      source.destroy()
    }
  }

  /** Records a file sent whole and verified: uploaded, its chunks dropped. */
  async function markAssembled(push: repo.PushRow, pushId: string, sha1: string, bytes: number) {
    await db.transaction(async (tx) => {
      // A streamed file can be through before the last chunk's request has moved the upload on.
      if (
        !(await chunks.transitionChunkUpload(
          tx,
          pushId,
          sha1,
          ['receiving', 'assembling'],
          'uploaded',
        ))
      )
        return
      await repo.markUploaded(tx, pushId, sha1, bytes)
      await chunks.deleteChunks(tx, pushId, sha1)
      await store.remove(pushId, sha1)
      await ctx.audit(
        {
          action: 'push.assemble',
          status: 'ok',
          customerId: push.customer_id,
          projectId: push.project_id,
          pushId,
          bytes,
          details: { sha1 },
        },
        tx,
      )
    })
  }

  /**
   * One attempt at sending a file while its chunks are still arriving. It never fails the upload
   * or the push: whatever goes wrong (a stall, Netlify, a bad whole-file SHA-1) ends the attempt,
   * and the assembly of the stored chunks decides, with its retries and its verdicts.
   */
  async function streamWhileReceiving(pushId: string, sha1: string, owner: string) {
    const upload = await chunks.takeAssemblyLease(
      db,
      pushId,
      sha1,
      owner,
      ['receiving'],
      tuning.leaseMs,
    )
    if (!upload) return
    await whileLeased(upload, owner, ['receiving', 'assembling'], async (lost) => {
      const gate = sha1Gate(sha1, upload.file_size)
      try {
        const push = await repo.findPushById(db, pushId)
        if (!push || push.state !== 'uploading' || !push.deploy_id) return
        const token = await ctx.netlifyToken(push.customer_id, push)
        await sendThrough(gate, token, push.deploy_id, upload, lost)
        await markAssembled(push, pushId, sha1, gate.bytes)
      } catch (error) {
        logger.info(
          { err: error, pushId, sha1, bytesSent: gate.bytes },
          'streaming a chunked file gave up; it is sent once all chunks are stored',
        )
      }
    })
  }

  /**
   * Sends the stored chunks through SHA-1 to Netlify. A transient Netlify failure is retried
   * here a few times with short waits (the chunks can be read again); a longer wait (a
   * Retry-After) is answered as a recheck, so the job re-queues itself instead of holding its
   * worker, and after `config.jobs.attempts` rechecks the job fails into pg-boss's retries. A
   * permanent failure, a whole-file SHA-1 mismatch or chunks that do not add up to the file's
   * size fail the upload with the reason, once.
   */
  async function assembleStored(
    push: repo.PushRow,
    upload: chunks.ChunkUploadRow,
    round: number,
  ): Promise<AssemblyRecheck | undefined> {
    const { push_id: pushId, sha1 } = upload
    const token = await ctx.netlifyToken(push.customer_id, push)
    const backoffMs = backoff({ firstMs: 500 })
    let attempts = 0
    // The failure worth sending again; anything else (failing the upload itself) propagates.
    let transient: unknown
    let bytes: number | undefined
    try {
      // The chunks can be read again, so a transient failure is sent again, from the start.
      bytes = await retry(
        async (attempt) => {
          attempts = attempt
          const gate = sha1Gate(sha1, upload.file_size)
          try {
            await sendThrough(gate, token, push.deploy_id!, upload)
            return gate.bytes
          } catch (error) {
            if (gate.mismatched || gate.bytes > upload.file_size) {
              await failUpload(
                push,
                upload,
                `The assembled file's SHA-1 is ${gate.actual ?? 'different'}, not ${sha1}.`,
                false,
              )
              return undefined
            }
            if (gate.errored instanceof ChunkBytesMismatchError) {
              await failUpload(push, upload, gate.errored.message, false)
              return undefined
            }
            if (error instanceof NetlifyApiError && !error.transient) {
              await failUpload(
                push,
                upload,
                `Netlify answered ${error.status}: ${error.message}`,
                true,
              )
              return undefined
            }
            logger.warn(
              { err: error, pushId, sha1, attempt, round },
              'sending an assembled file failed; retrying',
            )
            transient = error
            throw error
          }
        },
        {
          attempts: SEND_ATTEMPTS,
          shouldRetry: (error) => error === transient,
          backoffMs,
          serverWaitMs: retryAfterMs,
          maxServerWaitMs: LONGEST_INLINE_RETRY_MS,
        },
      )
    } catch (error) {
      // Out of quick retries: a longer wait is a recheck (the job re-queues itself) instead.
      if (error !== transient || round + 1 >= config.jobs.attempts) throw error
      const waitMs = retryAfterMs(error) ?? backoffMs(attempts)
      return { afterSeconds: Math.max(1, waitMs / 1000), customerId: push.customer_id }
    }
    if (bytes !== undefined) await markAssembled(push, pushId, sha1, bytes)
    return undefined
  }

  /**
   * An upload whose push can no longer take files (failed, cancelled, expired, done) can never
   * finish: it ends `expired` and its chunk bytes go now, not at the end of their retention.
   */
  async function expireOrphan(upload: chunks.ChunkUploadRow) {
    await db.transaction(async (tx) => {
      if (
        !(await chunks.transitionChunkUpload(
          tx,
          upload.push_id,
          upload.sha1,
          ['receiving', 'assembling'],
          'expired',
          'the push no longer takes files',
        ))
      )
        return
      await chunks.deleteChunks(tx, upload.push_id, upload.sha1)
      await store.remove(upload.push_id, upload.sha1)
    })
  }

  return {
    /** Stores one chunk. Re-sending a stored chunk is a no-op; a different body there is 409. */
    async put(caller: Caller, pushId: string, h: ChunkHeaders, body: Readable) {
      const push = await ctx.openForUpload(caller, pushId)
      // A zip push was chosen because every file fits one request (zip-deploys.ts); its files
      // wait for the archive, and chunks would be assembled straight to Netlify instead.
      if (push.zip_state) {
        throw ERRORS.invalidRequest(
          'This push goes to Netlify as one zip archive: send its files with push-upload or push-upload-batch.',
        )
      }
      if (h.index >= h.count) {
        throw ERRORS.invalidRequest(
          `X-Chunk-Index ${h.index} is not below X-Chunk-Count ${h.count}.`,
        )
      }
      if (h.contentLength !== undefined && h.contentLength > config.chunkBytes) {
        throw ERRORS.payloadTooLarge(`A chunk may be at most ${config.chunkBytes} bytes.`, {
          chunkBytes: config.chunkBytes,
        })
      }
      const target = await repo.findUploadTarget(db, pushId, h.sha1)
      if (!target) throw ERRORS.shaNotInPush(h.sha1)
      if (!target.required || target.uploaded) {
        return { sha1: h.sha1, index: h.index, stored: false, skipped: true }
      }
      const staged = await receive(pushId, h.sha1, body, h.chunkSha1)
      // Claims no set of chunks could meet are refused before anything is reserved or kept.
      const claimed = h.fileSize ?? target.reserved_bytes
      if (
        claimed !== null &&
        (claimed > config.maxFileBytes || claimed > h.count * config.chunkBytes)
      ) {
        await staged.discard()
        throw ERRORS.invalidRequest(
          `A ${claimed}-byte file cannot come in ${h.count} chunks of at most ${config.chunkBytes} bytes (and no file may exceed ${config.maxFileBytes} bytes).`,
          { fileSize: claimed, chunkCount: h.count, chunkBytes: config.chunkBytes },
        )
      }
      // The chunked upload holds the file's byte reservation (reserving it if needed) from its
      // first chunk on: a failed inline upload of the same SHA-1 then cannot give it back while
      // the chunks still need it. Every chunk takes a hold; only the one that opens the upload
      // keeps it, so a refused chunk changes nothing.
      const reserved = await ctx.reserveUpload(push, target, h.fileSize).catch(async (error) => {
        await staged.discard()
        throw error
      })
      if (!reserved) {
        await staged.discard()
        return { sha1: h.sha1, index: h.index, stored: false, skipped: true }
      }
      const { size } = reserved
      let opened = false
      try {
        const opening = {
          pushId,
          sha1: h.sha1,
          path: target.path,
          chunkCount: h.count,
          fileSize: size,
          retentionHours: config.chunkRetentionHours,
        }
        try {
          // Out-of-row bytes are put in place first (under a content-addressed name), then recorded.
          await staged.commit(h.index)
        } catch (error) {
          await staged.discard()
          throw error
        }
        // Set once this request's chunk row is in: if the transaction then fails, its bytes go too.
        let insertedHere = false
        const result = await db
          .transaction(async (tx) => {
            let upload = await chunks.openChunkUpload(tx, opening)
            if (upload.state === 'failed' || upload.state === 'expired') {
              // A failed or expired upload of this file starts over from its first chunk.
              await chunks.deleteChunkUpload(tx, pushId, h.sha1)
              upload = await chunks.openChunkUpload(tx, opening)
            }
            if (upload.chunk_count !== h.count || upload.file_size !== size) {
              throw ERRORS.conflict(
                `This upload was opened with ${upload.chunk_count} chunks of a ${upload.file_size}-byte file.`,
              )
            }
            const inserted = await chunks.insertChunk(tx, {
              pushId,
              sha1: h.sha1,
              idx: h.index,
              chunkSha1: h.chunkSha1,
              size: staged.size,
              data: staged.data,
            })
            if (!inserted.stored) {
              if (inserted.existingSha1 !== h.chunkSha1) {
                await store.remove(pushId, h.sha1, { idx: h.index, chunkSha1: h.chunkSha1 })
                throw ERRORS.chunkConflict(h.index, inserted.existingSha1)
              }
              return { stored: false, complete: upload.state !== 'receiving', opened: false }
            }
            insertedHere = true
            const totals = await chunks.chunkTotals(tx, pushId, h.sha1)
            const complete = totals.count === upload.chunk_count
            // Chunks must add up to exactly the declared size: a short file would otherwise reach
            // assembly, where Netlify waits for bytes that never come.
            if (
              totals.bytes > upload.file_size ||
              (complete && totals.bytes !== upload.file_size)
            ) {
              throw ERRORS.invalidRequest(
                `The chunks add up to ${totals.bytes} bytes, not the file's ${upload.file_size}; this chunk was not stored.`,
                { declaredBytes: upload.file_size, receivedBytes: totals.bytes, index: h.index },
              )
            }
            const queueAssembly = () =>
              assembleFile.send(
                deps.queue(),
                { pushId, sha1: h.sha1 },
                { tx, customerId: push.customer_id },
              )
            // The first chunk of a file starts sending it while the rest arrive (the same job as
            // assembly: it streams while the upload is receiving, assembles once it is complete).
            if (upload.created && !complete) await queueAssembly()
            if (
              complete &&
              (await chunks.transitionChunkUpload(tx, pushId, h.sha1, ['receiving'], 'assembling'))
            ) {
              await queueAssembly()
            }
            await ctx.noteActivity(tx, pushId)
            await ctx.audit(
              {
                ...ctx.callerAudit(caller),
                action: 'push.chunk',
                status: 'ok',
                projectId: push.project_id,
                pushId,
                bytes: staged.size,
                details: { sha1: h.sha1, index: h.index, count: h.count },
              },
              tx,
            )
            return { stored: true, complete, opened: upload.created }
          })
          .catch(async (error: unknown) => {
            if (insertedHere) {
              await store.remove(pushId, h.sha1, { idx: h.index, chunkSha1: h.chunkSha1 })
            }
            throw error
          })
        opened = result.opened === true
        if (result.stored) chunkArrived(pushId, h.sha1)
        return {
          sha1: h.sha1,
          index: h.index,
          skipped: false,
          stored: result.stored,
          complete: result.complete,
        }
      } finally {
        if (!opened) await ctx.releaseUpload(push, target.path)
      }
    },

    /**
     * Drops the chunks of uploads whose retention has passed, and of uploads whose push can no
     * longer take them, whatever their state (the cleanup job).
     */
    async expire(now: Date) {
      const expired = await db.transaction((tx) => chunks.expireChunkUploads(tx, now))
      for (const u of expired) await store.remove(u.push_id, u.sha1)
      return expired.length
    },

    /** Which chunks of a file are in, which are missing, and until when they are kept. */
    async status(caller: Caller, pushId: string, sha1: string) {
      await ctx.loadPush(caller, pushId)
      const status = await chunks.chunkStatus(db, pushId, sha1)
      if (!status) throw ERRORS.notFound(`Chunked upload of ${sha1}`)
      return view(status)
    },

    /**
     * The assembly job, queued by a file's first chunk and again by its last. While the upload
     * is receiving it streams the chunks to Netlify as they arrive; once complete it sends the
     * stored chunks, after any attempt still holding the lease is done. Idempotent by row state.
     * Answers a recheck when it should run again later (`round` counts them): the job re-queues
     * itself rather than wait in its worker.
     */
    async assemble(pushId: string, sha1: string, round = 0): Promise<AssemblyRecheck | undefined> {
      const owner = randomUUID()
      for (;;) {
        const upload = await chunks.findChunkUpload(db, pushId, sha1)
        if (upload?.state !== 'receiving' && upload?.state !== 'assembling') return undefined
        const push = await repo.findPushById(db, pushId)
        if (!push || !['uploading', 'finalizing'].includes(push.state) || !push.deploy_id) {
          await expireOrphan(upload)
          return undefined
        }
        if (upload.state === 'receiving') {
          await streamWhileReceiving(pushId, sha1, owner)
          // Still receiving: the last chunk queues the assembly. Complete: assemble below.
          const after = await chunks.findChunkUpload(db, pushId, sha1)
          if (after?.state !== 'assembling') return undefined
          continue
        }
        const leased = await chunks.takeAssemblyLease(
          db,
          pushId,
          sha1,
          owner,
          ['assembling'],
          tuning.leaseMs,
        )
        // A streaming attempt (here or in another process) is finishing: look again shortly.
        if (!leased) return { afterSeconds: 1, customerId: push.customer_id }
        return whileLeased(leased, owner, ['assembling'], () => assembleStored(push, leased, round))
      }
    },
  }

  /**
   * Marks an assembly failed. Netlify refusing the file fails the push (it cannot become ready
   * without it); a bad whole-file SHA-1 fails only the upload, which the client may redo.
   */
  async function failUpload(
    push: repo.PushRow,
    upload: chunks.ChunkUploadRow,
    reason: string,
    failPush: boolean,
  ) {
    await db.transaction(async (tx) => {
      if (
        !(await chunks.transitionChunkUpload(
          tx,
          upload.push_id,
          upload.sha1,
          ['assembling'],
          'failed',
          reason,
        ))
      )
        return
      await chunks.deleteChunks(tx, upload.push_id, upload.sha1)
      await store.remove(upload.push_id, upload.sha1)
      await ctx.audit(
        {
          action: 'push.assemble',
          status: 'error',
          customerId: push.customer_id,
          projectId: push.project_id,
          pushId: push.id,
          details: { sha1: upload.sha1, reason },
        },
        tx,
      )
    })
    if (failPush || push.state === 'finalizing') await ctx.failPush(push, reason)
  }
}

export type ChunkUploads = ReturnType<typeof createChunkUploads>
