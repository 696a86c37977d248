import type { Readable } from 'node:stream'
import type { Queryable } from '../db/db.ts'
import * as fnRepo from '../db/functions-repo.ts'
import { ERRORS } from '../errors.ts'
import { DigestGate } from '../lib/digest-gate.ts'
import type { AppError } from '../errors.ts'
import { NetlifyApiError, type CreateDeployInput } from '../netlify/client.ts'
import type { Caller, FunctionInput, PushContext, PushServiceDeps } from './push-context.ts'

/**
 * Refuses at init, before anything is created, a function zip larger than a push may hold
 * (`KAIXU_FUNCTION_MAX_BYTES`, Netlify's own 50 MB by default): zips are not chunked.
 */
export function checkFunctionSizes(functions: readonly FunctionInput[], maxBytes: number): void {
  const big = functions.find((f) => f.size > maxBytes)
  if (big) {
    throw ERRORS.payloadTooLarge(
      `Function ${big.name} is ${big.size} bytes; a function zip may be at most ${maxBytes} bytes.`,
      { name: big.name, size: big.size, functionMaxBytes: maxBytes },
    )
  }
}

/** The functions part of Netlify's deploy body, as netlify-cli sends it; nothing without any. */
export function deployFunctionsInput(
  functions: readonly FunctionInput[],
): Pick<CreateDeployInput, 'functions' | 'function_schedules' | 'functions_config'> {
  if (functions.length === 0) return {}
  const schedules = functions.flatMap((f) =>
    f.schedule ? [{ name: f.name, cron: f.schedule }] : [],
  )
  const configs = functions.filter((f) => f.config && Object.keys(f.config).length > 0)
  return {
    functions: Object.fromEntries(functions.map((f) => [f.name, f.sha256])),
    ...(schedules.length > 0 ? { function_schedules: schedules } : {}),
    ...(configs.length > 0
      ? { functions_config: Object.fromEntries(configs.map((f) => [f.name, f.config!])) }
      : {}),
  }
}

/**
 * The dry run's view of the functions: those whose zip the project's last ready deploy did not
 * have (by name), and their bytes, each distinct zip once.
 */
export async function planFunctions(
  db: Queryable,
  projectId: string,
  functions: readonly FunctionInput[],
): Promise<{ names: string[]; bytes: number }> {
  if (functions.length === 0) return { names: [], bytes: 0 }
  const known = await fnRepo.functionShasKnownToProject(
    db,
    projectId,
    functions.map((f) => f.sha256),
  )
  const upload = functions.filter((f) => !known.has(f.sha256))
  const sizes = new Map(upload.map((f) => [f.sha256, f.size]))
  return {
    names: upload.map((f) => f.name).sort(),
    bytes: [...sizes.values()].reduce((n, s) => n + s, 0),
  }
}

/**
 * `PUT /v1/push-upload-function`: streams one function zip to Netlify while hashing it with
 * SHA-256. Its bytes were reserved at init, so nothing is reserved here; a zip that does not
 * hash to what init announced fails before its last bytes leave.
 */
export function createFunctionUploads(
  deps: PushServiceDeps,
  ctx: PushContext,
  /** Netlify's failures in the gateway's vocabulary (the push service's own mapping). */
  toAppError: (error: unknown) => AppError,
) {
  const { db, netlify } = deps
  const { audit, callerAudit, netlifyToken, openForUpload, noteActivity, failPush } = ctx

  return async function uploadFunction(
    caller: Caller,
    pushId: string,
    name: string,
    sha256: string,
    body: Readable,
    contentLength?: number,
  ) {
    const push = await openForUpload(caller, pushId)
    const fn = await fnRepo.findFunction(db, pushId, name)
    if (!fn) throw ERRORS.functionNotInPush(name)
    if (sha256 !== fn.sha256) throw ERRORS.functionShaMismatch(fn.sha256, sha256)
    if (!fn.required || fn.uploaded) return { name, sha256, bytes: 0, skipped: true }
    if (contentLength !== undefined && contentLength !== fn.size) {
      throw ERRORS.invalidRequest(
        `This upload declares ${contentLength} bytes, but push-init declared ${fn.size} for ${name}.`,
      )
    }
    const token = await netlifyToken(caller.customerId, push)
    // The zip may not outgrow what init reserved for it: bytes past it never leave.
    const gate = new DigestGate('sha256', fn.sha256, fn.size).feedFrom(body)
    const failed = async (code: string) =>
      audit({
        ...callerAudit(caller),
        action: 'push.upload-function',
        status: 'error',
        projectId: push.project_id,
        pushId,
        bytes: gate.bytes,
        details: { name, sha256, code },
      })
    try {
      await netlify.uploadFunction(
        token,
        push.deploy_id!,
        {
          name,
          runtime: fn.runtime,
          invocationMode: fn.invocation_mode ?? undefined,
          timeout: fn.timeout ?? undefined,
          size: fn.size,
        },
        gate,
      )
    } catch (error) {
      const appError =
        gate.refusal === 'mismatch'
          ? ERRORS.functionShaMismatch(fn.sha256, gate.actual!)
          : gate.refusal === 'too-large'
            ? ERRORS.payloadTooLarge(
                `The zip is larger than the ${fn.size} bytes declared for ${name}.`,
              )
            : toAppError(error)
      // Netlify refusing the zip for good (a revoked token, a cancelled deploy) dooms the push.
      if (error instanceof NetlifyApiError && !error.transient && !gate.mismatched) {
        await failPush(push, appError.message)
      }
      await failed(appError.code)
      throw appError
    }
    if (gate.mismatched) {
      await failed('sha_mismatch')
      throw ERRORS.functionShaMismatch(fn.sha256, gate.actual!)
    }
    const counted = await db.transaction(async (tx) => {
      const bytes = await fnRepo.markFunctionUploaded(tx, pushId, name, gate.bytes)
      await noteActivity(tx, pushId)
      await audit(
        {
          ...callerAudit(caller),
          action: 'push.upload-function',
          status: 'ok',
          projectId: push.project_id,
          pushId,
          bytes,
          details: { name, sha256 },
        },
        tx,
      )
      return bytes
    })
    return { name, sha256, bytes: counted, skipped: false }
  }
}
