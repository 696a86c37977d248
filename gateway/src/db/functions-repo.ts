import type { Queryable } from './db.ts'

/** A Netlify Function of a push, as push-init declared it. */
export interface PushFunction {
  name: string
  sha256: string
  size: number
  runtime: string
  invocationMode?: string | undefined
  timeout?: number | undefined
}

export interface FunctionRow {
  name: string
  sha256: string
  size: number
  runtime: string
  invocation_mode: string | null
  timeout: number | null
  required: boolean
  uploaded: boolean
}

/** Records every function of the manifest in one statement. */
export const insertPushFunctions = (db: Queryable, pushId: string, fns: readonly PushFunction[]) =>
  fns.length === 0
    ? Promise.resolve([])
    : db.query(
        `INSERT INTO push_functions (push_id, name, sha256, size, runtime, invocation_mode, timeout)
         SELECT $1, t.* FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                                   $7::int[]) AS t(name, sha256, size, runtime, mode, timeout)`,
        [
          pushId,
          fns.map((f) => f.name),
          fns.map((f) => f.sha256),
          fns.map((f) => f.size),
          fns.map((f) => f.runtime),
          fns.map((f) => f.invocationMode ?? null),
          fns.map((f) => f.timeout ?? null),
        ],
      )

/**
 * Flags the functions whose zip Netlify asked for (`required_functions`, SHA-256s) and answers
 * their bytes, each distinct zip once however many names share it: that is what is reserved
 * against the byte cap at init, and what the push can be billed for at most.
 */
export async function markRequiredFunctions(
  db: Queryable,
  pushId: string,
  shas: readonly string[],
): Promise<{ names: string[]; bytes: number }> {
  if (shas.length === 0) return { names: [], bytes: 0 }
  const rows = await db.query<{ name: string; sha256: string; size: number }>(
    `UPDATE push_functions SET required = true
      WHERE push_id = $1 AND sha256 = ANY($2::text[])
     RETURNING name, sha256, size`,
    [pushId, shas],
  )
  const sizes = new Map(rows.map((r) => [r.sha256, Number(r.size)]))
  return {
    names: rows.map((r) => r.name).sort(),
    bytes: [...sizes.values()].reduce((n, s) => n + s, 0),
  }
}

export const findFunction = async (db: Queryable, pushId: string, name: string) =>
  (
    await db.query<FunctionRow>(
      `SELECT name, sha256, size, runtime, invocation_mode, timeout, required,
              uploaded_at IS NOT NULL AS uploaded
         FROM push_functions WHERE push_id = $1 AND name = $2`,
      [pushId, name],
    )
  ).map((r) => ({ ...r, size: Number(r.size) }))[0]

/**
 * Netlify kept a function's zip under `name`: marks it, and counts `bytes` toward the push only
 * when no other name of the same zip was counted before, so one zip under two names is billed
 * once. The zip's rows are locked first (in name order), so two names uploading at once cannot
 * both count it. Answers the bytes counted (0 when the upload was already recorded).
 */
export async function markFunctionUploaded(
  tx: Queryable,
  pushId: string,
  name: string,
  bytes: number,
): Promise<number> {
  const rows = await tx.query<{ name: string; uploaded: boolean }>(
    `SELECT name, uploaded_at IS NOT NULL AS uploaded FROM push_functions
      WHERE push_id = $1
        AND sha256 = (SELECT sha256 FROM push_functions WHERE push_id = $1 AND name = $2)
      ORDER BY name FOR UPDATE`,
    [pushId, name],
  )
  const self = rows.find((r) => r.name === name)
  if (!self || self.uploaded) return 0
  await tx.query('UPDATE push_functions SET uploaded_at = now() WHERE push_id = $1 AND name = $2', [
    pushId,
    name,
  ])
  const counted = rows.some((r) => r.uploaded) ? 0 : bytes
  if (counted > 0) {
    await tx.query(
      'UPDATE pushes SET bytes_uploaded = bytes_uploaded + $2, updated_at = now() WHERE id = $1',
      [pushId, counted],
    )
  }
  return counted
}

/** Required functions not uploaded yet, by name: push-complete waits for them. */
export const missingFunctions = async (db: Queryable, pushId: string) =>
  (
    await db.query<{ name: string }>(
      `SELECT name FROM push_functions WHERE push_id = $1 AND required AND uploaded_at IS NULL
        ORDER BY name`,
      [pushId],
    )
  ).map((r) => r.name)

/**
 * At ready, Netlify has every required function: one whose upload we never saw succeed (Netlify
 * kept the zip, but its answer was lost and no retry came) is marked now, and its bytes, as
 * declared and reserved at init, are counted once per zip not counted before. Answers the bytes.
 */
export async function settleUnseenFunctions(tx: Queryable, pushId: string): Promise<number> {
  const rows = await tx.query<{ bytes: number }>(
    `WITH locked AS (
       SELECT name, sha256, size, uploaded_at FROM push_functions
        WHERE push_id = $1 AND required ORDER BY name FOR UPDATE),
     unseen AS (
       SELECT sha256, max(size) AS size FROM locked GROUP BY sha256
       HAVING bool_and(uploaded_at IS NULL)),
     -- A data-modifying CTE runs whether or not it is read.
     marked AS (
       UPDATE push_functions f SET uploaded_at = now()
         FROM locked l
        WHERE f.push_id = $1 AND f.name = l.name AND l.uploaded_at IS NULL),
     counted AS (SELECT coalesce(sum(size), 0)::bigint AS bytes FROM unseen)
     UPDATE pushes SET bytes_uploaded = bytes_uploaded + (SELECT bytes FROM counted)
      WHERE id = $1
     RETURNING (SELECT bytes FROM counted) AS bytes`,
    [pushId],
  )
  return Number(rows[0]?.bytes ?? 0)
}

/**
 * Function zips (SHA-256s) the project's latest ready deploy had, for the dry run: Netlify keeps
 * a site's functions, so these would not be required again.
 */
export const functionShasKnownToProject = async (
  db: Queryable,
  projectId: string,
  shas: readonly string[],
) =>
  new Set(
    (
      await db.query<{ sha256: string }>(
        `SELECT DISTINCT f.sha256 FROM push_functions f
          WHERE f.push_id = (SELECT id FROM pushes WHERE project_id = $1 AND state = 'ready'
                              ORDER BY finished_at DESC LIMIT 1)
            AND f.sha256 = ANY($2::text[])`,
        [projectId, shas],
      )
    ).map((r) => r.sha256),
  )
